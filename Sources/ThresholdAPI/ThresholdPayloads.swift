import Calibration
import Crypto
import FeedbackWire
import Foundation

/// Engineer → server: compute a new threshold release from the stored outcomes.
public struct ComputeThresholdsRequest: Sendable, Codable, Equatable {
    public var targetFMR: Double
    /// `conservative` (Clopper–Pearson upper bound ≤ target) or `exact-at-target`.
    public var policy: String?
    /// Only outcomes attempted in the last N days; all when absent.
    public var windowDays: Int?

    public init(targetFMR: Double, policy: String? = nil, windowDays: Int? = nil) {
        self.targetFMR = targetFMR
        self.policy = policy
        self.windowDays = windowDays
    }

    enum CodingKeys: String, CodingKey { case targetFMR = "target_fmr", policy, windowDays = "window_days" }
}

/// A cohort a computation could not serve, and why (e.g. the impostors still needed).
public struct RefusedCohort: Sendable, Codable, Equatable {
    public var cohort: CohortKey
    public var reason: String

    public init(cohort: CohortKey, reason: String) {
        self.cohort = cohort
        self.reason = reason
    }
}

/// A threshold release with its workflow state, as engineers see it.
public struct ThresholdReleaseView: Sendable, Codable, Equatable {
    public var version: Int
    public var state: String
    public var release: ThresholdRelease
    public var refused: [RefusedCohort]
    public var largestChange: Double?
    public var requiredApprovals: Int
    public var approvals: [String]
    public var computedAt: Date
    public var computedBy: String
    public var publishedAt: Date?

    public init(version: Int, state: String, release: ThresholdRelease, refused: [RefusedCohort], largestChange: Double?,
                requiredApprovals: Int, approvals: [String], computedAt: Date, computedBy: String, publishedAt: Date?) {
        self.version = version
        self.state = state
        self.release = release
        self.refused = refused
        self.largestChange = largestChange
        self.requiredApprovals = requiredApprovals
        self.approvals = approvals
        self.computedAt = computedAt
        self.computedBy = computedBy
        self.publishedAt = publishedAt
    }

    enum CodingKeys: String, CodingKey {
        case version, state, release, refused, largestChange = "largest_change", requiredApprovals = "required_approvals"
        case approvals, computedAt = "computed_at", computedBy = "computed_by", publishedAt = "published_at"
    }
}

public struct ThresholdReleaseList: Sendable, Codable, Equatable {
    public var releases: [ThresholdReleaseView]
    public init(releases: [ThresholdReleaseView]) { self.releases = releases }
}

/// Drift of each cohort since the window of the published release.
public struct ThresholdDriftView: Sendable, Codable, Equatable {
    public struct CohortDrift: Sendable, Codable, Equatable {
        public var cohort: CohortKey
        public var currentImpostors: Int
        public var currentGenuine: Int
        public var report: DriftReport?

        public init(cohort: CohortKey, currentImpostors: Int, currentGenuine: Int, report: DriftReport?) {
            self.cohort = cohort
            self.currentImpostors = currentImpostors
            self.currentGenuine = currentGenuine
            self.report = report
        }

        enum CodingKeys: String, CodingKey {
            case cohort, currentImpostors = "current_impostors", currentGenuine = "current_genuine", report
        }
    }

    public var releaseVersion: Int
    public var cohorts: [CohortDrift]

    public init(releaseVersion: Int, cohorts: [CohortDrift]) {
        self.releaseVersion = releaseVersion
        self.cohorts = cohorts
    }

    enum CodingKeys: String, CodingKey { case releaseVersion = "release_version", cohorts }
}

/// Admin → server: a bearer token for another person or role.
public struct APITokenRequest: Sendable, Codable, Equatable {
    public var role: String
    public var label: String

    public init(role: String, label: String) {
        self.role = role
        self.label = label
    }
}

public struct APITokenGrant: Sendable, Codable, Equatable {
    public var role: String
    public var label: String
    public var token: String

    public init(role: String, label: String, token: String) {
        self.role = role
        self.label = label
        self.token = token
    }
}

/// The signed bytes of a release: its wire form (``ThresholdReleasePayload``) with sorted
/// keys, so the same release always signs the same.
public enum ThresholdReleaseCoding {
    /// A payload that decoded but contradicts itself.
    public struct MalformedPayload: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public static func canonicalBytes(_ release: ThresholdRelease) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return [UInt8](try encoder.encode(ThresholdReleasePayload(release)))
    }

    /// Reads the wire form, or the form releases were signed in before it had one
    /// (Calibration's own coding: camelCase keys, `{"exact": {}}`). Releases published then
    /// are still stored on the server and in kiosks' thresholds.json, and must keep verifying
    /// and applying. The two forms share no window keys, so at most one of them decodes.
    public static func decode(_ bytes: [UInt8]) throws -> ThresholdRelease {
        let data = Data(bytes)
        let payload: ThresholdReleasePayload
        do {
            payload = try JSONDecoder().decode(ThresholdReleasePayload.self, from: data)
        } catch {
            guard let legacy = try? JSONDecoder().decode(ThresholdRelease.self, from: data) else { throw error }
            return legacy
        }
        return try payload.release()
    }

    /// Verifies a downloaded envelope with the pinned release key and decodes it.
    public static func verify(_ envelope: SignedRelease, publicKey: Data) throws -> ThresholdRelease {
        let key = try Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        let payload = try envelope.verifiedPayload(kind: .thresholds, publicKey: key)
        let release = try decode(payload)
        guard release.version == envelope.version else {
            throw SignedRelease.VerificationError.badSignature
        }
        return release
    }
}
