import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// `faceloop simulate fleet` against a real server: every kiosk enrolls with its own
    /// certificate and uploads through the agent. The thresholds the server computes are held
    /// to the truth of the simulator's known score distributions, and the server's own drift
    /// check has to find the one cohort whose impostors drift.
    @Suite("Fleet simulation")
    struct FleetSimulationTests {
        static let kiosks = 16
        /// About 1,000 impostor and 1,000 genuine attempts per cohort (8 cohorts) and phase: at
        /// that size a stable cohort's PSI over deciles stays far below the server's 0.1 flag
        /// (PSI ≈ χ²₉ · (1/n + 1/m): above 0.1 with probability about 1e-7, against 0.2 at 250).
        static let outcomesPerKiosk = 1000
        static let targetFMR = 0.05
        static let backbone = "dlib_face_recognition_resnet_model_v1"
        /// The score model's drifting cohort (docs/benchmarks.md): its impostors score 0.15
        /// higher after the drift onset. Nothing the simulator reports says which cohort it is.
        static let drifting = "site-1/cam-a"
        static let cohorts: Set<String> = Set((1...4).flatMap { site in ["cam-a", "cam-b"].map { "site-\(site)/\($0)" } })

        func faceloop(_ server: ServerProcess, _ arguments: [String], token: String? = nil) throws -> CommandResult {
            try runTool("faceloop", arguments + ["--server", server.baseURL, "--ca-file", server.caFile]
                        + (token.map { ["--token", $0] } ?? ["--token-file", server.adminTokenFile]))
        }

        func json(_ server: ServerProcess, _ arguments: [String], token: String? = nil) throws -> JSONValue {
            let run = try faceloop(server, arguments + ["--json"], token: token)
            #expect(run.status == 0, "faceloop \(arguments.joined(separator: " ")): \(run.stderr)")
            return try JSONValue.parse(run.stdout)
        }

        @Test("a fleet uploads everything; the released thresholds are conservative against the true ones; the server's drift check finds the drifting cohort and no other")
        func fleet() async throws {
            let root = try temporaryDirectory("fleet")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            let server = ServerProcess(dataDirectory: path("server"))
            try server.start()
            defer { server.stop() }
            let shape = ["--kiosks", "\(Self.kiosks)", "--outcomes-per-kiosk", "\(Self.outcomesPerKiosk)"]
            func fleet(seed: Int) -> [String] {
                ["simulate", "fleet", "--batch-size", "100", "--concurrency", "8", "--target-fmr", "\(Self.targetFMR)", "--work-dir", path("fleet"),
                 "--seed", "\(seed)"] + shape
            }

            // Phase 1: site-1/cam-a drifts halfway through each kiosk's attempts; the server computes release 1.
            let report = try json(server, fleet(seed: 1) + ["--export-scores", path("sent.csv")])
            #expect(report["events"]?.numberValue == Double(Self.kiosks * Self.outcomesPerKiosk))
            #expect(report["batches"]?.numberValue == Double(Self.kiosks * Self.outcomesPerKiosk / 100))
            #expect(report["errors"]?.numberValue == 0, "\(report["error_samples"]?.serializedString ?? "")")
            #expect((report["latency_p99_ms"]?.numberValue ?? 0) > 0)
            let stats = try json(server, ["outcomes", "stats"])
            #expect(stats["total_events"]?.numberValue == Double(Self.kiosks * Self.outcomesPerKiosk))

            // What was sent is what the offline generator writes, whose scores the bob.measure
            // fixture checks (FleetSimulationGroundTruthTests).
            let offline = try runTool("faceloop", ["simulate", "scores", "--output", path("offline.csv"), "--seed", "1"] + shape)
            #expect(offline.status == 0, "\(offline.stderr)")
            #expect(FileManager.default.contents(atPath: path("sent.csv")) == FileManager.default.contents(atPath: path("offline.csv")))

            let thresholds = try #require(report["thresholds"])
            // The data path: the server's thresholds equal its rule recomputed on exactly the scores sent.
            #expect(thresholds["compared"]?.numberValue == Double(Self.cohorts.count))
            #expect(thresholds["matching"] == thresholds["compared"], "\(thresholds["mismatches"]?.serializedString ?? "")")
            try Self.checkAgainstTruth(thresholds)

            // Release 1 published (approved by a second engineer): the drift check's reference window.
            let grant = try faceloop(server, ["tokens", "create", "--role", "engineer", "--label", "second-engineer"])
            #expect(grant.status == 0, "\(grant.stderr)")
            let engineer = grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let version = try #require(thresholds["release_version"]?.numberValue.map { String(Int($0)) })
            #expect(try json(server, ["thresholds", "approve", version], token: engineer)["state"]?.stringValue == "approved")
            #expect(try json(server, ["thresholds", "publish", version])["state"]?.stringValue == "published")

            // Phase 2: the same kiosks, new attempts dated after release 1's window, all after the drift onset.
            let later = try json(server, fleet(seed: 2) + ["--resume", "--drift-onset", "0", "--skip-threshold-check"])
            #expect(later["errors"]?.numberValue == 0, "\(later["error_samples"]?.serializedString ?? "")")
            #expect(later["events"]?.numberValue == Double(Self.kiosks * Self.outcomesPerKiosk))
            try Self.checkDrift(try json(server, ["thresholds", "drift"]))
        }

        /// Every cohort's released threshold against the true one of the known distribution.
        /// Conservative: its true FMR is at most the target. Not absurdly so: at least 1/n for n
        /// impostors, the resolution of the sample itself — a threshold whose true FMR is below
        /// 1/n lies about where the sample's highest impostor score does, which a 5 % target on
        /// ~1,000 impostors (≈ 50 of them allowed above it) never calls for. The server's rule
        /// (the larger of Clopper–Pearson's and the subjects bootstrap's over 40 subjects) left
        /// 13–17 impostors above its thresholds here, true FMR 0.4–1.7 %; the true FMR of the
        /// 13th-highest of n scores falls below 1/n with probability P(Poisson(1) ≥ 13) ≈ 6e-11.
        static func checkAgainstTruth(_ thresholds: JSONValue) throws {
            let truths = try #require(thresholds["cohorts"]?.arrayValue)
            #expect(Set(truths.compactMap { $0["cohort"]?.stringValue }) == cohorts)
            for truth in truths {
                let name = "\(truth["cohort"]?.stringValue ?? "?") \(truth["model_version"]?.stringValue ?? "?")"
                #expect(truth["model_version"]?.stringValue == backbone)
                let impostors = try #require(truth["impostors"]?.numberValue)
                let trueFMR = try #require(truth["released_true_fmr"]?.numberValue)
                let released = try #require(truth["released_threshold"]?.numberValue)
                let trueThreshold = try #require(truth["true_threshold"]?.numberValue)
                #expect(trueFMR <= targetFMR, "\(name): the released threshold's true FMR \(trueFMR) is above the target \(targetFMR)")
                #expect(trueFMR >= 1 / impostors, "\(name): the released threshold's true FMR \(trueFMR) is below 1/\(Int(impostors))")
                #expect(released >= trueThreshold, "\(name): released \(released), true \(trueThreshold)")
                #expect(truth["threshold_difference"]?.numberValue == released - trueThreshold)
                // The drifting cohort's impostors are a mixture of both parts; every other cohort's come from one normal.
                let afterDrift = try #require(truth["impostors_after_drift"]?.numberValue)
                #expect(afterDrift > 0 && afterDrift < impostors, "\(name): both parts of each kiosk's attempts are there")
            }
        }

        /// `thresholds drift` after the second phase: the drifting cohort is flagged by its
        /// impostors' PSI (major) and KS test, and no other cohort has any flag. The server tests
        /// all cohorts as one family (each test at 0.05 / (3 × cohorts)), so a stable cohort's
        /// flag is a false alarm this test does not excuse.
        static func checkDrift(_ drift: JSONValue) throws {
            let entries = try #require(drift["cohorts"]?.arrayValue)
            var reports: [String: JSONValue] = [:]
            for entry in entries {
                let cohort = entry["cohort"]
                #expect(cohort?["modelVersion"]?.stringValue == backbone)
                let name = "\(cohort?["cohort"]?.stringValue ?? "?")/\(cohort?["cameraModel"]?.stringValue ?? "?")"
                reports[name] = entry["report"]
            }
            #expect(Set(reports.keys) == cohorts, "every cohort the fleet produced has a drift report")
            var drifted: Set<String> = []
            for (name, report) in reports {
                let flags = Set((report["flags"]?.arrayValue ?? []).compactMap(\.stringValue))
                let significance = try #require(report["limits"]?["significance"]?.numberValue)
                #expect(significance == 0.05 / Double(3 * reports.count), "\(name): one family of tests over every cohort")
                for label in ["impostor", "genuine"] {
                    let pValue = try #require(report[label]?["kolmogorovSmirnov"]?["pValue"]?.numberValue, "\(name) \(label)")
                    #expect(flags.contains("\(label)DistributionShift") == (pValue < significance), "\(name) \(label): p \(pValue), flags \(flags)")
                }
                if !flags.isEmpty { drifted.insert(name) }
            }
            #expect(drifted == [drifting], "\(drift.serializedString.prefix(3000))")
            let report = try #require(reports[drifting])
            let flags = Set((report["flags"]?.arrayValue ?? []).compactMap(\.stringValue))
            #expect(flags.isSuperset(of: ["impostorPSIMajor", "impostorDistributionShift"]), "\(flags)")
            #expect((report["impostor"]?["kolmogorovSmirnov"]?["pValue"]?.numberValue ?? 1) < 1e-10)
        }
    }
}
