import Calibration
import Crypto
import FeedbackWire
import Foundation
import Storage
import ThresholdAPI

/// Threshold releases: computed from stored outcomes, approved by engineers (twice when the
/// largest threshold move exceeds the guardrail), published signed with the release key,
/// rolled back to an earlier publication, and pulled by kiosks. Refusals are ``ProblemResponse``s.
struct ThresholdService: Sendable {
    let store: any FeedbackStore
    let jobs: any ClusterJobLock
    /// The release key now: a rotation takes effect at the next publication.
    let releaseKey: @Sendable () -> Curve25519.Signing.PrivateKey
    /// The largest threshold move one approval may publish; a larger one needs two.
    let guardrail: Double
    let metrics: ServerMetrics
    let now: @Sendable () -> Date

    /// The live statistics' layout: thresholds are bob.measure-exact for targets inside the
    /// exact tail (FMR ≈ 5 % and below on dlib scores; docs/calibration.md).
    static let layout = CohortStatistics.liveLayout

    /// One person's attempts are correlated, so every threshold is also held to a bound that
    /// resamples subjects (docs/calibration.md). Seeded: every node computes the same release.
    static let subjectBootstrap: SubjectBootstrap = {
        do {
            return try SubjectBootstrap(resamples: 1_000, confidence: 0.95, seed: 0x5EED_F00D)
        } catch {
            fatalError("the subjects bootstrap's fixed parameters are valid: \(error)")
        }
    }()

    func releases() async throws -> ThresholdReleaseList {
        ThresholdReleaseList(releases: try await store.thresholdReleases().map(Self.view))
    }

    /// The release whose version is `text`, as the path names it.
    func release(_ text: String) async throws -> StoredThresholdRelease {
        guard let version = Int(text), let release = try await store.thresholdRelease(version: version) else {
            throw ProblemResponse(.notFound, "no threshold release \(text)")
        }
        return release
    }

    /// The signed envelope of the release kiosks apply now.
    func currentEnvelope() async throws -> [UInt8] {
        guard let current = try await store.thresholdReleases().last(where: { $0.state == .published }),
              let envelope = current.envelope else {
            throw ProblemResponse(.notFound, "no threshold release has been published yet")
        }
        return envelope
    }

    /// Adds the caller's approval to a computed release; the person who computed it may not approve it.
    func approve(_ release: StoredThresholdRelease, by caller: APITokenRecord) async throws -> StoredThresholdRelease {
        guard release.computedByToken != caller.id else {
            throw ProblemResponse(.selfApproval, "release \(release.version) was computed with this token; another person approves it")
        }
        guard let approved = try await store.approveThresholdRelease(version: release.version, approverToken: caller.id,
                                                                      actor: caller.actor) else {
            throw ProblemResponse(.notFound, "no threshold release \(release.version)")
        }
        guard approved.state == .computed || approved.state == .approved else {
            throw ProblemResponse(.releaseStateConflict, "release \(release.version) is \(approved.state.rawValue); only computed releases are approved")
        }
        return approved
    }

    /// Signs and publishes a release that has its approvals.
    func publishApproved(_ release: StoredThresholdRelease, by caller: APITokenRecord) async throws -> StoredThresholdRelease {
        guard release.state == .approved else {
            throw ProblemResponse(.releaseStateConflict, release.state == .computed
                ? "release \(release.version) has \(release.approvals.count) of \(release.requiredApprovals) approvals"
                : "release \(release.version) is \(release.state.rawValue)")
        }
        return try await publish(release, from: [.approved], retiring: .superseded, actor: caller.actor)
    }

    /// Publishes again a release that a later one superseded, retiring that one as rolled back.
    func rollBack(to release: StoredThresholdRelease, by caller: APITokenRecord) async throws -> StoredThresholdRelease {
        guard release.state == .superseded else {
            throw ProblemResponse(.releaseStateConflict, "only a release that was published and then superseded can be restored; \(release.version) is \(release.state.rawValue)")
        }
        return try await publish(release, from: [.superseded], retiring: .rolledBack, actor: caller.actor)
    }

