import Agent
import ArgumentParser
import FaceVerification
import Federation
import FederationAPI
import FeedbackWire
import Foundation

struct FederationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "federation",
        abstract: "Take part in federated rounds: train the adapter on local labelled pairs, upload only the clipped update, pull the signed model for training.",
        discussion: "Which model decides in `verify` is set by `faceloop-agent models sync`, not by these commands.",
        subcommands: [Status.self, Train.self, Pull.self])

    /// Wire JSON (snake_case keys, RFC 3339 dates), as the server sends it.
    static func printWire(_ value: some Encodable) throws {
        print(String(decoding: try WireJSON.encoder().encode(value), as: UTF8.self))
    }

    static func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The open round as the server tells this kiosk, and the newest release pulled for training.")
        @OptionGroup var directory: DataDirectoryOption
        @Flag var json = false

        struct Report: Encodable {
            var round: CurrentRound?
            var roundProblem: String?
            var modelVersion: Int?

            enum CodingKeys: String, CodingKey { case round, roundProblem = "round_problem", modelVersion = "model_version" }
        }

        func run() async throws {
            let agent = directory.agent
            let model = try await FederationCommand.run { try agent.storedModel() }
            var report = Report(modelVersion: model?.version)
            do {
                report.round = try await agent.currentRound()
            } catch let error as AgentError {
                report.roundProblem = error.description
            }
            if json { try FederationCommand.printWire(report); return }
            print("pulled for training: " + (model.map { "release \($0.version) (\($0.modelVersion)), signature verified" } ?? "none"))
            if let round = report.round {
                print("round \(round.roundID): base release \(round.baseVersion), C = \(round.clippingNorm), deadline \(round.deadline)")
                print(round.selected ? (round.updateReceived ? "this kiosk's update is in" : "this kiosk is selected; run `faceloop-agent federation train`")
                                     : "this kiosk was not sampled into the round")
            } else {
                print("no round: \(report.roundProblem ?? "unknown")")
            }
        }
    }

    struct Train: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train on labelled descriptor pairs held on this kiosk and upload the clipped, signed update.",
            discussion: """
                PAIRS is JSON: {"pairs": [{"first": [128 numbers], "second": [128 numbers], "genuine": true, \
                "subjects": [pseudonym, pseudonym]}]}; its genuine pairs are trained against the public impostor \
                set (IMPOSTORS). The descriptors never leave the kiosk. Only pairs whose \
                subjects all have model-improvement consent in force, in this kiosk's ledger and on the server \
                (asked after uploading pending consent events), are used.
                """)
        @OptionGroup var directory: DataDirectoryOption
        @Option(help: "The labelled pairs file.") var pairs: String
        @Option(help: "The public impostor set shipped with the release bundle: {\"descriptors\": [[128 numbers], …]}.") var impostors: String
        @Flag var json = false

        func run() async throws {
            let attributed: [LabelledPairsFile.AttributedPair]
            let publicSet: PublicImpostorSet
            do {
                attributed = try LabelledPairsFile.readAttributed(path: pairs)
                publicSet = try PublicImpostorsFile.read(path: impostors)
            } catch {
                throw ValidationError(error.description)
            }
            let agent = directory.agent
            let subjects = Set(attributed.flatMap(\.subjects))
            let serverCovered = try await FederationCommand.run { try await agent.serverConsentedSubjects(subjects) }
            let (usable, excluded) = try agent.consentedPairs(attributed, serverCovered: serverCovered)
            guard !usable.isEmpty else {
                throw ValidationError("none of the \(attributed.count) pairs in \(pairs) has model-improvement consent for all its subjects on this kiosk")
            }
            let report = try await FederationCommand.run { try await agent.train(on: usable, impostors: publicSet, excluded: excluded) }
            if json { try FederationCommand.printWire(report); return }
            print("round \(report.roundID): trained on \(report.pairs) pairs (\(report.pairsExcluded) left out for want of consent) from release \(report.baseVersion); "
                  + "tail loss \(report.lossBefore) → \(report.lossAfter)")
            print("update norm \(report.updateNorm), clipped to C = \(report.clippingNorm); the server holds it (\(report.receipt.contentDigest))")
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download the newest model release, verify it and keep it for training; `verify` keeps deciding with the model `models sync` applied.")
        @OptionGroup var directory: DataDirectoryOption
        @Flag var json = false

        func run() async throws {
            let agent = directory.agent
            let release = try await FederationCommand.run { try await agent.pullModel() }
            if json { try FederationCommand.printWire(ModelReleaseSummary(release, publishedAt: release.createdAt)); return }
            print("model release \(release.version) (\(release.modelVersion)) verified and kept for training; `faceloop-agent models sync` decides what `verify` uses")
            print(String(format: "privacy: ε = %.4f (RDP) / %.4f (PLD) at δ = %g cumulative, C = %g, z = %g, q = %g",
                         release.privacy.cumulativeEpsilonRDP, release.privacy.cumulativeEpsilonPLD, release.privacy.delta,
                         release.privacy.clippingNorm, release.privacy.noiseMultiplier, release.privacy.samplingRate))
        }
    }
}
