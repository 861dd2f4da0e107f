import FeedbackWire
import Foundation

/// One stored outcome reduced to what threshold calibration and the paired comparison of
/// a candidate model read.
public struct CalibrationOutcome: Sendable, Equatable {
    public var modelVersion: String
    public var site: String
    public var cameraModel: String
    /// `genuine`, `impostor` or `unknown`.
    public var label: String
    public var score: Double
    public var attemptedAt: Date
    /// The subject's pseudonym: attempts of one subject are correlated, so confidence bounds
    /// resample subjects.
    public var subjectPseudonym: String
    /// The candidate model that scored the same attempt in shadow, and its score.
    public var shadowModelVersion: String?
    public var shadowScore: Double?
    /// The candidate releases of a policy search that scored the same attempt, each under its
    /// own model version; empty when none did, or when the subject had no model-improvement
    /// consent in force when the outcome was stored.
    public var shadowScores: [MatchOutcome.ShadowScore]

    public init(modelVersion: String, site: String, cameraModel: String, label: String, score: Double, attemptedAt: Date,
                subjectPseudonym: String = "", shadowModelVersion: String? = nil, shadowScore: Double? = nil,
                shadowScores: [MatchOutcome.ShadowScore] = []) {
        self.modelVersion = modelVersion
        self.site = site
        self.cameraModel = cameraModel
        self.label = label
        self.score = score
        self.attemptedAt = attemptedAt
        self.subjectPseudonym = subjectPseudonym
        self.shadowModelVersion = shadowModelVersion
        self.shadowScore = shadowScore
        self.shadowScores = shadowScores
    }
}

/// Where a threshold release is in its workflow: computed → approved → published, then
/// superseded by a later publication or rolled back.
public enum ReleaseState: String, Sendable, Codable, CaseIterable {
    case computed, approved, published, superseded
    case rolledBack = "rolled_back"
}

/// A threshold release as stored: its canonical payload (what gets signed), the workflow
/// state and, once published, the signed envelope kiosks download.
public struct StoredThresholdRelease: Sendable, Equatable {
    public var version: Int
    public var state: ReleaseState
    public var payload: [UInt8]
    /// JSON array of cohorts the computation refused, with reasons.
    public var refused: [UInt8]
    /// Largest absolute threshold move against the release published when this one was computed.
    public var largestChange: Double?
    public var requiredApprovals: Int
    /// Ids of the tokens that approved (a token's id is the first 16 hex digits of its SHA-256):
    /// two approvals are two tokens, whatever their labels say.
    public var approvals: [String]
    public var computedAt: Date
    public var computedBy: String
    /// The id of the token that computed the release; it may not approve it. Nil for releases
    /// computed before ids were kept.
    public var computedByToken: String?
    public var publishedAt: Date?
    public var envelope: [UInt8]?

    public init(version: Int, state: ReleaseState, payload: [UInt8], refused: [UInt8], largestChange: Double?,
                requiredApprovals: Int, approvals: [String], computedAt: Date, computedBy: String, computedByToken: String?,
                publishedAt: Date? = nil, envelope: [UInt8]? = nil) {
        self.version = version
        self.state = state
        self.payload = payload
        self.refused = refused
        self.largestChange = largestChange
        self.requiredApprovals = requiredApprovals
        self.approvals = approvals
        self.computedAt = computedAt
        self.computedBy = computedBy
        self.computedByToken = computedByToken
        self.publishedAt = publishedAt
        self.envelope = envelope
    }
}

extension StoredThresholdRelease {
    /// Records an approval by the token `tokenID`, once per token and never by the token that
    /// computed the release, and marks the release approved when it has the approvals it needs.
    /// Returns whether the approval counted. Both back ends apply it inside their transaction.
    public mutating func approve(byToken tokenID: String) -> Bool {
        guard state == .computed, tokenID != computedByToken, !approvals.contains(tokenID) else { return false }
        approvals.append(tokenID)
        if approvals.count >= requiredApprovals { state = .approved }
        return true
    }
}

/// A bearer token's role and the name it was issued under.
public struct APITokenRecord: Sendable, Equatable {
    public var role: String
    public var label: String
    /// The first 16 hex digits of the token's SHA-256, as `tokens list` shows it.
    public var id: String

    /// How the audit log names the person behind the token.
    public var actor: String { "token:\(label) (\(role))" }
}

extension APITokenRecord {
    public init(role: String, label: String, sha256: String) {
        self.init(role: role, label: label, id: String(sha256.prefix(16)))
    }
}