    /// A new release, in state `computed`, from the outcomes in the request's window.
    func compute(_ request: ComputeThresholdsRequest, by caller: APITokenRecord) async throws -> ThresholdReleaseView {
        guard request.targetFMR > 0, request.targetFMR < 1 else {
            throw ProblemResponse(.invalidRequest, "target_fmr must be within (0, 1)")
        }
        let name = request.policy ?? ThresholdPolicies.default.name
        guard let policy = ThresholdPolicies.named(name) else {
            throw ProblemResponse(.invalidRequest, "policy \(name) is unknown; use \(ThresholdPolicies.names.joined(separator: " or "))")
        }
        if let days = request.windowDays, !(1...3650).contains(days) {
            throw ProblemResponse(.invalidRequest, "window_days must be within 1…3650")
        }
        // One computation at a time across nodes: each takes the next version number.
        return try await jobs.afterWaiting(for: .thresholdComputation) {
            try await computeOnThisNode(request, policy: policy, by: caller)
        }
    }

    private func computeOnThisNode(_ request: ComputeThresholdsRequest, policy: any ThresholdPolicy,
                                   by caller: APITokenRecord) async throws -> ThresholdReleaseView {
        let end = now()
        // Statistics are kept per UTC day: window_days N is the last N days, today included.
        let today = StatisticsBuckets.day(of: end)
        let live = try await store.scoreStatistics(firstDay: request.windowDays.map { today - $0 + 1 }, lastDay: nil)
        guard let firstDay = live.firstDay, let lastDay = live.lastDay else {
            throw ProblemResponse(.insufficientData, "no outcomes in the window")
        }
        let existing = try await store.thresholdReleases()
        let previous = try existing.last(where: { $0.state == .published }).map { try DecodedReleases.decode($0.payload) }
        let version = (existing.map(\.version).max() ?? 0) + 1
        // Whole days: from the start of the first day with an outcome to the end of the last.
        let window = try DataWindow(startUnixSeconds: Int64(firstDay) * Int64(StatisticsBuckets.secondsPerDay),
                                    endUnixSeconds: Int64(lastDay + 1) * Int64(StatisticsBuckets.secondsPerDay))
        // `ThresholdRelease.compute`'s steps, on every core: each cohort's own level, then each
        // pool its cohorts fall back to (once per pool, not per cohort).
        let plan = try ThresholdReleasePlan(statistics: live.cohorts, targetFMR: request.targetFMR, policy: policy,
                                            layout: Self.layout, subjectBootstrap: Self.subjectBootstrap)
        let steps = await ConcurrentSteps.map(plan.cohorts.count) { plan.cohortStep($0) }
        let tasks = plan.poolTasks(for: steps)
        let answers = await ConcurrentSteps.map(tasks.count) { plan.poolStep(tasks[$0]) }
        let computation = try plan.computation(version: version, previousVersion: previous?.version, window: window, steps: steps,
                                               pooled: Dictionary(uniqueKeysWithValues: zip(tasks, answers)))
        guard !computation.release.entries.isEmpty else {
            let reasons = computation.refused.map { "\($0.cohort): \($0.reason)" }.joined(separator: "; ")
            throw ProblemResponse(.insufficientData, "no cohort has enough data: \(reasons)")
        }
        let largestChange = previous.flatMap { computation.release.changes(since: $0).first }
            .map { abs($0.threshold - $0.previousThreshold) }
        let refused = computation.refused.map { RefusedCohort(cohort: $0.cohort, reason: String(describing: $0.reason)) }
        let stored = StoredThresholdRelease(
            version: version, state: .computed, payload: try ThresholdReleaseCoding.canonicalBytes(computation.release),
            refused: [UInt8](try WireJSON.encoder().encode(refused)), largestChange: largestChange,
            requiredApprovals: (largestChange ?? 0) > guardrail ? 2 : 1, approvals: [], computedAt: end, computedBy: caller.label,
            computedByToken: caller.id)
        guard try await store.addThresholdRelease(stored) else {
            throw ProblemResponse(.releaseStateConflict, "another computation took version \(version); try again")
        }
        return try Self.view(stored)
    }

    /// The UTC days a release's data window covers: from the day of its start to the day of the
    /// last second before its end (a window computed from whole days ends at midnight).
    static func days(of window: DataWindow) -> (first: Int, last: Int) {
        let perDay = Int64(StatisticsBuckets.secondsPerDay)
        func day(_ seconds: Int64) -> Int { Int(seconds >= 0 ? seconds / perDay : -((-seconds + perDay - 1) / perDay)) }
        let first = day(window.startUnixSeconds)
        let last = window.endUnixSeconds > window.startUnixSeconds && window.endUnixSeconds % perDay == 0
            ? day(window.endUnixSeconds) - 1
            : day(window.endUnixSeconds)
        return (first, max(first, last))
    }

