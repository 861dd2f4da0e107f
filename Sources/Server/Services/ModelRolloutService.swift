import Calibration
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import Storage
import ThresholdAPI

/// The rollout of model releases: `candidate → shadow → canary → fleet`, or `rolled_back`.
/// Each step is an engineer's approval (two for `fleet`), kept with the release and logged
/// in the audit log by the store. Canary and fleet hold only the cohorts whose paired
/// comparison offers promotion, and a kiosk is told to decide with a model only where a
/// published threshold exists for that model and its cohort.
struct ModelRolloutService: Sendable {
    let store: any FeedbackStore
    let federation: any FederationStore
    let settings: RolloutSettings
    let now: @Sendable () -> Date

    /// Every release with its rollout, newest last.
    func rollouts() async throws -> RolloutList {
        let releases = try await releasesByVersion()
        return RolloutList(rollouts: try await federation.modelRollouts().compactMap { stored in
            try releases[stored.version].map { try Self.view(stored, release: $0) }
        })
    }

    func rollout(_ text: String) async throws -> RolloutView {
        let (stored, release) = try await lookUp(text)
        return try Self.view(stored, release: release)
    }

    /// The signed envelope of release `text`, which kiosks verify before use.
    func envelope(_ text: String) async throws -> [UInt8] {
        guard let version = Int(text), let stored = try await federation.modelRelease(version: version) else {
            throw ProblemResponse(.notFound, "no model release \(text)")
        }
        return stored.envelope
    }

    // MARK: The kiosk's assignment

    /// The model that decides on `deviceID`'s kiosk in the cohort it names, the model it scores
    /// in shadow, and why.
    /// For a kiosk enrolled for `site` only.
    func assignment(device: DeviceRecord, site: String, cameraModel: String) async throws -> ModelAssignment {
        guard !site.isEmpty, !cameraModel.isEmpty, site.utf8.count <= 128, cameraModel.utf8.count <= 128 else {
            throw ProblemResponse(.invalidRequest, "name the kiosk's cohort: ?site=…&camera_model=… (1 to 128 bytes each)")
        }
        try KioskSites.require([site], of: device)
        let deviceID = device.deviceID
        let releases = try await releasesByVersion()
        let rollouts = try await federation.modelRollouts()
        return try Self.assignment(deviceID: deviceID, cohort: RolloutCohort(cameraModel: cameraModel, site: site),
                                   rollouts: rollouts, releases: releases)
    }

    /// The assignment rule, apart from the store: the newest `fleet` release that holds the
    /// cohort decides (the backbone where none does); a release in `canary` decides instead on
    /// its canary kiosks of its cohorts; a release in `shadow` or `canary` is scored in shadow
    /// wherever it does not decide, and where it decides the model it replaces is. A release in
    /// shadow for named cohorts only is a policy search's candidate: it is one of the cohort's
    /// `shadow_candidates`, and so is the shadow model whenever its capture-normalisation
    /// policy for the cohort differs from the deciding model's (its score then needs the probe
    /// normalised its own way, not the decided descriptors).
    static func assignment(deviceID: String, cohort: RolloutCohort, rollouts: [StoredModelRollout],
                           releases: [Int: ModelRelease]) throws -> ModelAssignment {
        func model(_ version: Int) -> AssignedModel {
            AssignedModel(version: version, modelVersion: releases[version]?.modelVersion ?? RolloutSettings.backboneModelVersion)
        }
        func policy(_ version: Int) -> NormalizationPolicy {
            releases[version]?.normalisation(cameraModel: cohort.cameraModel, site: cohort.site) ?? .identity
        }
        let fleet = fleetVersion(cohort: cohort, rollouts: rollouts)
        let base = model(fleet)
        var decide = base
        var shadow: AssignedModel?
        var reason = fleet > 0 ? "release \(fleet) is in fleet for \(cohort.cameraModel) at \(cohort.site)"
            : "no release is in fleet for \(cohort.cameraModel) at \(cohort.site); the backbone decides"
        let active = rollouts.filter { $0.state == .canary || ($0.state == .shadow && $0.cohorts.isEmpty) }.max { $0.version < $1.version }
        if let active {
            let inCanary = active.state == .canary && active.cohorts.contains(cohort)
                && (active.canaryDevices.contains(deviceID)
                    || active.canaryPercent.map { CanarySelection.includes(deviceID: deviceID, percent: $0) } ?? false)
            if inCanary {
                decide = model(active.version)
                shadow = base
                reason = "this kiosk is in release \(active.version)'s canary for \(cohort.cameraModel) at \(cohort.site); "
                    + "the model it replaces is scored in shadow"
            } else if active.version != decide.version {
                shadow = model(active.version)
                reason += "; release \(active.version) is scored in shadow"
            }
        }
        var candidates = rollouts.filter { $0.state == .shadow && $0.cohorts.contains(cohort) && $0.version != decide.version }
            .sorted { $0.version < $1.version }.map { model($0.version) }
        if let scored = shadow, policy(scored.version) != policy(decide.version) {
            // The backbone has no release to name its policy and adapter by: a canary kiosk
            // then scores nothing for it, and the comparison comes from the cohort's other kiosks.
            if scored.version > 0 { candidates.insert(scored, at: 0) }
            shadow = nil
        }
        if !candidates.isEmpty {
            reason += "; \(candidates.count) candidate(s) scored under their own capture normalisation"
        }
        return ModelAssignment(deviceID: deviceID, site: cohort.site, cameraModel: cohort.cameraModel, decide: decide,
                               shadow: shadow, rolloutVersion: active?.version, rolloutStage: active.map { Self.stage($0.state) },
                               reason: reason, shadowCandidates: Array(candidates.prefix(ModelAssignment.maxShadowCandidates)))
    }

