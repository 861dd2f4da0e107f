import FederationCore
import Foundation

/// `POST /v1/policy-searches`: search for one cohort's capture-normalisation policy. Each
/// candidate becomes a signed model release with the base release's adapter, scored in
/// shadow by the cohort's kiosks.
public struct PolicySearchRequest: Sendable, Equatable, Encodable {
    /// The most candidates one request may name; without any, the server's grid is used.
    public static let maxCandidates = 8
    public static let members: Set<String> = ["camera_model", "site", "base_version", "target_fmr", "candidates"]

    public var cameraModel: String
    public var site: String
    /// The release whose adapter the candidates carry, 0 for the backbone; by default the
    /// release in fleet for the cohort (the backbone when none is).
    public var baseVersion: Int?
    /// By default the server's rollout target FMR.
    public var targetFMR: Double?
    /// 1 to `maxCandidates` policies; nil for the server's grid.
    public var candidates: [NormalizationPolicy]?

    public init(cameraModel: String, site: String, baseVersion: Int? = nil, targetFMR: Double? = nil,
                candidates: [NormalizationPolicy]? = nil) {
        self.cameraModel = cameraModel
        self.site = site
        self.baseVersion = baseVersion
        self.targetFMR = targetFMR
        self.candidates = candidates
    }

    enum CodingKeys: String, CodingKey {
        case cameraModel = "camera_model", site, baseVersion = "base_version", targetFMR = "target_fmr", candidates
    }

    private struct Index: CodingKey {
        var intValue: Int?
        var stringValue: String
        init(intValue: Int) {
            self.intValue = intValue
            stringValue = "\(intValue)"
        }
        init(stringValue: String) {
            intValue = nil
            self.stringValue = stringValue
        }
    }
}

extension PolicySearchRequest: Decodable {
    /// A candidate policy that is refused is reported at its own path
    /// (`candidates/2/clahe/tiles_x`) with the policy's own message.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        cameraModel = try container.decode(String.self, forKey: .cameraModel)
        site = try container.decode(String.self, forKey: .site)
        baseVersion = try container.decodeIfPresent(Int.self, forKey: .baseVersion)
        targetFMR = try container.decodeIfPresent(Double.self, forKey: .targetFMR)
        guard container.contains(.candidates) else {
            candidates = nil
            return
        }
        var items = try container.nestedUnkeyedContainer(forKey: .candidates)
        var policies: [NormalizationPolicy] = []
        while !items.isAtEnd {
            let index = items.currentIndex
            do {
                policies.append(try items.decode(NormalizationPolicy.self))
            } catch let error as NormalizationPolicyError {
                let path = container.codingPath + [CodingKeys.candidates, Index(intValue: index)]
                    + error.field.split(separator: ".").map { Index(stringValue: String($0)) }
                throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "candidates[\(index)]: \(error.description)"))
            }
        }
        candidates = policies
    }
}

/// `POST /v1/policy-searches/{id}/propose`: the canary kiosks of the leader, by name or as a
/// stable share of the cohort (as `POST …/canary` takes them).
public struct PolicySearchProposal: Sendable, Codable, Equatable {
    public static let members: Set<String> = ["devices", "percent"]
    public var devices: [String]?
    public var percent: Double?

    public init(devices: [String]? = nil, percent: Double? = nil) {
        self.devices = devices
        self.percent = percent
    }
}

/// The genuine and impostor attempts a candidate's comparison still lacks before it can
/// decide. `genuine` is a planning figure (McNemar's power at 0.8, assuming the disagreement
/// seen so far persists), nil while there is nothing to plan from.
public struct OutcomesStillNeeded: Sendable, Codable, Equatable {
    public var genuine: Int?
    public var impostors: Int

    public init(genuine: Int?, impostors: Int) {
        self.genuine = genuine
        self.impostors = impostors
    }
}

