import ArgumentParser
import FederationAPI
import Foundation
import OperatorClient

/// `faceloop models rollouts|compare|shadow|canary|promote|rollback`: a release's way to the fleet.
extension Models {
    static func printRollout(_ rollout: RolloutView) {
        print("release \(rollout.version) (\(rollout.modelVersion)): \(rollout.stage.rawValue)")
        if !rollout.cohorts.isEmpty {
            print("  cohorts: " + rollout.cohorts.map { "\($0.cameraModel) at \($0.site)" }.joined(separator: ", "))
        }
        if rollout.stage == .canary {
            print("  canary: " + (rollout.canaryPercent.map { "\($0) % of kiosks by device-id hash" }
                ?? rollout.canaryDevices.joined(separator: ", ")))
        }
        for approval in rollout.approvals {
            print("  approved for \(approval.stage.rawValue) by \(approval.actor) at \(approval.at)")
        }
        if rollout.stage == .canary {
            let fleetApprovals = rollout.approvals.count { $0.stage == .fleet }
            print("  fleet approvals: \(fleetApprovals) of 2")
        }
        if let reason = rollout.reason { print("  reason: \(reason)") }
    }

    static func thresholds(_ comparison: RolloutComparison) -> String {
        switch comparison.thresholds {
        case .thresholdRelease: "thresholds of release \(comparison.thresholdReleaseVersion.map(String.init) ?? "none")"
        case .exactAtTarget: "each model at its exact threshold for that FMR on the attempts both scored"
        }
    }

    static func printComparison(_ comparison: RolloutComparison) {
        print("release \(comparison.releaseVersion) against the current model at FMR \(comparison.targetFMR), "
              + Self.thresholds(comparison) + ", "
              + "confidence \(comparison.confidence), FNMR margin \(comparison.margin)")
        if comparison.cohorts.isEmpty { print("  no outcome carries a shadow score of this release yet") }
        for cohort in comparison.cohorts {
            print("  \(cohort.cohort.cameraModel) at \(cohort.cohort.site) (current \(cohort.currentModelVersion)): "
                  + "\(cohort.verdict.rawValue)\(cohort.verdict.offersPromotion ? ", promotion offered" : "")")
            if let figures = cohort.figures {
                print(String(format: "    FNMR %.4f → %.4f (difference %+.4f, bounds %+.4f…%+.4f); McNemar b = %d, c = %d, p = %.3g",
                             figures.currentFNMR, figures.candidateFNMR, figures.fnmrDifference, figures.fnmrDifferenceLower,
                             figures.fnmrDifferenceUpper, figures.candidateWorse, figures.candidateBetter, figures.mcnemarPValue))
                print(String(format: "    FMR %.2e → %.2e (upper bounds %.2e, %.2e); %d genuine, %d impostor attempts, %d subjects",
                             figures.currentFMR, figures.candidateFMR, figures.currentFMRUpperBound, figures.candidateFMRUpperBound,
                             figures.genuineAttempts, figures.impostorAttempts, figures.subjects))
            }
            print("    \(cohort.reason)")
        }
    }

    struct Rollouts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every model release's rollout stage, cohorts, canary and approvals.")
        @OptionGroup var connection: ConnectionOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let list = try await perform { try await client.rollouts() }
            if json { try printJSON(list); return }
            if list.rollouts.isEmpty { print("no model release yet") }
            list.rollouts.forEach(Models.printRollout)
        }
    }

    struct Compare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Current against candidate on the same attempts, per cohort: FNMR at each one's published threshold, McNemar's exact test, subject-bootstrap bounds.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The candidate release.") var version: Int
        @Option(name: .customLong("target-fmr"), help: "Default: the server's rollout.target-fmr.") var targetFMR: Double?
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let comparison = try await perform { try await client.compareModels(version, targetFMR: targetFMR) }
            if json { try printJSON(comparison); return }
            Models.printComparison(comparison)
        }
    }

    struct Shadow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start scoring a candidate release in shadow on every kiosk (it decides nothing).")
        @OptionGroup var connection: ConnectionOptions
        @Argument var version: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let rollout = try await perform { try await client.shadowModel(version) }
            if json { try printJSON(rollout); return }
            Models.printRollout(rollout)
        }
    }

    struct Canary: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a release in shadow decide on canary kiosks, in the cohorts whose comparison offers promotion.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var version: Int
        @Option(name: .customLong("device"), help: "A canary kiosk (repeat for several).") var devices: [String] = []
        @Option(help: "A share of the fleet, 0–100, chosen by a stable hash of the device id.") var percent: Double?
        @Option(name: .customLong("target-fmr")) var targetFMR: Double?
        @Flag var json = false

        func validate() throws {
            guard devices.isEmpty != (percent == nil) else {
                throw ValidationError("Give exactly one of --device (repeatable) and --percent.")
            }
        }

        func run() async throws {
            let client = try connection.client()
            let request = CanaryRequest(devices: devices.isEmpty ? nil : devices, percent: percent, targetFMR: targetFMR)
            let rollout = try await perform { try await client.canaryModel(version, request) }
            if json { try printJSON(rollout); return }
            Models.printRollout(rollout)
            if let comparison = rollout.comparison { Models.printComparison(comparison) }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a canary release for the fleet; the second approval, by another engineer, promotes the cohorts that still qualify.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var version: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let rollout = try await perform { try await client.promoteModel(version) }
            if json { try printJSON(rollout); return }
            Models.printRollout(rollout)
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Roll a release in shadow, canary or fleet back; its kiosks return to the model (and thresholds) they used before.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var version: Int
        @Option(help: "Why, for the audit log.") var reason: String
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let rollout = try await perform { try await client.rollBackModel(version, reason: reason) }
            if json { try printJSON(rollout); return }
            Models.printRollout(rollout)
        }
    }
}
