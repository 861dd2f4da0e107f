import Federation
import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// `faceloop privacy epsilon` and `faceloop federation aggregate`, run as a user would,
    /// against the dp-accounting and Flower fixtures the Federation module is tested with.
    @Suite("Federation tools on the command line")
    struct FederationToolTests {
        static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FederationTests/Fixtures")

        static func fixture(_ name: String) throws -> JSONValue {
            try JSONValue.parse([UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name))))
        }

        @Test("ε from the command line equals dp-accounting's", arguments: ["rdp", "pld"])
        func epsilon(accountant: String) throws {
            let cases = try #require(try Self.fixture("dp_accounting.json")["cases"]?.arrayValue)
            for entry in cases.prefix(3) {
                let z = try #require(entry["noiseMultiplier"]?.numberValue), q = try #require(entry["samplingRate"]?.numberValue)
                let t = try #require(entry["rounds"]?.numberValue), delta = try #require(entry["delta"]?.numberValue)
                let expected = try #require(entry[accountant == "rdp" ? "rdpEpsilon" : "pldEpsilon"]?.numberValue)
                let result = try runTool("faceloop", ["privacy", "epsilon", "--noise-multiplier", "\(z)", "--sampling-rate", "\(q)",
                                                      "--steps", "\(Int(t))", "--delta", "\(delta)", "--accountant", accountant, "--json"])
                #expect(result.status == 0, "\(result.stderr)")
                let epsilon = try #require(try JSONValue.parse(result.stdout)["epsilon"]?.numberValue)
                #expect(abs(epsilon - expected) <= expected * (accountant == "rdp" ? 1e-6 : 1e-4), "z=\(z) q=\(q) T=\(t): \(epsilon) vs \(expected)")
            }
        }

        @Test("aggregating a file gives Flower's results", arguments: ["fedavg", "median", "trimmed-mean", "krum", "multi-krum"])
        func aggregate(strategy: String) throws {
            let directory = try temporaryDirectory("aggregate")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let flowerCase = try #require(try Self.fixture("flower_aggregation.json")["cases"]?[0])
            let rows = try #require(flowerCase["updates"]?.arrayValue).map { $0.arrayValue?.compactMap { $0.numberValue.map(Float.init) } ?? [] }
            let counts = try #require(flowerCase["exampleCounts"]?.arrayValue).compactMap { $0.numberValue.map(Int.init) }
            let matrix = try UpdateMatrix(clientIDs: rows.indices.map { "client-\($0)" }, exampleCounts: counts,
                                          columnCount: rows[0].count, values: rows.flatMap { $0 })
            let input = (directory as NSString).appendingPathComponent("updates.bin")
            let output = (directory as NSString).appendingPathComponent("result.bin")
            try AggregationFile.encodeUpdates(matrix).write(to: URL(fileURLWithPath: input))
            var arguments = ["federation", "aggregate", input, "--strategy", strategy, "--out", output]
            let expected: JSONValue?
            switch strategy {
            case "fedavg": expected = flowerCase["fedavg"]
            case "median": expected = flowerCase["median"]
            case "trimmed-mean": expected = flowerCase["trimmedMean"]?["0.2"]; arguments += ["--trim-beta", "0.2"]
            case "krum":
                expected = flowerCase["krum"]?["result"]
                arguments += ["--byzantine", "\(Int(flowerCase["krum"]?["assumedByzantine"]?.numberValue ?? 0))"]
            default:
                expected = flowerCase["multiKrum"]?["result"]
                arguments += ["--byzantine", "\(Int(flowerCase["multiKrum"]?["assumedByzantine"]?.numberValue ?? 0))",
                              "--keep", "\(Int(flowerCase["multiKrum"]?["keep"]?.numberValue ?? 0))"]
            }
            let result = try runTool("faceloop", arguments)
            #expect(result.status == 0, "\(result.stderr)")
            let values = try AggregationFile.decodeResult(try Data(contentsOf: URL(fileURLWithPath: output)))
            let reference = try #require(expected?.arrayValue).compactMap { $0.numberValue.map(Float.init) }
            #expect(values.count == reference.count)
            #expect(zip(values, reference).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(strategy)")
        }

        @Test("a corrupt update file is refused with a plain message")
        func corruptFile() throws {
            let directory = try temporaryDirectory("aggregate")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let input = (directory as NSString).appendingPathComponent("bad.bin")
            try Data([1, 0, 0, 0, 200, 0]).write(to: URL(fileURLWithPath: input))
            let result = try runTool("faceloop", ["federation", "aggregate", input, "--strategy", "fedavg", "--out",
                                                  (directory as NSString).appendingPathComponent("out.bin")])
            #expect(result.status != 0)
            #expect(result.stderr.contains("cannot read"))
        }
    }
}
