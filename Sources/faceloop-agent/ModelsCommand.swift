import Agent
import ArgumentParser
import Calibration
import FaceVerification
import FederationAPI
import FeedbackWire
import Foundation
import StrictJSON

/// `faceloop-agent models sync|status`: which model decides on this kiosk and which is scored
/// in shadow, as the server assigns them and the published thresholds allow.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Apply the server's model assignment: the model that decides, and the one scored in shadow.",
        discussion: """
            A kiosk switches to the assigned model only together with a published threshold for that model and \
            its cohort (camera model at site); without one it stays on the model it uses and says why. The shadow \
            model is scored on the same descriptors and decides nothing. `verify` uses what the last sync applied.
            """,
        subcommands: [Sync.self, Status.self])

    static func printApplied(_ applied: AppliedModels) {
        print("deciding: \(applied.active.model.name)"
              + (applied.active.threshold.map { ", threshold \($0.threshold) (threshold release \($0.releaseVersion), target FMR \($0.targetFMR))" } ?? ""))
        print("shadow:   " + (applied.shadow?.name ?? "none"))
        if !applied.followsAssignment { print("assigned: \(applied.assignment.decide.name), not applied") }
        if let version = applied.assignment.rolloutVersion, let stage = applied.assignment.rolloutStage {
            print("rollout:  release \(version), \(stage.rawValue)")
        }
        print("why:      \(applied.reason)")
        print("decided:  \(RFC3339.format(applied.decidedAt))")
    }

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch this kiosk's assignment, the threshold release and the assigned releases; verify, keep and apply them.")
        @OptionGroup var directory: DataDirectoryOption
        @Option(help: "This kiosk's site.") var site: String
        @Option(name: .customLong("camera-model"), help: "This kiosk's camera model.") var cameraModel: String
        @Flag var json = false

        func run() async throws {
            let agent = directory.agent
            let applied = try await FederationCommand.run {
                try await agent.syncModels(site: site, cameraModel: cameraModel, backbone: FaceVerifier.baseModelVersion)
            }
            if json { try FederationCommand.printWire(applied); return }
            ModelsCommand.printApplied(applied)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What the last sync applied, with the kept releases verified again.")
        @OptionGroup var directory: DataDirectoryOption
        @Flag var json = false

        func run() async throws {
            let inUse = try ModelsInUse(agent: directory.agent)
            if json {
                if let applied = inUse.applied { try FederationCommand.printWire(applied) } else { print("null") }
                return
            }
            guard let applied = inUse.applied else {
                print("no sync yet: \(inUse.active.name) decides; run `faceloop-agent models sync`")
                return
            }
            ModelsCommand.printApplied(applied)
            print("kept releases verified with the pinned release key")
        }
    }
}

/// The models `verify` uses, read from what the last sync applied, each release verified
/// again before use: the active model decides, the shadow model (if any) scores too.
struct ModelsInUse {
    var applied: AppliedModels?
    var active: AssignedModel
    var adapter: EmbeddingAdapter
    var shadow: (model: AssignedModel, adapter: EmbeddingAdapter)?

    init(agent: KioskAgent) throws {
        do {
            applied = try agent.appliedModels()
            active = applied?.active.model ?? AssignedModel(version: 0, modelVersion: FaceVerifier.baseModelVersion)
            adapter = try Self.adapter(agent.keptRelease(for: active))
            if let model = applied?.shadow {
                shadow = (model, try Self.adapter(agent.keptRelease(for: model)))
            }
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
    }

    private static func adapter(_ release: ModelRelease?) throws -> EmbeddingAdapter {
        guard let release else { return .identity }
        return try EmbeddingAdapter(weights: release.adapter.weights, bias: release.adapter.bias, dimension: release.adapter.dimension)
    }

    /// The active model's threshold for the cohort (`site`/`cameraModel`, else the synced
    /// one): the kept threshold release's entry, else the one the model was applied with.
    func threshold(agent: KioskAgent, site: String?, cameraModel: String?) -> KioskAgent.AppliedThreshold? {
        guard let site = site ?? applied?.assignment.site, let cameraModel = cameraModel ?? applied?.assignment.cameraModel else {
            return nil
        }
        let cohort = CohortKey(modelVersion: active.modelVersion, cameraModel: cameraModel, cohort: site)
        if let release = try? agent.storedThresholds(), let kept = try? agent.applicableThreshold(in: release, cohort: cohort) {
            return kept
        }
        return applied?.active.threshold.flatMap { $0.cohort == cohort ? $0 : nil }
    }
}
