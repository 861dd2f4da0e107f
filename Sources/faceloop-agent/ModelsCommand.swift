import Agent
import ArgumentParser
import Calibration
import FaceVerification
import FederationAPI
import FederationCore
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
            model is scored on the same descriptors and decides nothing. Shadow candidates (a policy search's \
            releases, each with its own capture-normalisation policy) are kept and verified like any release; \
            `verify` scores them within its budget for subjects with model-improvement consent in force. \
            `verify` uses what the last sync applied, and the deciding release's normalisation policy for the cohort.
            """,
        subcommands: [Sync.self, Status.self])

    static func printApplied(_ applied: AppliedModels) {
        print("deciding: \(applied.active.model.name)"
              + (applied.active.threshold.map { ", threshold \($0.threshold) (threshold release \($0.releaseVersion), target FMR \($0.targetFMR))" } ?? ""))
        print("shadow:   " + (applied.shadow?.name ?? "none"))
        if !applied.shadowCandidates.isEmpty {
            print("candidates: " + applied.shadowCandidates.map(\.name).joined(separator: ", "))
        }
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
/// again before use: the active model decides, the shadow model (if any) scores too, and the
/// active release's normalisation policy for the kiosk's cohort is applied to the probe.
struct ModelsInUse {
    var applied: AppliedModels?
    var active: AssignedModel
    var adapter: EmbeddingAdapter
    var shadow: (model: AssignedModel, adapter: EmbeddingAdapter)?
    /// The cohort the probe is captured in: the one named on the command line, else the
    /// synced one; nil before any sync without `--site`/`--camera-model`.
    var cohort: (site: String, cameraModel: String)?
    /// The active release's policy for `cohort`, from its verified envelope; the identity
    /// for the backbone, without a cohort, or when the release names none for it.
    var normalisation: CaptureNormalization

    init(agent: KioskAgent, site: String? = nil, cameraModel: String? = nil) throws {
        do {
            applied = try agent.appliedModels()
            active = applied?.active.model ?? AssignedModel(version: 0, modelVersion: FaceVerifier.baseModelVersion)
            adapter = try Self.adapter(agent.keptRelease(for: active))
            if let model = applied?.shadow {
                shadow = (model, try Self.adapter(agent.keptRelease(for: model)))
            }
            if let site = site ?? applied?.assignment.site, let cameraModel = cameraModel ?? applied?.assignment.cameraModel {
                cohort = (site, cameraModel)
                normalisation = try CaptureNormalization(policy: agent.probeNormalisation(for: active, cameraModel: cameraModel, site: site))
            } else {
                normalisation = .identity
            }
        } catch let error as AgentError {
            throw ValidationError(error.description)
        } catch let error as NormalizationPolicyError {
            throw ValidationError("the active release's normalisation policy cannot be applied: \(error.description)")
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
