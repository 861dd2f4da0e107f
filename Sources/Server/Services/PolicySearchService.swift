import Calibration
import Crypto
import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import Storage
import ThresholdAPI

/// Searches for one cohort's capture-normalisation policy. Every candidate policy is a model
/// release: the base release's adapter and other cohorts' policies, the candidate's policy for
/// the searched cohort, signed with the release key. The candidates are in `shadow` for that
/// cohort only, so its kiosks score them (`shadow_candidates` of their assignment) beside the
/// model that decides; each candidate is then compared with that model on the same attempts,
/// each at its exact threshold for the target FMR on those attempts (`PairedComparison.atTargetFMR`),
/// and the candidates are ranked (`CandidateRanking`). A refinement keeps the better half and
/// adds a lattice around the best (`PolicyCandidates.refine`); a proposal moves the leader
/// (`CandidateRanking.leader`: it offers promotion with a lower FNMR than the model that decides)
/// to canary and takes the others out of shadow. Published thresholds come in only with the
/// proposal, because canary kiosks decide with the leader at its published threshold. Every
/// write is one store transaction with its audit entries.
struct PolicySearchService: Sendable {
    let store: any FeedbackStore
    let federation: any FederationStore
    let searches: any PolicySearchStore
    let settings: RolloutSettings
    let releaseKey: @Sendable () -> Curve25519.Signing.PrivateKey
    let now: @Sendable () -> Date

    /// Kiosks score at most this many candidates of a cohort (`ModelAssignment.maxShadowCandidates`).
    static let maxActiveCandidates = ModelAssignment.maxShadowCandidates
    /// Signing again after a round's release took the versions meanwhile.
    static let signingAttempts = 3

    // MARK: Reading

    func list() async throws -> PolicySearchList {
        PolicySearchList(searches: try await searches.policySearches().map { search in
            PolicySearchSummary(id: search.id, cameraModel: search.cohort.cameraModel, site: search.cohort.site,
                                baseVersion: search.baseVersion, targetFMR: search.targetFMR, state: Self.state(search.state),
                                step: search.step, activeCandidates: search.candidates.filter { $0.state == .active }.map(\.version),
                                proposedVersion: search.proposedVersion, createdBy: search.createdBy, createdAt: search.createdAt,
                                updatedAt: search.updatedAt)
        })
    }

    func show(_ text: String) async throws -> PolicySearchView {
        try await evaluate(try await lookUp(text)).view
    }

    // MARK: Starting

    func start(_ request: PolicySearchRequest, by caller: APITokenRecord) async throws -> PolicySearchView {
        let cohort = RolloutCohort(cameraModel: request.cameraModel, site: request.site)
        guard !cohort.site.isEmpty, !cohort.cameraModel.isEmpty, cohort.site.utf8.count <= 128, cohort.cameraModel.utf8.count <= 128 else {
            throw ProblemResponse(.invalidRequest, "camera_model and site must have 1 to 128 bytes each")
        }
        let target = request.targetFMR ?? settings.targetFMR
        guard target.isFinite, target > 0, target < 1 else { throw ProblemResponse(.invalidRequest, "target_fmr must be within (0, 1)") }
        if let candidates = request.candidates, !(1...PolicySearchRequest.maxCandidates).contains(candidates.count) {
            throw ProblemResponse(.schemaViolation, "candidates must list 1 to \(PolicySearchRequest.maxCandidates) policies, not \(candidates.count)",
                                  errors: [.init(pointer: "/candidates", keyword: candidates.isEmpty ? "minItems" : "maxItems",
                                                 message: "must list 1 to \(PolicySearchRequest.maxCandidates) policies")])
        }
        let stats = try await store.outcomeStats()
        guard stats.byCohort.contains(where: { $0.site == cohort.site && $0.cameraModel == cohort.cameraModel }) else {
            throw ProblemResponse(.invalidRequest, "no outcome has been stored for camera model \(cohort.cameraModel) at site \(cohort.site): "
                                  + "no kiosk of that cohort would score the candidates")
        }
        let releases = try await releasesByVersion()
        let deciding = ModelRolloutService.fleetVersion(cohort: cohort, rollouts: try await federation.modelRollouts())
        let baseVersion = request.baseVersion ?? deciding
        guard baseVersion == 0 || releases[baseVersion] != nil else {
            throw ProblemResponse(.invalidRequest, "no model release \(baseVersion)")
        }
        guard baseVersion == deciding else {
            throw ProblemResponse(.invalidRequest, "release \(baseVersion) does not decide for \(cohort.cameraModel) at \(cohort.site); "
                                  + (deciding == 0 ? "the backbone does (base_version 0)" : "release \(deciding) does"))
        }
        let base = releases[baseVersion]
        let basePolicy = base?.normalisation(cameraModel: cohort.cameraModel, site: cohort.site) ?? .identity
        var policies = request.candidates ?? PolicyCandidates.grid().filter { $0 != basePolicy }
        if request.candidates != nil {
            for (index, policy) in policies.enumerated() {
                if policy == basePolicy {
                    throw ProblemResponse(.invalidRequest, "candidates[\(index)] is the base's own policy for this cohort, which it scores already")
                }
                if let earlier = policies[..<index].firstIndex(of: policy) {
                    throw ProblemResponse(.invalidRequest, "candidates[\(index)] is the same policy as candidates[\(earlier)]")
                }
            }
        }
        policies = Array(policies.prefix(Self.maxActiveCandidates))
        let time = now()
        let search = StoredPolicySearch(id: 0, cohort: cohort, baseVersion: baseVersion, targetFMR: target, state: .searching, step: 0,
                                        candidates: [], proposedVersion: nil, createdBy: caller.actor, createdAt: time, updatedAt: time)
        let written = try await write(search, expectedStep: 0, adding: policies, step: 0, base: base, moves: [], by: caller, at: time)
        return try await evaluate(written).view
    }