    /// The release in `fleet` for the cohort (the newest, if several are), 0 for the backbone.
    static func fleetVersion(cohort: RolloutCohort, rollouts: [StoredModelRollout]) -> Int {
        rollouts.filter { $0.state == .fleet && $0.cohorts.contains(cohort) }.map(\.version).max() ?? 0
    }

    // MARK: Steps

    /// `candidate → shadow`: kiosks start scoring the release beside the model that decides.
    func shadow(_ text: String, by caller: APITokenRecord) async throws -> RolloutView {
        let (stored, release) = try await lookUp(text)
        guard stored.state == .candidate else {
            throw ProblemResponse(.releaseStateConflict, "release \(stored.version) is \(stored.state.rawValue); only a candidate enters shadow")
        }
        // A policy search's candidates (in shadow for named cohorts) do not stand in the way.
        if let other = try await federation.modelRollouts().first(where: { ($0.state == .shadow && $0.cohorts.isEmpty) || $0.state == .canary }) {
            throw ProblemResponse(.releaseStateConflict,
                                  "release \(other.version) is in \(other.state.rawValue); finish or roll back its rollout first")
        }
        var next = stored
        next.state = .shadow
        next.approvals.append(RolloutApproval(step: .shadow, tokenID: caller.id, actor: caller.actor, at: now()))
        next.reason = nil
        next.updatedAt = now()
        return try await transition(stored, from: [.candidate], to: next, release: release, actor: caller.actor)
    }

    /// `shadow → canary` for the cohorts whose comparison offers promotion.
    func canary(_ text: String, request: CanaryRequest, by caller: APITokenRecord) async throws -> RolloutView {
        let (stored, release) = try await lookUp(text)
        guard stored.state == .shadow else {
            throw ProblemResponse(.releaseStateConflict, "release \(stored.version) is \(stored.state.rawValue); only a release in shadow enters canary")
        }
        let devices = request.devices ?? []
        switch (devices.isEmpty, request.percent) {
        case (false, nil):
            for device in devices where try await store.device(id: device) == nil {
                throw ProblemResponse(.invalidRequest, "no enrolled kiosk is called \(device)")
            }
        case let (true, percent?):
            guard percent > 0, percent <= 100 else { throw ProblemResponse(.invalidRequest, "percent must be within (0, 100]") }
        default:
            throw ProblemResponse(.invalidRequest, "name the canary kiosks (devices) or a share of the fleet (percent), not both")
        }
        let comparison = try await compare(release: release, targetFMR: request.targetFMR)
        let offered = Self.offeredCohorts(comparison)
        guard !offered.isEmpty else {
            throw ProblemResponse(.promotionRefused, "no cohort qualifies for canary: " + Self.refusals(comparison))
        }
        var next = stored
        next.state = .canary
        next.cohorts = offered
        next.canaryDevices = devices
        next.canaryPercent = request.percent
        next.comparison = [UInt8](try WireJSON.encoder().encode(comparison))
        next.approvals.append(RolloutApproval(step: .canary, tokenID: caller.id, actor: caller.actor, at: now()))
        next.reason = nil
        next.updatedAt = now()
        return try await transition(stored, from: [.shadow], to: next, release: release, actor: caller.actor)
    }