/// One candidate of a search as engineers see it.
public struct PolicySearchCandidateView: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable {
        case active, eliminated, proposed, retired
    }

    /// The candidate's model release.
    public var version: Int
    public var modelVersion: String
    /// `PolicyCandidates.identifier` of the policy.
    public var policyID: String
    public var policy: NormalizationPolicy
    /// The refinement step that added it (0: the first round).
    public var step: Int
    public var state: State
    /// 1 for the best of the ranked candidates; nil for one that could not be ranked yet.
    public var rank: Int?
    /// The model it is compared with: the one that decides in the cohort (the base).
    public var currentModelVersion: String
    public var currentThreshold: Double?
    public var candidateThreshold: Double?
    public var genuineAttempts: Int
    public var impostorAttempts: Int
    public var figures: PairedFigures?
    public var verdict: CohortVerdict
    public var reason: String
    public var outcomesNeeded: OutcomesStillNeeded?

    public init(version: Int, modelVersion: String, policyID: String, policy: NormalizationPolicy, step: Int, state: State, rank: Int?,
                currentModelVersion: String, currentThreshold: Double?, candidateThreshold: Double?, genuineAttempts: Int,
                impostorAttempts: Int, figures: PairedFigures?, verdict: CohortVerdict, reason: String, outcomesNeeded: OutcomesStillNeeded?) {
        self.version = version
        self.modelVersion = modelVersion
        self.policyID = policyID
        self.policy = policy
        self.step = step
        self.state = state
        self.rank = rank
        self.currentModelVersion = currentModelVersion
        self.currentThreshold = currentThreshold
        self.candidateThreshold = candidateThreshold
        self.genuineAttempts = genuineAttempts
        self.impostorAttempts = impostorAttempts
        self.figures = figures
        self.verdict = verdict
        self.reason = reason
        self.outcomesNeeded = outcomesNeeded
    }

    enum CodingKeys: String, CodingKey {
        case version, modelVersion = "model_version", policyID = "policy_id", policy, step, state, rank
        case currentModelVersion = "current_model_version", currentThreshold = "current_threshold"
        case candidateThreshold = "candidate_threshold", genuineAttempts = "genuine_attempts", impostorAttempts = "impostor_attempts"
        case figures, verdict, reason, outcomesNeeded = "outcomes_needed"
    }
}

/// A policy search: its cohort and base, and its candidates ranked on the outcomes so far.
public struct PolicySearchView: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable {
        case searching, proposed
    }

    public var id: Int
    public var cameraModel: String
    public var site: String
    public var baseVersion: Int
    public var baseModelVersion: String
    public var targetFMR: Double
    public var confidence: Double
    public var margin: Double
    public var state: State
    public var step: Int
    /// The candidate `propose` would move to canary (`CandidateRanking.leader`: the first that
    /// offers promotion, better or not worse, with a lower FNMR than the base), else nil.
    public var leader: Int?
    public var proposedVersion: Int?
    /// Active candidates in rank order (ranked ones first), then the others in the order they came.
    public var candidates: [PolicySearchCandidateView]
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date
    public var computedAt: Date

    public init(id: Int, cameraModel: String, site: String, baseVersion: Int, baseModelVersion: String, targetFMR: Double,
                confidence: Double, margin: Double, state: State, step: Int, leader: Int?,
                proposedVersion: Int?, candidates: [PolicySearchCandidateView], createdBy: String, createdAt: Date, updatedAt: Date,
                computedAt: Date) {
        self.id = id
        self.cameraModel = cameraModel
        self.site = site
        self.baseVersion = baseVersion
        self.baseModelVersion = baseModelVersion
        self.targetFMR = targetFMR
        self.confidence = confidence
        self.margin = margin
        self.state = state
        self.step = step
        self.leader = leader
        self.proposedVersion = proposedVersion
        self.candidates = candidates
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.computedAt = computedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, cameraModel = "camera_model", site, baseVersion = "base_version", baseModelVersion = "base_model_version"
        case targetFMR = "target_fmr", confidence, margin, state, step
        case leader, proposedVersion = "proposed_version", candidates, createdBy = "created_by", createdAt = "created_at"
        case updatedAt = "updated_at", computedAt = "computed_at"
    }
}

/// `GET /v1/policy-searches`: every search, without its ranking (`GET …/{id}` ranks).
public struct PolicySearchSummary: Sendable, Codable, Equatable {
    public var id: Int
    public var cameraModel: String
    public var site: String
    public var baseVersion: Int
    public var targetFMR: Double
    public var state: PolicySearchView.State
    public var step: Int
    public var activeCandidates: [Int]
    public var proposedVersion: Int?
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: Int, cameraModel: String, site: String, baseVersion: Int, targetFMR: Double, state: PolicySearchView.State,
                step: Int, activeCandidates: [Int], proposedVersion: Int?, createdBy: String, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.cameraModel = cameraModel
        self.site = site
        self.baseVersion = baseVersion
        self.targetFMR = targetFMR
        self.state = state
        self.step = step
        self.activeCandidates = activeCandidates
        self.proposedVersion = proposedVersion
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, cameraModel = "camera_model", site, baseVersion = "base_version", targetFMR = "target_fmr", state, step
        case activeCandidates = "active_candidates", proposedVersion = "proposed_version", createdBy = "created_by"
        case createdAt = "created_at", updatedAt = "updated_at"
    }
}

public struct PolicySearchList: Sendable, Codable, Equatable {
    public var searches: [PolicySearchSummary]

    public init(searches: [PolicySearchSummary]) {
        self.searches = searches
    }
}