    // MARK: Refining

    /// Successive halving: the better half of the ranked candidates stays (never a `worse`
    /// one), the rest leave shadow, and the lattice around the best ranked candidate joins.
    func refine(_ text: String, by caller: APITokenRecord) async throws -> PolicySearchView {
        let search = try await lookUp(text)
        guard search.state == .searching else {
            throw ProblemResponse(.releaseStateConflict, "policy search \(search.id) is \(search.state.rawValue); only a search that is searching is refined")
        }
        let evaluation = try await evaluate(search)
        guard let best = evaluation.ranking?.entries.first(where: { $0.comparison.candidateFNMR != nil }),
              let centre = evaluation.candidates.first(where: { $0.modelVersion == best.candidate }) else {
            throw ProblemResponse(.insufficientData, "no candidate can be ranked yet: each needs genuine attempts and "
                                  + "\(evaluation.impostorsNeeded) impostor attempts scored by both itself and \(evaluation.view.baseModelVersion)")
        }
        let keep = Set(try evaluation.ranking?.halving() ?? [])
        let time = now()
        var next = search
        next.step += 1
        next.updatedAt = time
        var moves: [PolicySearchMove] = []
        for index in next.candidates.indices where next.candidates[index].state == .active {
            guard let candidate = evaluation.candidates.first(where: { $0.version == next.candidates[index].version }),
                  !keep.contains(candidate.modelVersion) else { continue }
            guard candidate.active else {
                // Rolled back by hand: the search lets it go.
                next.candidates[index].state = .retired
                continue
            }
            next.candidates[index].state = .eliminated
            moves.append(try await leaveShadow(candidate.version,
                                               reason: "policy search \(search.id), step \(next.step): left out by successive halving", at: time))
        }
        let tried = Set(evaluation.candidates.map(\.policy)).union([evaluation.basePolicy])
        let room = Self.maxActiveCandidates - next.candidates.count { $0.state == .active }
        let lattice: [NormalizationPolicy]
        do {
            lattice = try PolicyCandidates.refine(around: centre.policy, step: next.step)
        } catch {
            throw ProblemResponse(.invalidRequest, "the lattice around release \(centre.version) cannot be built: \(error)")
        }
        let added = Array(lattice.filter { !tried.contains($0) }.prefix(max(room, 0)))
        let base = try await releasesByVersion()[search.baseVersion]
        let written = try await write(next, expectedStep: search.step, adding: added, step: next.step, base: base, moves: moves, by: caller,
                                      at: time)
        return try await evaluate(written).view
    }

    // MARK: Proposing

