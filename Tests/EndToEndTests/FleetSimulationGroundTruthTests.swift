import Calibration
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// The fleet simulator's scores and true thresholds against references outside the
    /// project, with no server: `faceloop simulate scores` writes what a fresh fleet sends, and
    /// scripts/fixtures/fleet_simulation.py recorded, for the same arguments, bob.measure's
    /// `far_threshold` of those scores and the true thresholds scipy computes from the score
    /// model's distributions.
    @Suite("Fleet simulation ground truth")
    struct FleetSimulationGroundTruthTests {
        static let fixtureFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/fixtures/fleet_simulation_bob.json")

        struct Generated {
            let fixture: JSONValue
            /// Impostor scores by "cohort model", as the CSV holds them.
            let impostors: [String: [Double]]
            let genuineCounts: [String: Int]
            let afterDrift: [String: Int]
            let rows: Int
            /// The simulator's own report, by "cohort model".
            let reported: [String: JSONValue]
        }

        static func key(_ cohort: String?, _ model: String?) -> String { "\(cohort ?? "?") \(model ?? "?")" }

        /// Runs `faceloop simulate scores` with the fixture's arguments and reads the file it writes.
        static func generate() throws -> Generated {
            let fixture = try JSONValue.parse([UInt8](try Data(contentsOf: fixtureFile)))
            let arguments = try #require(fixture["arguments"]?.arrayValue).compactMap(\.stringValue)
            let targets = try #require(fixture["targets"]?.arrayValue).compactMap(\.numberValue)
            let directory = try temporaryDirectory("fleet-scores")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let output = (directory as NSString).appendingPathComponent("scores.csv")
            let run = try runTool("faceloop", ["simulate", "scores"] + arguments
                                  + ["--output", output, "--target-fmr", targets.map { "\($0)" }.joined(separator: ","), "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            let header = try #require(lines.first)
            #expect(header == ["cohort", "model", "label", "score", "subject", "after_drift"])
            var impostors: [String: [Double]] = [:], genuine: [String: Int] = [:], afterDrift: [String: Int] = [:]
            for row in lines.dropFirst() {
                try #require(row.count == header.count, "\(row)")
                let key = key(row[0], row[1])
                let score = try #require(Double(row[3]), "\(row)")
                switch row[2] {
                case "impostor":
                    impostors[key, default: []].append(score)
                    if row[5] == "true" { afterDrift[key, default: 0] += 1 }
                case "genuine":
                    genuine[key, default: 0] += 1
                default:
                    Issue.record("label \(row[2])")
                }
            }
            var reported: [String: JSONValue] = [:]
            for cohort in try JSONValue.parse(run.stdout)["cohorts"]?.arrayValue ?? [] {
                reported[key(cohort["cohort"]?.stringValue, cohort["model_version"]?.stringValue)] = cohort
            }
            return Generated(fixture: fixture, impostors: impostors, genuineCounts: genuine, afterDrift: afterDrift,
                             rows: lines.count - 1, reported: reported)
        }

        @Test("the exported scores of a seeded fresh fleet give bob.measure's far_threshold per cohort, bit for bit")
        func bobThresholds() throws {
            let generated = try Self.generate()
            let cohorts = try #require(generated.fixture["cohorts"]?.arrayValue)
            #expect(cohorts.count == 8)
            #expect(generated.rows == generated.fixture["scores"]?.numberValue.map(Int.init))
            #expect(Set(generated.impostors.keys) == Set(cohorts.map { Self.key($0["cohort"]?.stringValue, $0["model"]?.stringValue) }))
            for cohort in cohorts {
                let key = Self.key(cohort["cohort"]?.stringValue, cohort["model"]?.stringValue)
                let impostors = generated.impostors[key] ?? []
                #expect(impostors.count == cohort["impostors"]?.numberValue.map(Int.init), "\(key)")
                #expect(generated.genuineCounts[key] == cohort["genuine"]?.numberValue.map(Int.init), "\(key)")
                #expect((generated.afterDrift[key] ?? 0) == cohort["impostors_after_drift"]?.numberValue.map(Int.init), "\(key)")
                for expected in cohort["far_threshold"]?.arrayValue ?? [] {
                    let target = try #require(expected["target"]?.numberValue)
                    let bits = try #require(expected["bits"]?.stringValue.flatMap { UInt64($0.dropFirst(2), radix: 16) })
                    let threshold = try ErrorRates.farThreshold(impostors: impostors, target: target)
                    #expect(threshold.bitPattern == bits, "\(key) at FMR \(target): \(threshold), bob \(Double(bitPattern: bits))")
                }
            }
        }

        @Test("the simulator's true thresholds (its own erfc and bisection, a mixture in the drifting cohort) equal scipy's")
        func trueThresholds() throws {
            let generated = try Self.generate()
            let cohorts = try #require(generated.fixture["cohorts"]?.arrayValue)
            #expect(generated.reported.count == cohorts.count)
            // Both solve to within a few ulps of thresholds near 0.2; 1e-12 leaves room for
            // erfc's and scipy's last bits and is still far below any difference that matters.
            for cohort in cohorts {
                let key = Self.key(cohort["cohort"]?.stringValue, cohort["model"]?.stringValue)
                let reported = try #require(generated.reported[key], "\(key)")
                #expect(reported["impostors_after_drift"] == cohort["impostors_after_drift"], "\(key)")
                let simulator = Dictionary(uniqueKeysWithValues: (reported["true_thresholds"]?.arrayValue ?? []).compactMap { entry in
                    entry["target_fmr"]?.numberValue.flatMap { target in entry["threshold"]?.numberValue.map { (target, $0) } }
                })
                for expected in cohort["true_threshold"]?.arrayValue ?? [] {
                    let target = try #require(expected["target"]?.numberValue), scipy = try #require(expected["value"]?.numberValue)
                    let threshold = try #require(simulator[target], "\(key) at FMR \(target)")
                    #expect(abs(threshold - scipy) <= 1e-12, "\(key) at FMR \(target): simulator \(threshold), scipy \(scipy)")
                }
            }
            // The drifting cohort's impostors come from both parts, so its true thresholds are a mixture's.
            let drifting = try #require(cohorts.first { $0["cohort"]?.stringValue == "site-1/cam-a" })
            #expect((drifting["impostors_after_drift"]?.numberValue ?? 0) > 0)
            #expect((drifting["impostors_after_drift"]?.numberValue ?? 0) < (drifting["impostors"]?.numberValue ?? 0))
        }
    }
}
