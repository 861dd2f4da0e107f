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
    /// The capture-normalisation policy per cohort (camera model × site), applied to a live
    /// probe frame before detection. A cohort without an entry gets the identity; at most one
    /// entry per cohort. Releases signed before the field existed have none.
    public var normalisation: [CohortNormalisation]

    public init(version: Int, baseVersion: Int, roundID: Int, backbone: String, adapter: Adapter, privacy: ReleasedPrivacy,
                outcome: ReleasedRoundSummary, createdAt: Date, normalisation: [CohortNormalisation] = []) {
        self.version = version
        self.baseVersion = baseVersion
        self.roundID = roundID
        self.backbone = backbone
        modelVersion = "\(backbone):adapter-\(version)"
        self.adapter = adapter
        self.privacy = privacy
        self.outcome = outcome
        self.createdAt = createdAt
        self.normalisation = normalisation
    }

    /// The policy this release names for a cohort, or the identity when it names none.
    public func normalisation(cameraModel: String, site: String) -> NormalizationPolicy {
        normalisation.first { $0.cameraModel == cameraModel && $0.site == site }?.policy ?? .identity
    }

    /// Sets one cohort's policy, replacing the entry it had, and keeps the entries ordered by
    /// (camera model, site) so that two releases naming the same policies sign the same bytes.
    public mutating func setNormalisation(_ policy: NormalizationPolicy, cameraModel: String, site: String) {
        normalisation.removeAll { $0.cameraModel == cameraModel && $0.site == site }
        normalisation.append(CohortNormalisation(cameraModel: cameraModel, site: site, policy: policy))
        normalisation.sort { ($0.cameraModel, $0.site) < ($1.cameraModel, $1.site) }
    }

    enum CodingKeys: String, CodingKey {
        case version, baseVersion = "base_version", roundID = "round_id", backbone, modelVersion = "model_version", adapter
        case privacy, outcome, createdAt = "created_at", normalisation
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        baseVersion = try container.decode(Int.self, forKey: .baseVersion)
        roundID = try container.decode(Int.self, forKey: .roundID)
        backbone = try container.decode(String.self, forKey: .backbone)
        modelVersion = try container.decode(String.self, forKey: .modelVersion)
        adapter = try container.decode(Adapter.self, forKey: .adapter)
        privacy = try container.decode(ReleasedPrivacy.self, forKey: .privacy)
        outcome = try container.decode(ReleasedRoundSummary.self, forKey: .outcome)
        createdAt = try container.decode(Date.self, forKey: .createdAt)
        // Absent in releases signed before policies were part of a release: they still verify
        // and decode, and name the identity for every cohort. A `null` is not absence.
        normalisation = container.contains(.normalisation) ? try container.decode([CohortNormalisation].self, forKey: .normalisation) : []
        if let duplicate = CohortNormalisation.firstDuplicate(in: normalisation) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: container.codingPath + [CodingKeys.normalisation],
                debugDescription: "normalisation names camera_model \(duplicate.cameraModel) at site \(duplicate.site) more than once"))
        }
    }
}

/// One cohort's capture-normalisation policy inside a model release. Strict like the policy
/// itself: unknown keys, a `null` and an empty or oversized name are refused, so a release
/// that decodes names each of its policies without doubt.
public struct CohortNormalisation: Sendable, Codable, Equatable {
    /// The longest camera model or site name, as everywhere a cohort is named on the wire.
    public static let maxNameLength = 128

    public var cameraModel: String
    public var site: String
    public var policy: NormalizationPolicy

    public init(cameraModel: String, site: String, policy: NormalizationPolicy) {
        self.cameraModel = cameraModel
        self.site = site
        self.policy = policy
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case cameraModel = "camera_model", site, policy
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let allowed = CodingKeys.allCases.map(\.rawValue)
        let any = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = any.allKeys.map(\.stringValue).filter({ !allowed.contains($0) }).sorted().first {
            throw DecodingError.dataCorrupted(.init(codingPath: any.codingPath + [AnyKey(stringValue: unknown)],
                                                    debugDescription: "\(unknown) is not a known key (known: \(allowed.joined(separator: ", ")))"))
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        cameraModel = try Self.name(container, .cameraModel)
        site = try Self.name(container, .site)
        policy = try container.decode(NormalizationPolicy.self, forKey: .policy)
    }

    private static func name(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> String {
        let value = try container.decode(String.self, forKey: key)
        guard !value.isEmpty, value.utf8.count <= maxNameLength else {
            throw DecodingError.dataCorruptedError(forKey: key, in: container,
                                                   debugDescription: "\(key.rawValue) must have 1 to \(maxNameLength) bytes")
        }
        return value
    }

    /// The first entry whose cohort an earlier entry already names.
    public static func firstDuplicate(in entries: [CohortNormalisation]) -> CohortNormalisation? {
        var seen: Set<[String]> = []
        return entries.first { !seen.insert([$0.cameraModel, $0.site]).inserted }
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