    /// The leader (`CandidateRanking.leader`) goes to canary for the searched cohort, decided on the
    /// kiosks named (or the share of them); every other active candidate leaves shadow.
    func propose(_ text: String, proposal: PolicySearchProposal, by caller: APITokenRecord) async throws -> PolicySearchView {
        let search = try await lookUp(text)
        guard search.state == .searching else {
            throw ProblemResponse(.releaseStateConflict, "policy search \(search.id) is \(search.state.rawValue); only a search that is searching proposes")
        }
        let devices = proposal.devices ?? []
        switch (devices.isEmpty, proposal.percent) {
        case (false, nil):
            for device in devices where try await store.device(id: device) == nil {
                throw ProblemResponse(.invalidRequest, "no enrolled kiosk is called \(device)")
            }
        case let (true, percent?):
            guard percent.isFinite, percent > 0, percent <= 100 else { throw ProblemResponse(.invalidRequest, "percent must be within (0, 100]") }
        default:
            throw ProblemResponse(.invalidRequest, "name the canary kiosks (devices) or a share of the cohort's kiosks (percent), not both")
        }
        let evaluation = try await evaluate(search)
        guard let leader = evaluation.ranking?.leader,
              let winner = evaluation.candidates.first(where: { $0.modelVersion == leader.candidate }) else {
            let reasons = evaluation.view.candidates.filter { $0.state == .active }
                .map { "release \($0.version): \($0.verdict.rawValue) (\($0.reason))" }.joined(separator: "; ")
            throw ProblemResponse(.promotionRefused, "no candidate of policy search \(search.id) offers promotion (better, or not worse) "
                                  + "with a lower FNMR than \(evaluation.view.baseModelVersion)"
                                  + (reasons.isEmpty ? "" : ": " + reasons))
        }
        let rollouts = try await federation.modelRollouts()
        if let other = rollouts.first(where: { $0.state == .canary || ($0.state == .shadow && $0.cohorts.isEmpty) }) {
            throw ProblemResponse(.releaseStateConflict,
                                  "release \(other.version) is in \(other.state.rawValue); finish or roll back its rollout first")
        }
        guard let stored = rollouts.first(where: { $0.version == winner.version }), stored.state == .shadow else {
            throw ProblemResponse(.releaseStateConflict, "release \(winner.version) is no longer in shadow; look again")
        }
        let published = try await store.thresholdReleases().last(where: { $0.state == .published })
        let thresholds = try published.map { try DecodedReleases.decode($0.payload) }
        let key = CohortKey(modelVersion: winner.modelVersion, cameraModel: search.cohort.cameraModel, cohort: search.cohort.site)
        guard thresholds?.entry(for: key) != nil else {
            throw ProblemResponse(.insufficientData, "no published threshold for \(winner.modelVersion) (release \(winner.version)) "
                                  + "for \(search.cohort.cameraModel) at \(search.cohort.site): canary kiosks would keep deciding with "
                                  + "\(evaluation.view.baseModelVersion); compute and publish thresholds from the shadow scores first")
        }
        let time = now()
        let comparison = RolloutComparison(
            releaseVersion: winner.version, thresholdReleaseVersion: nil, thresholds: .exactAtTarget, targetFMR: search.targetFMR,
            confidence: settings.confidence, margin: settings.fnmrMargin, computedAt: time,
            cohorts: [CohortComparison(cohort: RolloutCohortRef(site: search.cohort.site, cameraModel: search.cohort.cameraModel),
                                       currentModelVersion: evaluation.view.baseModelVersion, candidateModelVersion: winner.modelVersion,
                                       currentThreshold: leader.comparison.currentThreshold,
                                       candidateThreshold: leader.comparison.candidateThreshold,
                                       figures: RolloutComparisons.figures(leader.comparison), verdict: RolloutComparisons.verdict(leader.decision),
                                       reason: leader.comparison.reason)])
        var canary = stored
        canary.state = .canary
        canary.cohorts = [search.cohort]
        canary.canaryDevices = devices
        canary.canaryPercent = proposal.percent
        canary.comparison = [UInt8](try WireJSON.encoder().encode(comparison))
        canary.approvals.append(RolloutApproval(step: .canary, tokenID: caller.id, actor: caller.actor, at: time))
        canary.reason = nil
        canary.updatedAt = time
        var moves = [PolicySearchMove(from: [.shadow], next: canary)]
        var next = search
        next.state = .proposed
        next.proposedVersion = winner.version
        next.updatedAt = time
        for index in next.candidates.indices where next.candidates[index].state == .active {
            if next.candidates[index].version == winner.version {
                next.candidates[index].state = .proposed
            } else {
                next.candidates[index].state = .retired
                guard evaluation.candidates.contains(where: { $0.version == next.candidates[index].version && $0.active }) else { continue }
                moves.append(try await leaveShadow(next.candidates[index].version,
                                                   reason: "policy search \(search.id) proposed release \(winner.version)", at: time))
            }
        }
        let written = try await apply(PolicySearchWrite(search: next, expectedStep: search.step, releases: [], moves: moves,
                                                        actor: caller.actor))
        return try await evaluate(written).view
    }

