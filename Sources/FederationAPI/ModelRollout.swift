import Crypto
import Foundation

/// Where a model release is in its rollout. A release starts as a `candidate` that no kiosk
/// uses; in `shadow` kiosks score it beside the model that decides; in `canary` it decides on
/// the canary kiosks of the promoted cohorts; in `fleet` on every kiosk of those cohorts.
/// `rolled_back` returns those kiosks to the model they used before.
public enum RolloutStage: String, Sendable, Codable, CaseIterable {
    case candidate, shadow, canary, fleet
    case rolledBack = "rolled_back"
}

/// A model as a kiosk names it: the release version (0 is the backbone without an adapter)
/// and the `model_version` string its outcomes carry.
public struct AssignedModel: Sendable, Codable, Equatable {
    public var version: Int
    public var modelVersion: String

    public init(version: Int, modelVersion: String) {
        self.version = version
        self.modelVersion = modelVersion
    }

    enum CodingKeys: String, CodingKey { case version, modelVersion = "model_version" }
}

/// What the server tells one kiosk of one cohort: the model that decides, the model to
/// score in shadow (deciding nothing), the candidate releases of a policy search to score
/// in shadow within the kiosk's budget, and why. The kiosk applies `decide` only together
/// with a published threshold for that model and its cohort.
public struct ModelAssignment: Sendable, Codable, Equatable {
    /// The most shadow candidates one assignment names: an outcome carries at most this many
    /// `shadow_scores`.
    public static let maxShadowCandidates = 16

    public var deviceID: String
    public var site: String
    public var cameraModel: String
    public var decide: AssignedModel
    /// One release scored on the same descriptors as `decide` (the adapter rollout's shadow).
    public var shadow: AssignedModel?
    /// Candidate releases (one per candidate normalisation policy) that the kiosk scores by
    /// re-running its pipeline on the probe, as many as its per-verification budget allows,
    /// only for subjects whose model-improvement consent is in force. Empty when no search runs.
    public var shadowCandidates: [AssignedModel]
    /// The release being rolled out and its stage, when one is.
    public var rolloutVersion: Int?
    public var rolloutStage: RolloutStage?
    public var reason: String

    public init(deviceID: String, site: String, cameraModel: String, decide: AssignedModel, shadow: AssignedModel?,
                rolloutVersion: Int?, rolloutStage: RolloutStage?, reason: String, shadowCandidates: [AssignedModel] = []) {
        self.deviceID = deviceID
        self.site = site
        self.cameraModel = cameraModel
        self.decide = decide
        self.shadow = shadow
        self.shadowCandidates = shadowCandidates
        self.rolloutVersion = rolloutVersion
        self.rolloutStage = rolloutStage
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id", site, cameraModel = "camera_model", decide, shadow, shadowCandidates = "shadow_candidates"
        case rolloutVersion = "rollout_version", rolloutStage = "rollout_stage", reason
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        deviceID = try container.decode(String.self, forKey: .deviceID)
        site = try container.decode(String.self, forKey: .site)
        cameraModel = try container.decode(String.self, forKey: .cameraModel)
        decide = try container.decode(AssignedModel.self, forKey: .decide)
        shadow = try container.decodeIfPresent(AssignedModel.self, forKey: .shadow)
        // Absent from servers that predate policy searches.
        shadowCandidates = try container.decodeIfPresent([AssignedModel].self, forKey: .shadowCandidates) ?? []
        rolloutVersion = try container.decodeIfPresent(Int.self, forKey: .rolloutVersion)
        rolloutStage = try container.decodeIfPresent(RolloutStage.self, forKey: .rolloutStage)
        reason = try container.decode(String.self, forKey: .reason)
        guard shadowCandidates.count <= Self.maxShadowCandidates else {
            throw DecodingError.dataCorruptedError(forKey: .shadowCandidates, in: container,
                                                   debugDescription: "at most \(Self.maxShadowCandidates) shadow candidates")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(deviceID, forKey: .deviceID)
        try container.encode(site, forKey: .site)
        try container.encode(cameraModel, forKey: .cameraModel)
        try container.encode(decide, forKey: .decide)
        try container.encodeIfPresent(shadow, forKey: .shadow)
        try container.encode(shadowCandidates, forKey: .shadowCandidates)
        try container.encodeIfPresent(rolloutVersion, forKey: .rolloutVersion)
        try container.encodeIfPresent(rolloutStage, forKey: .rolloutStage)
        try container.encode(reason, forKey: .reason)
    }
}

/// One cohort of kiosks: a camera model at a site.
public struct RolloutCohortRef: Sendable, Codable, Hashable, Comparable {
    public var site: String
    public var cameraModel: String

    public init(site: String, cameraModel: String) {
        self.site = site
        self.cameraModel = cameraModel
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.site, lhs.cameraModel) < (rhs.site, rhs.cameraModel) }

    enum CodingKeys: String, CodingKey { case site, cameraModel = "camera_model" }
}