    /// `canary → fleet`, on the second approval by another token; the cohorts are those of
    /// the canary whose comparison, run again on everything scored since, still offers promotion.
    func promote(_ text: String, by caller: APITokenRecord) async throws -> RolloutView {
        let (stored, release) = try await lookUp(text)
        guard stored.state == .canary else {
            throw ProblemResponse(.releaseStateConflict, "release \(stored.version) is \(stored.state.rawValue); only a release in canary is promoted to fleet")
        }
        let approvals = stored.approvals.filter { $0.step == .fleet }
        guard !approvals.contains(where: { $0.tokenID == caller.id }) else {
            throw ProblemResponse(.approvalRepeated, "this token already approved release \(stored.version) for fleet; another engineer gives the second approval")
        }
        var next = stored
        next.approvals.append(RolloutApproval(step: .fleet, tokenID: caller.id, actor: caller.actor, at: now()))
        next.updatedAt = now()
        if approvals.count + 1 >= RolloutSettings.fleetApprovals {
            let comparison = try await compare(release: release, targetFMR: nil)
            let offered = Set(Self.offeredCohorts(comparison))
            let promoted = stored.cohorts.filter(offered.contains)
            guard !promoted.isEmpty else {
                throw ProblemResponse(.promotionRefused, "no canary cohort qualifies for fleet any more: " + Self.refusals(comparison))
            }
            next.state = .fleet
            next.cohorts = promoted
            next.comparison = [UInt8](try WireJSON.encoder().encode(comparison))
        }
        return try await transition(stored, from: [.canary], to: next, release: release, actor: caller.actor)
    }

    /// Any stage but `candidate` → `rolled_back`: its kiosks return to the model they used before.
    func rollBack(_ text: String, reason: String, actor: String) async throws -> RolloutView {
        let (stored, release) = try await lookUp(text)
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.utf8.count <= 1000 else {
            throw ProblemResponse(.invalidRequest, "give the reason for the rollback (1 to 1000 bytes)")
        }
        let rollable: Set<RolloutState> = [.shadow, .canary, .fleet]
        guard rollable.contains(stored.state) else {
            throw ProblemResponse(.releaseStateConflict, "release \(stored.version) is \(stored.state.rawValue); only a release in shadow, canary or fleet is rolled back")
        }
        var next = stored
        next.state = .rolledBack
        next.reason = reason
        next.updatedAt = now()
        return try await transition(stored, from: rollable, to: next, release: release, actor: actor)
    }

    // MARK: Comparison

    func compare(_ text: String, targetFMR: Double?) async throws -> RolloutComparison {
        try await compare(release: try await lookUp(text).release, targetFMR: targetFMR)
    }

    /// Current against candidate on the same attempts, per cohort, each at its threshold in the
    /// newest published threshold release.
    func compare(release: ModelRelease, targetFMR: Double?) async throws -> RolloutComparison {
        let target = targetFMR ?? settings.targetFMR
        guard target > 0, target < 1 else { throw ProblemResponse(.invalidRequest, "target_fmr must be within (0, 1)") }
        let published = try await store.thresholdReleases().last(where: { $0.state == .published })
        let thresholds = try published.map { try DecodedReleases.decode($0.payload) }
        // Only attempts another model also scored can pair; the others are not read.
        let outcomes = try await store.calibrationOutcomes(from: nil, to: nil, scoredInShadowOnly: true)
        let releaseVersions = Dictionary(try await releasesByVersion().map { ($0.value.modelVersion, $0.key) }, uniquingKeysWith: max)
        let cohorts = try RolloutComparisons.compare(candidate: release.modelVersion, outcomes: outcomes, releaseVersions: releaseVersions,
                                                     thresholds: thresholds, targetFMR: target, settings: settings)
        return RolloutComparison(releaseVersion: release.version, thresholdReleaseVersion: thresholds?.version, targetFMR: target,
                                 confidence: settings.confidence, margin: settings.fnmrMargin, computedAt: now(), cohorts: cohorts)
    }