    // MARK: Writing

    /// Signs a release per policy and writes them with `moves` and the search; signs again
    /// when a round's release took the versions meanwhile.
    private func write(_ search: StoredPolicySearch, expectedStep: Int, adding policies: [NormalizationPolicy], step: Int,
                       base: ModelRelease?, moves: [PolicySearchMove], by caller: APITokenRecord, at time: Date) async throws -> StoredPolicySearch {
        for _ in 1...Self.signingAttempts {
            let newest = try await federation.modelReleases().map(\.version).max() ?? 0
            var next = search
            var releases: [NewModelRelease] = []
            var allMoves = moves
            for (offset, policy) in policies.enumerated() {
                let version = newest + 1 + offset
                releases.append(try candidateRelease(version: version, policy: policy, cohort: search.cohort, baseVersion: search.baseVersion,
                                                     base: base, at: time))
                next.candidates.append(PolicySearchCandidate(version: version, step: step, state: .active))
                allMoves.append(PolicySearchMove(from: [.candidate], next: StoredModelRollout(
                    version: version, state: .shadow, cohorts: [search.cohort],
                    approvals: [RolloutApproval(step: .shadow, tokenID: caller.id, actor: caller.actor, at: time)], updatedAt: time)))
            }
            let result = try await searches.writePolicySearch(PolicySearchWrite(search: next, expectedStep: expectedStep, releases: releases,
                                                                                moves: allMoves, actor: caller.actor))
            if case .versionsTaken = result { continue }
            return try Self.written(result)
        }
        throw ProblemResponse(.releaseStateConflict, "model releases kept being published meanwhile; try again")
    }

    private func apply(_ write: PolicySearchWrite) async throws -> StoredPolicySearch {
        try Self.written(try await searches.writePolicySearch(write))
    }

    private static func written(_ result: PolicySearchWriteResult) throws -> StoredPolicySearch {
        switch result {
        case let .written(search): return search
        case let .cohortBusy(id):
            throw ProblemResponse(.releaseStateConflict, "policy search \(id) is still searching in this cohort; propose it first")
        case .noSuchSearch: throw ProblemResponse(.notFound, "no such policy search")
        case .searchChanged: throw ProblemResponse(.releaseStateConflict, "the policy search changed meanwhile; look again")
        case let .rolloutChanged(version):
            throw ProblemResponse(.releaseStateConflict, "release \(version) changed state meanwhile; look again")
        case .versionsTaken: throw ProblemResponse(.releaseStateConflict, "model releases were published meanwhile; try again")
        }
    }

    /// `shadow → rolled_back` for a candidate that is no longer scored.
    private func leaveShadow(_ version: Int, reason: String, at time: Date) async throws -> PolicySearchMove {
        guard var rollout = try await federation.modelRollout(version: version), rollout.state == .shadow else {
            throw ProblemResponse(.releaseStateConflict, "release \(version) is no longer in shadow; look again")
        }
        rollout.state = .rolledBack
        rollout.reason = reason
        rollout.updatedAt = time
        return PolicySearchMove(from: [.shadow], next: rollout)
    }

