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
/// then the thresholds the server computes from what arrived are checked against the ground
/// truth. `faceloop simulate scores` generates a fresh fleet's scores without a server.
struct SimulateCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate", abstract: "Load and correctness simulations.",
                                                    subcommands: [Fleet.self, Scores.self])

    /// What the scores of a fleet depend on: shared by `fleet` and `scores`, so that the same
    /// options give the same scores.
    struct FleetShape: ParsableArguments {
        @Option(help: "Simulated kiosks.") var kiosks = 100
        @Option(name: .customLong("outcomes-per-kiosk")) var outcomesPerKiosk = 200
        @Option(help: "Sites (each with two camera models).") var sites = 4
        @Option(name: .customLong("subjects-per-kiosk")) var subjectsPerKiosk = 20
        @Option(help: "Seed of the score model.") var seed: UInt64 = 1
        @Option(name: .customLong("drift-onset"),
                help: "Share of each kiosk's attempts in this run before site-1/cam-a's impostors drift (0: the whole run after the drift, 1: none of it).")
        var driftOnset = 0.5
        @Option(name: .customLong("id-prefix"), help: "Device ids are PREFIX-0001… (the subjects' pseudonyms derive from them); change it to run again against the same server.")
        var idPrefix = "sim"

        func validate() throws {
            guard (1...5000).contains(kiosks), (1...100_000).contains(outcomesPerKiosk), (1...50).contains(sites),
                  (1...1000).contains(subjectsPerKiosk) else {
                throw ValidationError("kiosks 1…5000, outcomes 1…100000, sites 1…50, subjects 1…1000")
            }
            guard (0...1).contains(driftOnset) else { throw ValidationError("--drift-onset must be within [0, 1]") }
        }

        var model: FleetScoreModel { FleetScoreModel(sites: sites, seed: seed, driftOnset: driftOnset) }
    }

    struct Fleet: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Simulate a fleet of kiosks against a running server and check the thresholds it computes.",
            discussion: """
                Needs an admin token (registers the simulation's consent text and, under the default jurisdiction, \
                the sites nobody registered, then enrolls each kiosk for its cohort's site). Cohorts are \
                site × camera model with known score distributions for two models: the backbone and a candidate \
                (any adapter release), which is better everywhere except site-2/cam-b; site-1/cam-a's impostors \
                score 0.15 higher after the drift onset (--drift-onset of each kiosk's attempts). Each kiosk runs \
                `models sync` first and decides with the model and threshold it applied, scoring the shadow model \
                beside it. Reports events/s, p50/p99 batch latency, errors, each kiosk's models, threshold and \
                reason, per-cohort counts; then has the server compute a release at --target-fmr and reports, per \
                cohort and model, whether its threshold equals the server's rule recomputed on the scores sent, and \
                how far it lies from the true threshold of the known impostor distribution (with its true FMR). \
                With --resume and the same --work-dir, a later run reuses the enrolled kiosks (phases of a rollout) \
                and dates its attempts after the earlier runs'. Exits 1 on any error or mismatch.
                """)
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var shape: FleetShape
        @Option(name: .customLong("batch-size")) var batchSize = 50
        @Option(help: "Kiosks uploading at the same time.") var concurrency = 16
        @Option(name: .customLong("target-fmr")) var targetFMR = 0.01
        @Option(name: .customLong("work-dir"), help: "Where the kiosks keep their state (default: a temporary directory, removed after).")
        var workDirectory: String?
        @Flag(help: "Reuse the kiosks an earlier run enrolled under --work-dir: no enrollment, no consent (use the same --id-prefix, --sites and --subjects-per-kiosk).")
        var resume = false
        @Option(name: .customLong("export-scores"), help: "Write every score the fleet under --work-dir has sent (CSV: cohort, model, label, score, subject, after_drift).")
        var exportScores: String?
        @Flag(name: .customLong("skip-threshold-check"), help: "Only load the server (for soak runs on a server that keeps data).")
        var skipThresholdCheck = false
        @Flag var json = false

        func validate() throws {
            guard (1...1000).contains(batchSize), (1...256).contains(concurrency) else {
                throw ValidationError("batch size 1…1000, concurrency 1…256")
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
                client: client, serverURL: client.serverURL, caFile: client.caFile, root: root, kiosks: shape.kiosks,
                outcomesPerKiosk: shape.outcomesPerKiosk, batchSize: batchSize, concurrency: concurrency,
                subjectsPerKiosk: shape.subjectsPerKiosk, model: shape.model, idPrefix: shape.idPrefix, resume: resume,
                progress: isatty(STDERR_FILENO) == 1 && !json)
            var report = try await simulation.run()
            if let exportScores {
                try FleetScoreExport.write(try simulation.loadGroundTruth().scores, to: exportScores)
            }
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

    struct Scores: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a fresh fleet's scores without a server, with the true thresholds of their known distributions.",
            discussion: """
                The scores `simulate fleet` with the same --kiosks, --outcomes-per-kiosk, --sites, \
                --subjects-per-kiosk, --seed, --drift-onset and --id-prefix sends to a server that has no threshold \
                release and no model in shadow (every kiosk decides with the backbone), written to --output as \
                `simulate fleet --export-scores` writes them. Reports per cohort the counts and, per --target-fmr, \
                the true threshold: where the impostor distribution the scores were drawn from (a mixture when some \
                came after the drift onset) has exactly that FMR.
                """)
        @OptionGroup var shape: FleetShape
        @Option(name: .customLong("target-fmr"), help: "Comma-separated target false match rates.") var targetFMR = "1e-1,5e-2,1e-2"
        @Option(help: "The CSV file to write.") var output: String
        @Flag var json = false

        /// One cohort and model of the generated scores, with its true thresholds.
        struct Cohort: Codable {
            var cohort: String
            var modelVersion: String
            var genuine: Int
            var impostors: Int
            var impostorsAfterDrift: Int
            var trueThresholds: [TrueThreshold]

            enum CodingKeys: String, CodingKey {
                case cohort, modelVersion = "model_version", genuine, impostors, impostorsAfterDrift = "impostors_after_drift"
                case trueThresholds = "true_thresholds"
            }
        }

        struct TrueThreshold: Codable {
            var targetFMR: Double
            var threshold: Double

            enum CodingKeys: String, CodingKey { case targetFMR = "target_fmr", threshold }
        }

        struct Report: Codable {
            var scores: Int
            var cohorts: [Cohort]
        }

        func validate() throws { _ = try targets() }

        private func targets() throws -> [Double] {
            try targetFMR.split(separator: ",", omittingEmptySubsequences: false).map { field in
                let text = field.trimmingCharacters(in: .whitespaces)
                guard let target = Double(text), target > 0, target < 1 else {
                    throw ValidationError("--target-fmr: '\(text)' is not a rate between 0 and 1")
                }
                return target
            }
        }

        func run() throws {
            let model = shape.model
            let scores = FleetSimulation.freshFleetScores(model: model, kiosks: shape.kiosks, outcomesPerKiosk: shape.outcomesPerKiosk,
                                                          subjectsPerKiosk: shape.subjectsPerKiosk, idPrefix: shape.idPrefix)
            try FleetScoreExport.write(scores, to: output)
            let targets = try targets()
            let groups = Dictionary(grouping: scores) { "\($0.modelVersion) \($0.cohort.name)" }
            let cohorts = try groups.keys.sorted().compactMap { key -> Cohort? in
                guard let group = groups[key], let first = group.first else { return nil }
                let impostors = group.filter { !$0.genuine }
                let afterDrift = impostors.count { $0.afterDrift }
                var thresholds: [TrueThreshold] = []
                if !impostors.isEmpty {
                    let mixture = try model.impostorMixture(first.cohort, model: try FleetScoreModel.Model(modelVersion: first.modelVersion),
                                                            beforeDrift: impostors.count - afterDrift, afterDrift: afterDrift)
                    thresholds = try targets.map { TrueThreshold(targetFMR: $0, threshold: try mixture.threshold(atFalseMatchRate: $0)) }
                }
                return Cohort(cohort: first.cohort.name, modelVersion: first.modelVersion, genuine: group.count - impostors.count,
                              impostors: impostors.count, impostorsAfterDrift: afterDrift, trueThresholds: thresholds)
            }
            let report = Report(scores: scores.count, cohorts: cohorts)
            if json {
                try printJSON(report)
                return
            }
            print("\(scores.count) scores written to \(output)")
            for cohort in cohorts {
                let thresholds = cohort.trueThresholds.map { "FMR \($0.targetFMR) at \($0.threshold)" }.joined(separator: ", ")
                print("  \(cohort.cohort) \(cohort.modelVersion): \(cohort.genuine) genuine, \(cohort.impostors) impostors "
                      + "(\(cohort.impostorsAfterDrift) after the drift onset); true thresholds \(thresholds)")
            }
        }
    }
}