    /// Cohorts where every comparison (one per model the cohort's kiosks decided with) offers promotion.
    static func offeredCohorts(_ comparison: RolloutComparison) -> [RolloutCohort] {
        let grouped = Dictionary(grouping: comparison.cohorts, by: \.cohort)
        return grouped.filter { $0.value.allSatisfy(\.verdict.offersPromotion) }.keys
            .map { RolloutCohort(cameraModel: $0.cameraModel, site: $0.site) }.sorted()
    }

    static func refusals(_ comparison: RolloutComparison) -> String {
        guard !comparison.cohorts.isEmpty else { return "no outcome carries a shadow score of this release yet" }
        return comparison.cohorts.map { "\($0.cohort.cameraModel) at \($0.cohort.site): \($0.verdict.rawValue) (\($0.reason))" }
            .joined(separator: "; ")
    }

    // MARK: Drift of promoted models

    /// Rolls back every release in canary or fleet whose realised FMR since its promotion, in a
    /// cohort it holds, is above that cohort's published FMR bound with the rollout's confidence.
    /// Returns the versions rolled back.
    ///
    /// This runs every few minutes for as long as a release is in canary or fleet, so it reads
    /// outcome rows only for the rest of the day it was promoted on (attempts it decided), and
    /// the live statistics for the whole days after it: its cost follows one day's arrivals and
    /// the cohorts, not the months since. The statistics also count the release's shadow
    /// scores on those days (kiosks of a canary's cohorts outside the canary score it beside
    /// the model they decide with), and the false matches they give are the lower bound where
    /// the threshold falls between grid edges below the exact tail: never a rollback on a guess.
    func rollBackOnDrift() async throws -> [Int] {
        let promoted = try await federation.modelRollouts().filter { $0.state == .canary || $0.state == .fleet }
        guard !promoted.isEmpty,
              let published = try await store.thresholdReleases().last(where: { $0.state == .published }) else { return [] }
        let thresholds = try DecodedReleases.decode(published.payload)
        let releases = try await releasesByVersion()
        var rolledBack: [Int] = []
        for rollout in promoted {
            guard let release = releases[rollout.version] else { continue }
            let tallies = try await impostorTallies(modelVersion: release.modelVersion, cohorts: rollout.cohorts, since: rollout.updatedAt,
                                                    thresholds: thresholds)
            if let breach = RolloutComparisons.fmrBreach(modelVersion: release.modelVersion, cohorts: rollout.cohorts, tallies: tallies,
                                                         thresholds: thresholds, confidence: settings.confidence) {
                _ = try await rollBack(String(rollout.version), reason: "automatic: \(breach)", actor: "drift monitor")
                rolledBack.append(rollout.version)
            }
        }
        return rolledBack
    }