/// The paired comparison's figures for one cohort: both models on the same attempts, each at
/// its own calibrated threshold for the target FMR.
public struct PairedFigures: Sendable, Codable, Equatable {
    public var genuineAttempts: Int
    public var impostorAttempts: Int
    public var subjects: Int
    public var currentFNMR: Double
    public var candidateFNMR: Double
    /// Genuine attempts the current model accepts and the candidate rejects.
    public var candidateWorse: Int
    /// Genuine attempts the candidate accepts and the current model rejects.
    public var candidateBetter: Int
    public var mcnemarPValue: Double
    /// Candidate minus current FNMR, with its subject-bootstrap bounds.
    public var fnmrDifference: Double
    public var fnmrDifferenceLower: Double
    public var fnmrDifferenceUpper: Double
    public var currentFMR: Double
    public var candidateFMR: Double
    public var currentFMRUpperBound: Double
    public var candidateFMRUpperBound: Double

    public init(genuineAttempts: Int, impostorAttempts: Int, subjects: Int, currentFNMR: Double, candidateFNMR: Double,
                candidateWorse: Int, candidateBetter: Int, mcnemarPValue: Double, fnmrDifference: Double,
                fnmrDifferenceLower: Double, fnmrDifferenceUpper: Double, currentFMR: Double, candidateFMR: Double,
                currentFMRUpperBound: Double, candidateFMRUpperBound: Double) {
        self.genuineAttempts = genuineAttempts
        self.impostorAttempts = impostorAttempts
        self.subjects = subjects
        self.currentFNMR = currentFNMR
        self.candidateFNMR = candidateFNMR
        self.candidateWorse = candidateWorse
        self.candidateBetter = candidateBetter
        self.mcnemarPValue = mcnemarPValue
        self.fnmrDifference = fnmrDifference
        self.fnmrDifferenceLower = fnmrDifferenceLower
        self.fnmrDifferenceUpper = fnmrDifferenceUpper
        self.currentFMR = currentFMR
        self.candidateFMR = candidateFMR
        self.currentFMRUpperBound = currentFMRUpperBound
        self.candidateFMRUpperBound = candidateFMRUpperBound
    }

    enum CodingKeys: String, CodingKey {
        case genuineAttempts = "genuine_attempts", impostorAttempts = "impostor_attempts", subjects
        case currentFNMR = "current_fnmr", candidateFNMR = "candidate_fnmr", candidateWorse = "candidate_worse"
        case candidateBetter = "candidate_better", mcnemarPValue = "mcnemar_p_value", fnmrDifference = "fnmr_difference"
        case fnmrDifferenceLower = "fnmr_difference_lower", fnmrDifferenceUpper = "fnmr_difference_upper"
        case currentFMR = "current_fmr", candidateFMR = "candidate_fmr", currentFMRUpperBound = "current_fmr_upper_bound"
        case candidateFMRUpperBound = "candidate_fmr_upper_bound"
    }
}

/// The verdict for one cohort: promotion is offered only where it is `better` or `not_worse`.
public enum CohortVerdict: String, Sendable, Codable, CaseIterable {
    case better
    case notWorse = "not_worse"
    case worse, inconclusive
    case insufficientData = "insufficient_data"

    public var offersPromotion: Bool { self == .better || self == .notWorse }
}

public struct CohortComparison: Sendable, Codable, Equatable {
    public var cohort: RolloutCohortRef
    public var currentModelVersion: String
    public var candidateModelVersion: String
    public var currentThreshold: Double?
    public var candidateThreshold: Double?
    public var figures: PairedFigures?
    public var verdict: CohortVerdict
    public var reason: String

    public init(cohort: RolloutCohortRef, currentModelVersion: String, candidateModelVersion: String, currentThreshold: Double?,
                candidateThreshold: Double?, figures: PairedFigures?, verdict: CohortVerdict, reason: String) {
        self.cohort = cohort
        self.currentModelVersion = currentModelVersion
        self.candidateModelVersion = candidateModelVersion
        self.currentThreshold = currentThreshold
        self.candidateThreshold = candidateThreshold
        self.figures = figures
        self.verdict = verdict
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case cohort, currentModelVersion = "current_model_version", candidateModelVersion = "candidate_model_version"
        case currentThreshold = "current_threshold", candidateThreshold = "candidate_threshold", figures, verdict, reason
    }
}

/// Where a comparison's thresholds come from.
public enum ComparisonThresholds: String, Sendable, Codable, CaseIterable {
    /// Each model's threshold in the newest published threshold release: what kiosks decide with.
    case thresholdRelease = "threshold_release"
    /// Each model's exact threshold at the target FMR on the compared attempts' impostor scores:
    /// what a policy search ranks its candidates at.
    case exactAtTarget = "exact_at_target"
}

/// Current against candidate in every cohort where the candidate was scored, at the
/// thresholds of one published threshold release, or (a policy search's proposal) each at its
/// exact threshold for the target FMR.
public struct RolloutComparison: Sendable, Codable, Equatable {
    public var releaseVersion: Int
    /// The published threshold release of `.thresholdRelease` thresholds; nil when none was published.
    public var thresholdReleaseVersion: Int?
    public var thresholds: ComparisonThresholds
    public var targetFMR: Double
    public var confidence: Double
    public var margin: Double
    public var computedAt: Date
    public var cohorts: [CohortComparison]

