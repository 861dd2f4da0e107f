import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// `faceloop-agent verify --record` with the real face pipeline: the outcome reaches the
    /// upload queue with its score and quality, and nothing of the images or descriptors.
    @Suite("Verification outcomes into the queue")
    struct VerificationOutcomeTests {
        static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        static let images = root.appendingPathComponent("Tests/FaceVerificationTests/Fixtures/images")
        static var environment: [String: String] {
            ["FACELOOP_MODELS_DIR": ProcessInfo.processInfo.environment["FACELOOP_MODELS_DIR"] ?? root.appendingPathComponent("models").path]
        }

        @Test("a verified comparison is queued as an outcome matching the schema, without biometric data")
        func recordsOutcome() throws {
            let directory = try temporaryDirectory("verify")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let pseudonym = String(repeating: "9", count: 64)
            let verified = try runTool("faceloop-agent", [
                "verify", "--data-dir", directory, "--json",
                "--reference", Self.images.appendingPathComponent("obama_1.jpg").path,
                "--probe", Self.images.appendingPathComponent("obama_2.jpg").path,
                "--record", "--label", "genuine", "--label-source", "fallback_id_check", "--site", "branch-7", "--camera-model", "cam-x",
                "--subject-pseudonym", pseudonym, "--consent-ref", "consent-3",
            ], environment: Self.environment)
            #expect(verified.status == 0, "\(verified.stderr)")
            let report = try JSONValue.parse(verified.stdout)
            let score = try #require(report["result"]?["score"]?.numberValue)
            #expect(score > 0.9, "two photos of the same person")

            let database = (directory as NSString).appendingPathComponent("queue.sqlite")
            let dump = try runTool("/usr/bin/python3", ["-c", "import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute('select outcome from pending_outcomes').fetchone()[0])", database])
            #expect(dump.status == 0, "\(dump.stderr)")
            let outcome = try JSONValue.parse(dump.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(outcome["score"]?.numberValue == score)
            #expect(outcome["decision"]?.stringValue == "accept")
            #expect(outcome["label"]?.stringValue == "genuine")
            #expect(outcome["subject"]?["pseudonym"]?.stringValue == pseudonym)
            #expect(OutcomeBatchValidator.shared.outcomeSchema.validate(outcome).isEmpty)
            let keys = Set(outcome.objectValue?.map(\.key) ?? [])
            #expect(keys.isSubset(of: ["event_id", "attempted_at", "model_version", "threshold_version", "cohort", "score", "decision",
                                       "label", "label_source", "quality", "liveness_score", "subject"]))
            #expect(!dump.stdout.contains("descriptor") && dump.stdout.count < 600)
        }

        @Test("Euclidean-distance results are not recorded: the protocol's score is a similarity")
        func refusesDistance() throws {
            let directory = try temporaryDirectory("verify")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let refused = try runTool("faceloop-agent", [
                "verify", "--data-dir", directory, "--metric", "euclidean-distance",
                "--reference", Self.images.appendingPathComponent("obama_1.jpg").path,
                "--probe", Self.images.appendingPathComponent("biden_1.jpg").path,
                "--record", "--site", "s", "--camera-model", "c", "--subject-pseudonym", String(repeating: "9", count: 64), "--consent-ref", "c",
            ], environment: Self.environment)
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("cosine-similarity"))
            #expect(!FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("queue.sqlite")))
        }
    }
}
