import Crypto
import Federation
import FederationCore
import FeedbackWire
import Foundation

/// A released adapter: what kiosks apply in front of the frozen backbone, with the privacy
/// it carries and how it was made. Signed as the payload of a `SignedRelease` of kind
/// `faceloop.model.v1`.
///
/// ```swift
/// let release = try ModelReleaseCoding.verify(envelope, publicKey: pinnedKey)
/// let adapter = release.adapter          // applies as the face pipeline's EmbeddingAdapter
/// ```
public struct ModelRelease: Sendable, Codable, Equatable {
    public var version: Int
    /// The release this one was trained from; 0 is the identity adapter.
    public var baseVersion: Int
    public var roundID: Int
    public var backbone: String
    /// What kiosks write into their outcome records: backbone plus adapter version.
    public var modelVersion: String
    public var adapter: Adapter
    public var privacy: ReleasedPrivacy
    public var outcome: ReleasedRoundSummary
    public var createdAt: Date

    public init(version: Int, baseVersion: Int, roundID: Int, backbone: String, adapter: Adapter, privacy: ReleasedPrivacy,
                outcome: ReleasedRoundSummary, createdAt: Date) {
        self.version = version
        self.baseVersion = baseVersion
        self.roundID = roundID
        self.backbone = backbone
        modelVersion = "\(backbone):adapter-\(version)"
        self.adapter = adapter
        self.privacy = privacy
        self.outcome = outcome
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case version, baseVersion = "base_version", roundID = "round_id", backbone, modelVersion = "model_version", adapter
        case privacy, outcome, createdAt = "created_at"
    }
}

/// What every kiosk learns of the round behind a release: how many updates went in and the
/// evaluation gate's figures. Never which kiosks took part or the norms of refused updates:
/// the ε of the release counts on Poisson subsampling, whose amplification holds only while
/// who was sampled stays secret (engineers see the full `RoundOutcome` in the round's view).
public struct ReleasedRoundSummary: Sendable, Codable, Equatable {
    public var acceptedCount: Int
    public var rejectedCount: Int
    public var adjustedCount: Int
    public var baseline: HeldOutEvaluation?
    public var candidate: HeldOutEvaluation?

    public init(_ outcome: RoundOutcome) {
        acceptedCount = outcome.accepted.count
        rejectedCount = outcome.rejected.count
        adjustedCount = outcome.adjusted.count
        baseline = outcome.baseline
        candidate = outcome.candidate
    }

    enum CodingKeys: String, CodingKey {
        case acceptedCount = "accepted_count", rejectedCount = "rejected_count", adjustedCount = "adjusted_count", baseline, candidate
    }
}

/// The `PrivacyStatement` as it travels in a release (snake_case keys, like every FaceLoop payload).
public struct ReleasedPrivacy: Sendable, Codable, Equatable {
    public var privacyUnit: String
    public var mechanism: String
    public var clippingNorm: Double
    public var noiseMultiplier: Double
    public var samplingRate: Double
    public var rounds: Int
    public var cumulativeRounds: Int
    public var delta: Double
    public var epsilonRDP: Double
    public var epsilonPLD: Double
    public var cumulativeEpsilonRDP: Double
    public var cumulativeEpsilonPLD: Double
    public var accountants: String

    public init(_ statement: PrivacyStatement) {
        privacyUnit = statement.privacyUnit
        mechanism = statement.mechanism
        clippingNorm = statement.clippingNorm
        noiseMultiplier = statement.noiseMultiplier
        samplingRate = statement.samplingRate
        rounds = statement.rounds
        cumulativeRounds = statement.cumulativeRounds
        delta = statement.delta
        epsilonRDP = statement.epsilonRDP
        epsilonPLD = statement.epsilonPLD
        cumulativeEpsilonRDP = statement.cumulativeEpsilonRDP
        cumulativeEpsilonPLD = statement.cumulativeEpsilonPLD
        accountants = statement.accountants
    }

    enum CodingKeys: String, CodingKey {
        case privacyUnit = "privacy_unit", mechanism, clippingNorm = "clipping_norm", noiseMultiplier = "noise_multiplier"
        case samplingRate = "sampling_rate", rounds, cumulativeRounds = "cumulative_rounds", delta
        case epsilonRDP = "epsilon_rdp", epsilonPLD = "epsilon_pld", cumulativeEpsilonRDP = "cumulative_epsilon_rdp"
        case cumulativeEpsilonPLD = "cumulative_epsilon_pld", accountants
    }
}

/// Canonical bytes and verification of model releases.
public enum ModelReleaseCoding {
    public static func canonicalBytes(_ release: ModelRelease) throws -> [UInt8] {
        [UInt8](try WireJSON.encoder().encode(release))
    }

    public static func decode(_ bytes: [UInt8]) throws -> ModelRelease {
        try WireJSON.decoder().decode(ModelRelease.self, from: Data(bytes))
    }

    public enum Refusal: Error, Sendable, CustomStringConvertible {
        case signature(SignedRelease.VerificationError)
        case payload(String)
        case versionMismatch(envelope: Int, payload: Int)

        public var description: String {
            switch self {
            case let .signature(error): return error.description
            case let .payload(reason): return "the signed payload is not a model release: \(reason)"
            case let .versionMismatch(envelope, payload): return "the envelope says version \(envelope), the payload \(payload)"
            }
        }
    }

    /// The release inside an envelope, only if the envelope verifies with the pinned key
    /// (raw 32-byte Ed25519) and its payload is a well-formed release of the same version.
    public static func verify(_ envelope: SignedRelease, publicKey raw: Data) throws(Refusal) -> ModelRelease {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw .signature(.unknownKey("unreadable pinned key"))
        }
        let bytes: [UInt8]
        do {
            bytes = try envelope.verifiedPayload(kind: .model, publicKey: key)
        } catch {
            throw .signature(error)
        }
        let release: ModelRelease
        do {
            release = try decode(bytes)
        } catch {
            throw .payload("\(error)")
        }
        guard release.version == envelope.version else {
            throw .versionMismatch(envelope: envelope.version, payload: release.version)
        }
        return release
    }
}

/// A model release as engineers list it (the adapter's weights are in `show`/`pull`).
public struct ModelReleaseSummary: Sendable, Codable, Equatable {
    public var version: Int
    public var baseVersion: Int
    public var roundID: Int
    public var modelVersion: String
    public var privacy: ReleasedPrivacy
    public var outcome: ReleasedRoundSummary
    public var publishedAt: Date

    public init(_ release: ModelRelease, publishedAt: Date) {
        version = release.version
        baseVersion = release.baseVersion
        roundID = release.roundID
        modelVersion = release.modelVersion
        privacy = release.privacy
        outcome = release.outcome
        self.publishedAt = publishedAt
    }

    enum CodingKeys: String, CodingKey {
        case version, baseVersion = "base_version", roundID = "round_id", modelVersion = "model_version", privacy, outcome
        case publishedAt = "published_at"
    }
}

public struct ModelReleaseList: Sendable, Codable, Equatable {
    public var releases: [ModelReleaseSummary]

    public init(releases: [ModelReleaseSummary]) {
        self.releases = releases
    }
}