    public init(releaseVersion: Int, thresholdReleaseVersion: Int?, thresholds: ComparisonThresholds = .thresholdRelease, targetFMR: Double,
                confidence: Double, margin: Double, computedAt: Date, cohorts: [CohortComparison]) {
        self.releaseVersion = releaseVersion
        self.thresholdReleaseVersion = thresholdReleaseVersion
        self.thresholds = thresholds
        self.targetFMR = targetFMR
        self.confidence = confidence
        self.margin = margin
        self.computedAt = computedAt
        self.cohorts = cohorts
    }

    /// Comparisons stored before `thresholds` existed were all made at a threshold release.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        releaseVersion = try container.decode(Int.self, forKey: .releaseVersion)
        thresholdReleaseVersion = try container.decodeIfPresent(Int.self, forKey: .thresholdReleaseVersion)
        thresholds = try container.decodeIfPresent(ComparisonThresholds.self, forKey: .thresholds) ?? .thresholdRelease
        targetFMR = try container.decode(Double.self, forKey: .targetFMR)
        confidence = try container.decode(Double.self, forKey: .confidence)
        margin = try container.decode(Double.self, forKey: .margin)
        computedAt = try container.decode(Date.self, forKey: .computedAt)
        cohorts = try container.decode([CohortComparison].self, forKey: .cohorts)
    }

    enum CodingKeys: String, CodingKey {
        case releaseVersion = "release_version", thresholdReleaseVersion = "threshold_release_version", thresholds, targetFMR = "target_fmr"
        case confidence, margin, computedAt = "computed_at", cohorts
    }
}

public struct RolloutApprovalView: Sendable, Codable, Equatable {
    public var stage: RolloutStage
    public var actor: String
    public var at: Date

    public init(stage: RolloutStage, actor: String, at: Date) {
        self.stage = stage
        self.actor = actor
        self.at = at
    }
}

/// A model release's rollout as engineers see it.
public struct RolloutView: Sendable, Codable, Equatable {
    public var version: Int
    public var modelVersion: String
    public var stage: RolloutStage
    public var cohorts: [RolloutCohortRef]
    public var canaryDevices: [String]
    public var canaryPercent: Double?
    public var approvals: [RolloutApprovalView]
    public var reason: String?
    public var updatedAt: Date
    /// The comparison the last step was decided on.
    public var comparison: RolloutComparison?

    public init(version: Int, modelVersion: String, stage: RolloutStage, cohorts: [RolloutCohortRef], canaryDevices: [String],
                canaryPercent: Double?, approvals: [RolloutApprovalView], reason: String?, updatedAt: Date,
                comparison: RolloutComparison?) {
        self.version = version
        self.modelVersion = modelVersion
        self.stage = stage
        self.cohorts = cohorts
        self.canaryDevices = canaryDevices
        self.canaryPercent = canaryPercent
        self.approvals = approvals
        self.reason = reason
        self.updatedAt = updatedAt
        self.comparison = comparison
    }

    enum CodingKeys: String, CodingKey {
        case version, modelVersion = "model_version", stage, cohorts, canaryDevices = "canary_devices"
        case canaryPercent = "canary_percent", approvals, reason, updatedAt = "updated_at", comparison
    }
}

public struct RolloutList: Sendable, Codable, Equatable {
    public var rollouts: [RolloutView]

    public init(rollouts: [RolloutView]) {
        self.rollouts = rollouts
    }
}

/// `POST …/canary`: the canary kiosks, by name or as a stable share of the fleet.
public struct CanaryRequest: Sendable, Codable, Equatable {
    public var devices: [String]?
    public var percent: Double?
    public var targetFMR: Double?

    public init(devices: [String]? = nil, percent: Double? = nil, targetFMR: Double? = nil) {
        self.devices = devices
        self.percent = percent
        self.targetFMR = targetFMR
    }

    enum CodingKeys: String, CodingKey { case devices, percent, targetFMR = "target_fmr" }
}

/// `POST …/rollback`: why, for the audit log.
public struct RollbackRequest: Sendable, Codable, Equatable {
    public var reason: String

    public init(reason: String) {
        self.reason = reason
    }
}

/// Canary membership by percentage: a kiosk is in when the first 8 bytes of SHA-256 of its
/// device id, read big-endian and scaled to [0, 100), fall below the percentage — stable
/// across nodes and restarts, and a larger percentage keeps every kiosk a smaller one chose.
public enum CanarySelection {
    public static func bucket(deviceID: String) -> Double {
        var value: UInt64 = 0
        for byte in SHA256.hash(data: Data(deviceID.utf8)).prefix(8) { value = value << 8 | UInt64(byte) }
        return Double(value >> 11) / Double(1 << 53) * 100
    }

    public static func includes(deviceID: String, percent: Double) -> Bool {
        bucket(deviceID: deviceID) < percent
    }
}
