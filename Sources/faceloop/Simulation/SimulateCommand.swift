import Agent
import ArgumentParser
import Calibration
import FeedbackWire
import Foundation
import OperatorClient
import ThresholdAPI

/// `faceloop simulate fleet`: hundreds of simulated kiosks, each enrolled with its own key and
/// certificate, following the server's model assignment and uploading seeded outcomes (with
/// shadow scores when a candidate is in shadow) through the real agent code over mutual TLS;
/// then the thresholds the server computes from what arrived are checked against the ground truth.
struct SimulateCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate", abstract: "Load and correctness simulations.",
                                                    subcommands: [Fleet.self])

    struct Fleet: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Simulate a fleet of kiosks against a running server and check the thresholds it computes.",
            discussion: """
                Needs an admin token (enrolls the kiosks and registers the simulation's consent text). Cohorts are \
                site × camera model with known score distributions for two models: the backbone and a candidate \
                (any adapter release), which is better everywhere except site-2/cam-b; site-1/cam-a drifts halfway \
                through. Each kiosk runs `models sync` first and decides with the model and threshold it applied, \
                scoring the shadow model beside it. Reports events/s, p50/p99 batch latency, errors, each kiosk's \
                models, threshold and reason, per-cohort counts, and whether each cohort's conservative threshold \
                at --target-fmr (per model) equals the one computed from everything the fleet sent. With --resume \
                and the same --work-dir, a later run reuses the enrolled kiosks (phases of a rollout). Exits 1 on \
                any error or mismatch.
                """)
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Simulated kiosks.") var kiosks = 100
        @Option(name: .customLong("outcomes-per-kiosk")) var outcomesPerKiosk = 200
        @Option(name: .customLong("batch-size")) var batchSize = 50
        @Option(help: "Kiosks uploading at the same time.") var concurrency = 16
        @Option(help: "Sites (each with two camera models).") var sites = 4
        @Option(name: .customLong("subjects-per-kiosk")) var subjectsPerKiosk = 20
        @Option(name: .customLong("target-fmr")) var targetFMR = 0.01
        @Option(help: "Seed of the score model.") var seed: UInt64 = 1
        @Option(name: .customLong("work-dir"), help: "Where the kiosks keep their state (default: a temporary directory, removed after).")
        var workDirectory: String?
        @Flag(help: "Reuse the kiosks an earlier run enrolled under --work-dir: no enrollment, no consent (use the same --id-prefix, --sites and --subjects-per-kiosk).")
        var resume = false
        @Option(name: .customLong("id-prefix"), help: "Device ids are PREFIX-0001…; change it to run again against the same server.")
        var idPrefix = "sim"
        @Flag(name: .customLong("skip-threshold-check"), help: "Only load the server (for soak runs on a server that keeps data).")
        var skipThresholdCheck = false
        @Flag var json = false

        func validate() throws {
            guard (1...5000).contains(kiosks), (1...100_000).contains(outcomesPerKiosk), (1...1000).contains(batchSize),
                  (1...256).contains(concurrency), (1...50).contains(sites), (1...1000).contains(subjectsPerKiosk) else {
                throw ValidationError("kiosks 1…5000, outcomes 1…100000, batch size 1…1000, concurrency 1…256, sites 1…50, subjects 1…1000")
            }
            guard targetFMR > 0, targetFMR < 1 else { throw ValidationError("--target-fmr must be within (0, 1)") }
            guard !resume || workDirectory != nil else { throw ValidationError("--resume needs the --work-dir of the run that enrolled the kiosks") }
        }

        func run() async throws {
            let client = try connection.client()
            let root = workDirectory ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("faceloop-fleet-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            defer { if workDirectory == nil { try? FileManager.default.removeItem(atPath: root) } }
            let simulation = FleetSimulation(
                client: client, serverURL: client.serverURL, caFile: client.caFile, root: root, kiosks: kiosks,
                outcomesPerKiosk: outcomesPerKiosk, batchSize: batchSize, concurrency: concurrency, subjectsPerKiosk: subjectsPerKiosk,
                model: FleetScoreModel(sites: sites, seed: seed), idPrefix: idPrefix, resume: resume,
                progress: isatty(STDERR_FILENO) == 1 && !json)
            var report = try await simulation.run()
            if !skipThresholdCheck {
                report.thresholds = try await simulation.checkThresholds(targetFMR: targetFMR)
            }
            if json {
                try printJSON(report)
            } else {
                print(report.text)
            }
            if report.errors > 0 || (report.thresholds?.mismatches.isEmpty == false) { throw ExitCode.failure }
        }
    }
}
