import ArgumentParser
import FederationAPI
import FeedbackWire
import Foundation
import OperatorClient
import StrictJSON

struct Rounds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rounds",
        abstract: "Open, follow and close federated rounds (DP-FedAvg; out-of-bound updates are left out).",
        subcommands: [Open.self, Status.self, Close.self])

    static func printView(_ view: RoundView, json: Bool) throws {
        if json { try printJSON(view); return }
        let round = view.round
        print("round \(round.roundID): \(view.state), base release \(round.baseVersion), \(view.updatesReceived) update(s) of "
              + "\(round.selectedDevices.count) selected kiosk(s), quorum \(round.minimumClients), deadline \(RFC3339.format(round.deadline))")
        print("C = \(round.clippingNorm), z = \(round.noiseMultiplier), q = \(round.samplingRate), denominator q·K = \(round.expectedClients)")
        guard let outcome = view.outcome else { return }
        if !outcome.accepted.isEmpty { print("accepted: \(outcome.accepted.joined(separator: ", "))") }
        for rejected in outcome.rejected { print("left out \(rejected.deviceID): \(rejected.reason)") }
        if let baseline = outcome.baseline, let candidate = outcome.candidate {
            print("held-out: base \(baseline.summary) → candidate \(candidate.summary)")
        }
        if let version = outcome.releaseVersion { print("published model release \(version)") }
        if let reason = outcome.reason { print("not published: \(reason)") }
    }

    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open a round on the current model; refused when the ε budget would be exceeded.")
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("clipping-norm"), help: "C, the L2 bound of every update.") var clippingNorm: Double
        @Option(name: .customLong("noise-multiplier"), help: "z: noise standard deviation z·C on the sum.") var noiseMultiplier: Double
        @Option(name: .customLong("sampling-rate"), help: "q: each active kiosk is selected with this probability.") var samplingRate: Double
        @Option(name: .customLong("minimum-clients"), help: "Quorum: aggregate once this many updates are in.") var minimumClients: Int
        @Option(name: .customLong("deadline"), help: "Seconds until the round closes.") var deadlineSeconds: Int
        @Option(name: .customLong("learning-rate"), help: "Kiosks' SGD learning rate.") var learningRate = 0.1
        @Option(help: "Kiosks' local epochs.") var epochs = 1
        @Option(name: .customLong("batch-size"), help: "Kiosks' mini-batch size (genuine pairs).") var batchSize = 1000
        @Option(name: .customLong("loss-scale"), help: "Scale of the tail loss on the score gap.") var lossScale = 32.0
        @Option(name: .customLong("tail-fraction"), help: "Share of the impostor scores against the public set that forms the tail.")
        var tailFraction = 0.005
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let request = OpenRoundRequest(
                clippingNorm: clippingNorm, noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, minimumClients: minimumClients,
                deadlineSeconds: deadlineSeconds,
                localTraining: LocalTrainingSettings(learningRate: learningRate, epochs: epochs, batchSize: batchSize,
                                                     lossScale: lossScale, tailFraction: tailFraction))
            try Rounds.printView(try await perform { try await client.openRound(request) }, json: json)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One round, or every round with the ε spent so far.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The round id (all rounds when absent).") var round: Int?
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            if let round {
                try Rounds.printView(try await perform { try await client.round(round) }, json: json)
                return
            }
            let list = try await perform { try await client.rounds() }
            if json { try printJSON(list); return }
            print(String(format: "ε spent %.4f of %.4f at δ = %g (%@)", list.epsilonSpent, list.epsilonBudget, list.delta,
                         list.accountant.uppercased()))
            for view in list.rounds {
                print("\(String(view.round.roundID).leftPadded(5))  \(view.state.padding(toLength: 10, withPad: " ", startingAt: 0))"
                      + "\(view.updatesReceived) update(s), base \(view.round.baseVersion)"
                      + (view.outcome?.releaseVersion.map { " → release \($0)" } ?? ""))
            }
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a round now: aggregate if its quorum is in, otherwise it fails.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var round: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            try Rounds.printView(try await perform { try await client.closeRound(round) }, json: json)
        }
    }
}

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Signed model releases (the federated adapter), the privacy each carries, and their rollout: shadow → canary → fleet, or rollback.",
        subcommands: [List.self, Show.self, Pull.self, Rollouts.self, Compare.self, Shadow.self, Canary.self, Promote.self, Rollback.self])

    static func printSummary(_ release: ModelReleaseSummary) {
        let privacy = release.privacy
        print("release \(release.version) (\(release.modelVersion)) from round \(release.roundID) on base \(release.baseVersion)")
        print(String(format: "  ε at δ = %g: this release %.4f (RDP) / %.4f (PLD) over %d round(s); cumulative %.4f / %.4f over %d",
                     privacy.delta, privacy.epsilonRDP, privacy.epsilonPLD, privacy.rounds, privacy.cumulativeEpsilonRDP,
                     privacy.cumulativeEpsilonPLD, privacy.cumulativeRounds))
        print("  C = \(privacy.clippingNorm), z = \(privacy.noiseMultiplier), q = \(privacy.samplingRate); unit: \(privacy.privacyUnit)")
        if let baseline = release.outcome.baseline, let candidate = release.outcome.candidate {
            print("  held-out: base \(baseline.summary) → candidate \(candidate.summary)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every model release.")
        @OptionGroup var connection: ConnectionOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let list = try await perform { try await client.modelReleases() }
            if json { try printJSON(list); return }
            if list.releases.isEmpty { print("no model release yet") }
            list.releases.forEach(Models.printSummary)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One model release: provenance, evaluation and privacy statement.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var version: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let release = try await perform { try await client.modelRelease(version) }
            if json { try printJSON(release); return }
            Models.printSummary(release)
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download the current model release and verify its signature.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var download: VerifiedDownloadOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let (envelope, release) = try await download.download({ try await client.currentModelEnvelope() }, endorsements: { try await client.releaseKeyEndorsements() }) {
                try ModelReleaseCoding.verify($0, publicKey: $1)
            }
            let summary = ModelReleaseSummary(release, publishedAt: envelope.signedAt)
            if json { try printJSON(summary); return }
            print("verified (key \(envelope.keyID))")
            Models.printSummary(summary)
        }
    }
}
