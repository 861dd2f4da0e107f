import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// `faceloop-agent embed --normalisation POLICY.json` with the real face pipeline: a policy
    /// changes the descriptor of the same photo (and still finds the same face); a policy file
    /// that is not strict JSON or does not validate is a plain one-line error, with no output.
    @Suite("Embed with a normalisation policy")
    struct EmbedNormalisationTests {
        static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        static let image = root.appendingPathComponent("Tests/FaceVerificationTests/Fixtures/images/obama_1_quarter.jpg").path
        static var environment: [String: String] {
            ["FACELOOP_MODELS_DIR": ProcessInfo.processInfo.environment["FACELOOP_MODELS_DIR"] ?? root.appendingPathComponent("models").path]
        }

        static func dot(_ a: [Double], _ b: [Double]) -> Double {
            zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
        }

        private func writePolicy(_ json: String) throws -> (directory: String, path: String) {
            let directory = try temporaryDirectory("policy")
            let path = (directory as NSString).appendingPathComponent("policy.json")
            try Data(json.utf8).write(to: URL(fileURLWithPath: path))
            return (directory, path)
        }

        private func descriptor(_ stdout: String) throws -> [Double] {
            let report = try JSONValue.parse(stdout)
            let values = try #require(report[0]?["analysis"]?["primaryFace"]?["descriptor"]?.arrayValue)
            return values.compactMap(\.numberValue)
        }

        @Test("a policy changes the descriptor of the same face; the identity policy does not")
        func appliesPolicy() throws {
            let policy = try writePolicy(#"{"clahe": {"tiles_x": 4, "tiles_y": 4, "clip_limit": 3}, "unsharp_mask": {"radius": 3, "percent": 200, "threshold": 0}}"#)
            let identity = try writePolicy("{}")
            defer {
                try? FileManager.default.removeItem(atPath: policy.directory)
                try? FileManager.default.removeItem(atPath: identity.directory)
            }
            let plain = try runTool("faceloop-agent", ["embed", "--json", Self.image], environment: Self.environment)
            let normalised = try runTool("faceloop-agent", ["embed", "--json", "--normalisation", policy.path, Self.image], environment: Self.environment)
            let unchanged = try runTool("faceloop-agent", ["embed", "--json", "--normalisation", identity.path, Self.image], environment: Self.environment)
            #expect(plain.status == 0, "\(plain.stderr)")
            #expect(normalised.status == 0, "\(normalised.stderr)")
            #expect(unchanged.status == 0, "\(unchanged.stderr)")
            let before = try descriptor(plain.stdout), after = try descriptor(normalised.stdout)
            #expect(before.count == 128 && after.count == 128)
            #expect(before != after)
            let cosine = Self.dot(before, after) / (Self.dot(before, before) * Self.dot(after, after)).squareRoot()
            #expect(cosine > 0.9, "still the same face: cosine \(cosine)")
            #expect(try descriptor(unchanged.stdout) == before)
            let timings = try JSONValue.parse(normalised.stdout)[0]?["analysis"]?["timings"]
            #expect((timings?["normalizeMilliseconds"]?.numberValue ?? 0) > 0)
        }

        @Test("a policy file that fails validation is a plain error naming the file and the field", arguments: [
            (#"{"clahe": {"tiles_x": 0, "tiles_y": 8, "clip_limit": 2}}"#, "clahe.tiles_x must be an integer from 1 to 16, not 0"),
            (#"{"unsharp_mask": {"radius": 3, "percent": 200, "threshold": 0, "amount": 2}}"#, "unsharp_mask.amount is not a known key"),
            (#"{"white_balance": {"strength": 1}, "white_balance": {"strength": 0}}"#, "duplicate member name"),
            (#"{"exposure": {"method": "gamma"}}"#, "exposure.target_mean is missing"),
        ])
        func refusesBadPolicy(json: String, message: String) throws {
            let policy = try writePolicy(json)
            defer { try? FileManager.default.removeItem(atPath: policy.directory) }
            let result = try runTool("faceloop-agent", ["embed", "--normalisation", policy.path, Self.image], environment: Self.environment)
            #expect(result.status == 1)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.contains(policy.path))
            #expect(!result.stderr.contains("Usage:"))
        }
    }
}