    /// The base's adapter, privacy and other cohorts' policies, with `policy` for `cohort`.
    func candidateRelease(version: Int, policy: NormalizationPolicy, cohort: RolloutCohort, baseVersion: Int, base: ModelRelease?,
                          at time: Date) throws -> NewModelRelease {
        var release = ModelRelease(version: version, baseVersion: baseVersion, roundID: base?.roundID ?? 0, backbone: RoundCloser.backbone,
                                   adapter: base?.adapter ?? Adapter.identity(), privacy: try base?.privacy ?? Self.noRoundPrivacy(),
                                   outcome: base?.outcome ?? ReleasedRoundSummary(RoundOutcome(accepted: [], rejected: [], adjusted: [],
                                                                                               baseline: nil, candidate: nil,
                                                                                               releaseVersion: nil, reason: nil)),
                                   createdAt: time, normalisation: base?.normalisation ?? [])
        release.setNormalisation(policy, cameraModel: cohort.cameraModel, site: cohort.site)
        let payload = try ModelReleaseCoding.canonicalBytes(release)
        let envelope = try SignedRelease.sign(kind: .model, version: version, payload: payload, key: releaseKey(), at: time)
        return NewModelRelease(version: version, payload: payload, envelope: [UInt8](try WireJSON.encoder().encode(envelope)))
    }

    /// The privacy of a candidate searched from the backbone: no round, no data, nothing spent.
    static func noRoundPrivacy() throws -> ReleasedPrivacy {
        let statement = """
            {"privacy_unit":"kiosk","mechanism":"none: the identity adapter, which no round trained","clipping_norm":0,\
            "noise_multiplier":0,"sampling_rate":0,"rounds":0,"cumulative_rounds":0,"delta":0,"epsilon_rdp":0,"epsilon_pld":0,\
            "cumulative_epsilon_rdp":0,"cumulative_epsilon_pld":0,"accountants":"none"}
            """
        return try WireJSON.decoder().decode(ReleasedPrivacy.self, from: Data(statement.utf8))
    }

    // MARK: Ranking

    struct Candidate {
        var version: Int
        var modelVersion: String
        var policy: NormalizationPolicy
        var stored: PolicySearchCandidate
        /// Active in the search and still in shadow (an engineer may have rolled it back).
        var active: Bool
        var comparison: PairedComparison?
        var view: PolicySearchCandidateView
    }

    struct Evaluation {
        var view: PolicySearchView
        var candidates: [Candidate]
        var ranking: CandidateRanking?
        var basePolicy: NormalizationPolicy
        /// Impostor attempts a candidate needs before it is compared: Clopper–Pearson's count at the target FMR.
        var impostorsNeeded: Int
    }