    private func publish(_ release: StoredThresholdRelease, from states: Set<ReleaseState>, retiring: ReleaseState,
                         actor: String) async throws -> StoredThresholdRelease {
        let envelope = try SignedRelease.sign(kind: .thresholds, version: release.version, payload: release.payload,
                                              key: releaseKey(), at: now())
        let bytes = [UInt8](try WireJSON.encoder().encode(envelope))
        guard try await store.publishThresholdRelease(version: release.version, from: states, envelope: bytes, at: now(),
                                                      retiring: retiring, actor: actor),
              let published = try await store.thresholdRelease(version: release.version) else {
            throw ProblemResponse(.releaseStateConflict, "release \(release.version) changed state meanwhile")
        }
        return published
    }

    /// How the outcomes since the published release's window compare with those it was computed
    /// from. Statistics are kept per UTC day, so both windows are whole days: the reference is the
    /// days of the release's window, the recent window every day after its last one.
    func drift() async throws -> ThresholdDriftView {
        guard let current = try await store.thresholdReleases().last(where: { $0.state == .published }) else {
            throw ProblemResponse(.notFound, "no threshold release has been published yet")
        }
        return try await drift(of: DecodedReleases.decode(current.payload))
    }

    /// `drift()` for a published release already read and decoded (the calibration page has
    /// every release decoded; reading and decoding them again cost it about a tenth of its time).
    func drift(of release: ThresholdRelease) async throws -> ThresholdDriftView {
        let days = Self.days(of: release.window)
        // Both windows stay packed; each cohort is unpacked only while its report is computed.
        // Read at once, on two reader connections.
        async let referenceWindow = store.scoreStatistics(firstDay: days.first, lastDay: days.last)
        async let recentWindow = store.scoreStatistics(firstDay: days.last + 1, lastDay: nil)
        let (reference, recent) = try await (referenceWindow.cohorts, recentWindow.cohorts)
        // One family of tests across every cohort compared, so the chance of a false alarm
        // somewhere does not grow with the size of the fleet.
        let compared = release.entries.filter { entry in
            reference[entry.cohort] != nil && (recent[entry.cohort].map { $0.impostorCount + $0.genuineCount > 0 } ?? false)
        }
        let limits = DriftLimits.standard.familyWise(tests: DriftLimits.testsPerReport * compared.count)
        let entries = release.entries
        let reports = await ConcurrentSteps.map(entries.count) { index in
            let entry = entries[index]
            return Result { () throws -> DriftReport? in
                guard let before = reference[entry.cohort], let now = recent[entry.cohort], now.impostorCount + now.genuineCount > 0 else {
                    return nil
                }
                return try DriftReport(reference: before.unpackedScores(), current: now.unpackedScores(), threshold: entry.threshold,
                                       targetFMR: entry.targetFMR, limits: limits)
            }
        }
        var cohorts: [ThresholdDriftView.CohortDrift] = []
        for (entry, result) in zip(entries, reports) {
            let report = try result.get()
            let now = recent[entry.cohort]
            metrics.thresholdDrift(cohort: entry.cohort.description, flags: report?.flags.count ?? 0)
            cohorts.append(.init(cohort: entry.cohort, currentImpostors: now?.impostorCount ?? 0, currentGenuine: now?.genuineCount ?? 0,
                                 report: report))
        }
        return ThresholdDriftView(releaseVersion: release.version, cohorts: cohorts)
    }

    /// Reads the windows drift, the calibration page and a computation over the whole history
    /// read (the whole history, and the published release's window and the days since), where
    /// the store keeps them: the first request after a start then finds them.
    func readUsualWindows() async throws {
        guard store.keepsStatisticsWindows else { return }
        _ = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
        guard let published = try await store.thresholdReleases().last(where: { $0.state == .published }) else { return }
        let days = Self.days(of: try DecodedReleases.decode(published.payload).window)
        _ = try await store.scoreStatistics(firstDay: days.first, lastDay: days.last)
        _ = try await store.scoreStatistics(firstDay: days.last + 1, lastDay: nil)
    }

    static func view(_ stored: StoredThresholdRelease) throws -> ThresholdReleaseView {
        ThresholdReleaseView(
            version: stored.version, state: stored.state.rawValue, release: try DecodedReleases.decode(stored.payload),
            refused: (try? WireJSON.decoder().decode([RefusedCohort].self, from: Data(stored.refused))) ?? [],
            largestChange: stored.largestChange, requiredApprovals: stored.requiredApprovals, approvals: stored.approvals,
            computedAt: stored.computedAt, computedBy: stored.computedBy, publishedAt: stored.publishedAt)
    }
}
