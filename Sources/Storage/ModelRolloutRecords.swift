import Foundation

/// Where a model release is in its staged rollout: a `candidate` decides nothing, in
/// `shadow` kiosks score it beside the deployed model, in `canary` it decides for named
/// kiosks (or a share of them) of the promoted cohorts, in `fleet` for every kiosk of those
/// cohorts; `rolled_back` ends it.
public enum RolloutState: String, Sendable, Codable, CaseIterable {
    case candidate, shadow, canary, fleet
    case rolledBack = "rolled_back"
}

/// A cohort a rollout is promoted in, ordered by camera model, then site.
public struct RolloutCohort: Sendable, Hashable, Codable, Comparable {
    public var cameraModel: String
    public var site: String

    public init(cameraModel: String, site: String) {
        self.cameraModel = cameraModel
        self.site = site
    }

    public static func < (lhs: RolloutCohort, rhs: RolloutCohort) -> Bool {
        (lhs.cameraModel, lhs.site) < (rhs.cameraModel, rhs.site)
    }

    enum CodingKeys: String, CodingKey { case cameraModel = "camera_model", site }
}

/// One approval of a rollout step: which step, by which token (its id, the first 16 hex
/// digits of its SHA-256) under which name, and when.
public struct RolloutApproval: Sendable, Equatable, Codable {
    public var step: RolloutState
    public var tokenID: String
    public var actor: String
    public var at: Date

    public init(step: RolloutState, tokenID: String, actor: String, at: Date) {
        self.step = step
        self.tokenID = tokenID
        self.actor = actor
        self.at = at
    }

    enum CodingKeys: String, CodingKey { case step, tokenID = "token_id", actor, at }
}

/// A model release's rollout as stored. The store keeps it and changes it only by
/// compare-and-set (`FederationStore.transitionModelRollout`); what a step requires is the
/// server's to decide.
public struct StoredModelRollout: Sendable, Equatable {
    /// The model release's version (`StoredModelRelease.version`).
    public var version: Int
    public var state: RolloutState
    /// The cohorts promoted (canary, fleet); empty while the release is a candidate or in shadow.
    public var cohorts: [RolloutCohort]
    /// The canary kiosks by device id, when they are named…
    public var canaryDevices: [String]
    /// …or the percentage of kiosks chosen by a stable hash of the device id.
    public var canaryPercent: Double?
    /// Every approval so far, in order.
    public var approvals: [RolloutApproval]
    /// The JSON of the paired comparison the last step was decided on; opaque to the store.
    public var comparison: [UInt8]
    /// Why it was rolled back, or why the last step was refused.
    public var reason: String?
    public var updatedAt: Date

    public init(version: Int, state: RolloutState, cohorts: [RolloutCohort] = [], canaryDevices: [String] = [],
                canaryPercent: Double? = nil, approvals: [RolloutApproval] = [], comparison: [UInt8] = [], reason: String? = nil,
                updatedAt: Date) {
        self.version = version
        self.state = state
        self.cohorts = cohorts
        self.canaryDevices = canaryDevices
        self.canaryPercent = canaryPercent
        self.approvals = approvals
        self.comparison = comparison
        self.reason = reason
        self.updatedAt = updatedAt
    }

    /// A release without a stored rollout: a candidate since its publication.
    public static func candidate(_ release: StoredModelRelease) -> StoredModelRollout {
        StoredModelRollout(version: release.version, state: .candidate, updatedAt: release.publishedAt)
    }
}

/// A rollout the store refuses to write, or cannot read back.
public enum ModelRolloutStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rollout given is another release's.
    case versionMismatch(version: Int, rolloutVersion: Int)
    /// A stored list column is not the JSON the store writes.
    case unreadableColumn(version: Int, column: String)

    public var description: String {
        switch self {
        case let .unreadableColumn(version, column): "model_rollouts.\(column) of release \(version) is not the JSON the store writes"
        case let .versionMismatch(version, rolloutVersion):
            "the rollout given for model release \(version) is the rollout of release \(rolloutVersion)"
        }
    }
}