    /// Every candidate compared with the base on the attempts both scored in the cohort, each
    /// model at its exact threshold for the target FMR on those attempts' impostor scores; the
    /// active ones ranked. A candidate with fewer impostor attempts than the target FMR needs
    /// is not compared: its threshold would rest on too few false matches to say anything.
    func evaluate(_ search: StoredPolicySearch) async throws -> Evaluation {
        let releases = try await releasesByVersion()
        let baseModelVersion = releases[search.baseVersion]?.modelVersion ?? RolloutSettings.backboneModelVersion
        let basePolicy = releases[search.baseVersion]?.normalisation(cameraModel: search.cohort.cameraModel, site: search.cohort.site)
            ?? .identity
        // Only attempts another model also scored can pair; the others are not read.
        let outcomes = try await store.calibrationOutcomes(from: nil, to: nil, scoredInShadowOnly: true)
        let releaseVersions = Dictionary(releases.map { ($0.value.modelVersion, $0.key) }, uniquingKeysWith: max)
        let pairs = RolloutComparisons.pairedAttempts(outcomes, releaseVersions: releaseVersions)
        let bootstrap = try SubjectBootstrap(resamples: settings.bootstrapResamples, confidence: settings.confidence, seed: settings.bootstrapSeed)
        let impostorsNeeded = try OutcomesNeeded.impostorAttempts(targetFMR: search.targetFMR, confidence: settings.confidence)
        let ref = RolloutCohortRef(site: search.cohort.site, cameraModel: search.cohort.cameraModel)
        let inShadow = Set(try await federation.modelRollouts().filter { $0.state == .shadow }.map(\.version))
        var candidates: [Candidate] = []
        for stored in search.candidates {
            guard let release = releases[stored.version] else {
                throw ProblemResponse(.internalError, "model release \(stored.version) of policy search \(search.id) is missing from the store")
            }
            let policy = release.normalisation(cameraModel: search.cohort.cameraModel, site: search.cohort.site)
            let attempts = pairs[RolloutComparisons.Pairing(candidateModelVersion: release.modelVersion, cohort: ref,
                                                            currentModelVersion: baseModelVersion)] ?? []
            var comparison: PairedComparison?
            var verdict = CohortVerdict.insufficientData
            var reason: String
            var needed: OutcomesStillNeeded?
            let impostors = attempts.count { $0.label == .impostor }
            if impostors >= impostorsNeeded {
                let result = try PairedComparison.atTargetFMR(attempts: attempts, targetFMR: search.targetFMR, confidence: settings.confidence,
                                                              margin: settings.fnmrMargin, bootstrap: bootstrap)
                comparison = result
                verdict = RolloutComparisons.verdict(result.decision)
                reason = result.reason
                if verdict != .better, verdict != .worse {
                    needed = OutcomesStillNeeded(genuine: (try? OutcomesNeeded.remainingGenuineAttempts(for: result)) ?? nil, impostors: 0)
                }
            } else {
                reason = "\(impostors) impostor attempts scored by both \(baseModelVersion) and \(release.modelVersion); "
                    + "a threshold at FMR \(search.targetFMR) needs \(impostorsNeeded)"
                needed = OutcomesStillNeeded(genuine: nil, impostors: impostorsNeeded - impostors)
            }
            let active = stored.state == .active && inShadow.contains(stored.version)
            let view = PolicySearchCandidateView(
                version: stored.version, modelVersion: release.modelVersion, policyID: PolicyCandidates.identifier(policy), policy: policy,
                step: stored.step, state: active || stored.state != .active
                    ? PolicySearchCandidateView.State(rawValue: stored.state.rawValue) ?? .retired : .retired, rank: nil,
                currentModelVersion: baseModelVersion, currentThreshold: comparison?.currentThreshold,
                candidateThreshold: comparison?.candidateThreshold,
                genuineAttempts: attempts.count { $0.label == .genuine }, impostorAttempts: impostors,
                figures: comparison.flatMap(RolloutComparisons.figures), verdict: verdict, reason: reason, outcomesNeeded: needed)
            candidates.append(Candidate(version: stored.version, modelVersion: release.modelVersion, policy: policy, stored: stored,
                                        active: active, comparison: comparison, view: view))
        }
        let ranked = candidates.filter(\.active).compactMap { candidate in
            candidate.comparison.map { (candidate: candidate.modelVersion, comparison: $0) }
        }
        let ranking = ranked.isEmpty ? nil : try CandidateRanking(ranked)
        var ordered: [PolicySearchCandidateView] = []
        for (rank, entry) in (ranking?.entries ?? []).enumerated() {
            guard var view = candidates.first(where: { $0.modelVersion == entry.candidate })?.view else { continue }
            view.rank = rank + 1
            ordered.append(view)
        }
        let rankedVersions = Set(ordered.map(\.version))
        ordered += candidates.filter { $0.active && !rankedVersions.contains($0.version) }.map(\.view)
        ordered += candidates.filter { !$0.active }.map(\.view)
        let leader = ranking?.leader.flatMap { entry in candidates.first { $0.modelVersion == entry.candidate }?.version }
        let view = PolicySearchView(
            id: search.id, cameraModel: search.cohort.cameraModel, site: search.cohort.site, baseVersion: search.baseVersion,
            baseModelVersion: baseModelVersion, targetFMR: search.targetFMR, confidence: settings.confidence, margin: settings.fnmrMargin,
            state: Self.state(search.state), step: search.step,
            leader: search.state == .searching ? leader : nil, proposedVersion: search.proposedVersion, candidates: ordered,
            createdBy: search.createdBy, createdAt: search.createdAt, updatedAt: search.updatedAt, computedAt: now())
        return Evaluation(view: view, candidates: candidates, ranking: ranking, basePolicy: basePolicy, impostorsNeeded: impostorsNeeded)
    }

    // MARK: Helpers

    private func lookUp(_ text: String) async throws -> StoredPolicySearch {
        guard let id = Int(text), let search = try await searches.policySearch(id: id) else {
            throw ProblemResponse(.notFound, "no policy search \(text)")
        }
        return search
    }

    private func releasesByVersion() async throws -> [Int: ModelRelease] {
        var releases: [Int: ModelRelease] = [:]
        for stored in try await federation.modelReleases() {
            releases[stored.version] = try ModelReleaseCoding.decode(stored.payload)
        }
        return releases
    }

    static func state(_ state: PolicySearchState) -> PolicySearchView.State {
        switch state {
        case .searching: .searching
        case .proposed: .proposed
        }
    }
}