    /// `RolloutComparisons.tallies` of the outcomes attempted from `since` to the end of its UTC
    /// day, plus each cohort's impostors and false matches in the statistics of the days after.
    func impostorTallies(modelVersion: String, cohorts: [RolloutCohort], since: Date,
                         thresholds: ThresholdRelease) async throws -> [RolloutCohort: RolloutComparisons.ImpostorTally] {
        let sinceDay = StatisticsBuckets.day(of: since)
        let restOfDay = try await store.calibrationOutcomes(from: since, to: StatisticsBuckets.start(ofDay: sinceDay + 1))
        var tallies = RolloutComparisons.tallies(of: restOfDay, modelVersion: modelVersion, cohorts: cohorts, thresholds: thresholds)
        guard !tallies.isEmpty else { return tallies }
        // No last day: a kiosk whose clock runs ahead dates attempts after today.
        let later = try await store.scoreStatistics(firstDay: sinceDay + 1, lastDay: nil)
        for (cohort, tally) in tallies {
            let key = CohortKey(modelVersion: modelVersion, cameraModel: cohort.cameraModel, cohort: cohort.site)
            guard let entry = thresholds.entry(for: key), let packed = later.cohorts[key] else { continue }
            let scores = try packed.unpackedScores()
            tallies[cohort] = RolloutComparisons.ImpostorTally(impostors: tally.impostors + scores.impostorCount,
                                                               falseMatches: tally.falseMatches + scores.falseMatches(atOrAbove: entry.threshold).lower)
        }
        return tallies
    }

    // MARK: Helpers

    private func releasesByVersion() async throws -> [Int: ModelRelease] {
        var releases: [Int: ModelRelease] = [:]
        for stored in try await federation.modelReleases() {
            releases[stored.version] = try ModelReleaseCoding.decode(stored.payload)
        }
        return releases
    }

    private func lookUp(_ text: String) async throws -> (stored: StoredModelRollout, release: ModelRelease) {
        guard let version = Int(text), let release = try await federation.modelRelease(version: version),
              let stored = try await federation.modelRollout(version: version) else {
            throw ProblemResponse(.notFound, "no model release \(text)")
        }
        return (stored, try ModelReleaseCoding.decode(release.payload))
    }

    private func transition(_ stored: StoredModelRollout, from: Set<RolloutState>, to next: StoredModelRollout,
                            release: ModelRelease, actor: String) async throws -> RolloutView {
        guard try await federation.transitionModelRollout(version: stored.version, from: from, to: next, actor: actor) else {
            throw ProblemResponse(.releaseStateConflict, "release \(stored.version) changed state meanwhile; look again")
        }
        return try Self.view(next, release: release)
    }

    static func stage(_ state: RolloutState) -> RolloutStage {
        switch state {
        case .candidate: return .candidate
        case .shadow: return .shadow
        case .canary: return .canary
        case .fleet: return .fleet
        case .rolledBack: return .rolledBack
        }
    }

    static func view(_ stored: StoredModelRollout, release: ModelRelease) throws -> RolloutView {
        RolloutView(
            version: stored.version, modelVersion: release.modelVersion, stage: stage(stored.state),
            cohorts: stored.cohorts.map { RolloutCohortRef(site: $0.site, cameraModel: $0.cameraModel) },
            canaryDevices: stored.canaryDevices, canaryPercent: stored.canaryPercent,
            approvals: stored.approvals.map { RolloutApprovalView(stage: stage($0.step), actor: $0.actor, at: $0.at) },
            reason: stored.reason, updatedAt: stored.updatedAt,
            comparison: stored.comparison.isEmpty ? nil : try WireJSON.decoder().decode(RolloutComparison.self, from: Data(stored.comparison)))
    }
}

/// What a rollout is decided with, from the server's configuration.
struct RolloutSettings: Sendable {
    var targetFMR: Double
    var confidence: Double
    var fnmrMargin: Double
    var bootstrapResamples: Int
    /// Fixed, so that the same outcomes always give the same comparison on every node.
    var bootstrapSeed: UInt64 = 0x5EED_F00D

    static let fleetApprovals = 2
    /// What kiosks write as `model_version` when no adapter is applied.
    static let backboneModelVersion = RoundCloser.backbone

    init(targetFMR: Double = 1e-3, confidence: Double = 0.95, fnmrMargin: Double = 0.01, bootstrapResamples: Int = 1000) {
        self.targetFMR = targetFMR
        self.confidence = confidence
        self.fnmrMargin = fnmrMargin
        self.bootstrapResamples = bootstrapResamples
    }

    init(configuration: ServerConfiguration) {
        self.init(targetFMR: configuration.rolloutTargetFMR, confidence: configuration.rolloutConfidence,
                  fnmrMargin: configuration.rolloutFNMRMargin, bootstrapResamples: configuration.rolloutBootstrapResamples)
    }
}
