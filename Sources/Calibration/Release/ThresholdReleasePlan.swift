import Dispatch
import Synchronization

/// A threshold release's computation (`ThresholdRelease.compute` with live statistics and the
/// subjects bootstrap) split into independent pure steps, so that a caller can run them on
/// several cores, and so that the pooled answers every cohort of a pool falls back to are
/// computed once per pool instead of once per cohort.
///
/// A cohort's entry depends on its own statistics only at its own level: when the policy (and
/// the bootstrap) find a threshold there, that is the entry; otherwise the entry is the first
/// pooled level's, a function of the camera-model and model-version pools alone, the same for
/// every cohort of the pool. So the steps are: one `cohortStep` per cohort (any order, in
/// parallel), then one `poolStep` per pool task those steps ask for (likewise), then
/// `computation`, which assembles the entries in cohort order and throws, like the serial
/// computation, the first error in that order. The result is `==` to the serial one's.
///
/// ```swift
/// let plan = try ThresholdReleasePlan(statistics: live, targetFMR: 1e-3, policy: policy,
///                                     layout: layout, subjectBootstrap: bootstrap)
/// let steps = plan.cohorts.indices.map(plan.cohortStep)        // or concurrently
/// let tasks = plan.poolTasks(for: steps)
/// let pooled = Dictionary(uniqueKeysWithValues: tasks.map { ($0, plan.poolStep($0)) })
/// let computation = try plan.computation(version: 8, previousVersion: 7, window: window,
///                                        steps: steps, pooled: pooled)
/// ```
public struct ThresholdReleasePlan: Sendable {
    /// The cohorts to compute, ascending.
    public let cohorts: [CohortKey]
    public let targetFMR: Double
    public let layout: StatisticsLayout
    let policy: any ThresholdPolicy
    let subjectBootstrap: SubjectBootstrap?
    private let statistics: [CohortKey: PackedCohortStatistics]
    /// Per (model version, camera model) and per model version, every cohort's statistics added.
    private let cameraModelPools: [CohortKey: CohortStatistics]
    private let modelVersionPools: [CohortKey: CohortStatistics]
    private let weights: SharedGroupWeights

    /// Pools the statistics (each cohort's binary form added into its two pools, no cohort
    /// unpacked). Cohorts named in `cohorts` without statistics are computed on empty ones.
    /// - Throws: `.incompatibleStatistics` if any statistic has another layout.
    public init(cohorts: [CohortKey]? = nil, statistics: [CohortKey: PackedCohortStatistics], targetFMR: Double,
                policy: any ThresholdPolicy, layout: StatisticsLayout, subjectBootstrap: SubjectBootstrap?) throws {
        guard statistics.values.allSatisfy({ $0.layout == layout }) else { throw CalibrationError.incompatibleStatistics }
        // Each camera-model pool adds its cohorts' binary forms in dense counts (a pool's exact
        // tail is hundreds of thousands of entries at 100 M outcomes: added as sorted runs and
        // merged once, not re-copied per cohort), one pool per core; a model version's pool
        // adds its camera-model pools.
        let byCameraModel = Dictionary(grouping: statistics.keys) { CohortPools.poolKey($0, .cameraModel) }
        let cameraModelKeys = byCameraModel.keys.sorted()
        let cameraModelPacked = try Self.concurrently(cameraModelKeys.count) { index in
            var accumulator = PackedCohortAccumulator(layout: layout)
            for key in (byCameraModel[cameraModelKeys[index]] ?? []).sorted() {
                if let part = statistics[key] { try accumulator.merge(part) }
            }
            return accumulator.pack()
        }
        let byModelVersion = Dictionary(grouping: cameraModelKeys.indices) { CohortPools.poolKey(cameraModelKeys[$0], .modelVersion) }
        let modelVersionKeys = byModelVersion.keys.sorted()
        let modelVersionPacked = try Self.concurrently(modelVersionKeys.count) { index in
            var accumulator = PackedCohortAccumulator(layout: layout)
            for pool in byModelVersion[modelVersionKeys[index]] ?? [] { try accumulator.merge(cameraModelPacked[pool]) }
            return accumulator.pack()
        }
        self.cohorts = Set(cohorts ?? Array(statistics.keys)).sorted()
        self.targetFMR = targetFMR
        self.layout = layout
        self.policy = policy
        self.subjectBootstrap = subjectBootstrap
        self.statistics = statistics
        let packedPools = cameraModelPacked + modelVersionPacked
        let pools = try Self.concurrently(packedPools.count) { try packedPools[$0].unpacked() }
        cameraModelPools = Dictionary(uniqueKeysWithValues: zip(cameraModelKeys, pools.prefix(cameraModelKeys.count)))
        modelVersionPools = Dictionary(uniqueKeysWithValues: zip(modelVersionKeys, pools.suffix(modelVersionKeys.count)))
        weights = SharedGroupWeights()
    }

    /// `body(0..<count)` on every core, in index order; the first error thrown, if any.
    private static func concurrently<Value: Sendable>(_ count: Int,
                                                      _ body: @Sendable (Int) throws -> Value) throws -> [Value] {
        let results = ConcurrentResults<Value>(count: count)
        DispatchQueue.concurrentPerform(iterations: count) { index in
            results.set(index, Result { try body(index) })
        }
        return try results.values()
    }

    /// What one cohort's own level decided.
    public struct CohortStep: Sendable {
        let outcome: Outcome
    }

    /// A pooled answer some cohorts take: from the camera-model pool of `pool` upwards, either
    /// choosing the level by the policy (`fallback`: the policy found nothing at the cohort's
    /// level) or after the cohort's own level passed the policy but not the bootstrap.
    public struct PoolTask: Sendable, Hashable {
        let pool: CohortKey
        let afterCohortLevel: Bool
    }

    /// A pool task's answer, the entry's cohort still to be filled in.
    public struct PoolStep: Sendable {
        let outcome: Outcome
    }

    enum Outcome: Sendable {
        case entry(CohortThreshold)
        case refused(CalibrationError)
        /// An error that is not a lack of data: the computation throws it.
        case failed(any Error)
        case pooled(PoolTask)
    }

    /// The cohort `cohorts[index]` at its own level: an entry, a refusal, or the pool task
    /// whose answer it takes.
    public func cohortStep(_ index: Int) -> CohortStep {
        let key = cohorts[index]
        do {
            let own = try statistics[key]?.unpacked() ?? CohortStatistics(layout: layout)
            return CohortStep(outcome: cohortLevel(key, own))
        } catch {
            return CohortStep(outcome: .failed(error))
        }
    }

    private func cohortLevel(_ key: CohortKey, _ own: CohortStatistics) -> Outcome {
        let pool = CohortPools.poolKey(key, .cameraModel)
        let choice: ThresholdChoice
        do {
            choice = try policy.choose(from: own.scores, targetFMR: targetFMR)
        } catch let error as CalibrationError where Self.movesUpALevel(error) {
            return .pooled(PoolTask(pool: pool, afterCohortLevel: false))
        } catch {
            return Self.refusedOrFailed(error)
        }
        guard choice.estimate.threshold.isFinite else { return .refused(.invalidParameter("threshold is not finite")) }
        let fallback = FallbackChoice(level: .cohort, choice: choice)
        guard let bootstrap = subjectBootstrap else { return .entry(CohortThreshold(cohort: key, fallback: fallback)) }
        do {
            return .entry(try subjectLevel(key, fallback: fallback, statistics: own.scores, subjects: own.impostorSubjects,
                                           bootstrap: bootstrap))
        } catch let error as CalibrationError where Self.isLackOfData(error) {
            return .pooled(PoolTask(pool: pool, afterCohortLevel: true))
        } catch {
            return .failed(error)
        }
    }

    /// The distinct pool tasks `steps` ask for, in a reproducible order.
    public func poolTasks(for steps: [CohortStep]) -> [PoolTask] {
        var tasks: Set<PoolTask> = []
        for step in steps { if case .pooled(let task) = step.outcome { tasks.insert(task) } }
        return tasks.sorted { ($0.pool, $0.afterCohortLevel ? 1 : 0) < ($1.pool, $1.afterCohortLevel ? 1 : 0) }
    }

    /// The answer of one pool task, for every cohort that asks for it.
    public func poolStep(_ task: PoolTask) -> PoolStep {
        PoolStep(outcome: pooledLevels(task))
    }

    private func pooledLevels(_ task: PoolTask) -> Outcome {
        let levels: [FallbackLevel] = [.cameraModel, .modelVersion]
        // After the cohort's own level passed the policy but not the bootstrap, every pooled
        // level is tried with its own policy choice; otherwise the policy picks the first.
        var first: FallbackChoice?
        if !task.afterCohortLevel {
            // The policy chooses the level, as `CohortFallback.choose` does from the camera model up.
            var lastRefusal: CalibrationError?
            for level in levels {
                do {
                    first = FallbackChoice(level: level, choice: try policy.choose(from: scores(task.pool, level), targetFMR: targetFMR))
                    break
                } catch let error as CalibrationError where Self.movesUpALevel(error) {
                    lastRefusal = error
                } catch {
                    return Self.refusedOrFailed(error)
                }
            }
            guard let found = first else { return .refused(lastRefusal ?? .tooFewImpostors(count: 0, required: 2)) }
            guard found.choice.estimate.threshold.isFinite else { return .refused(.invalidParameter("threshold is not finite")) }
            guard subjectBootstrap != nil else { return .entry(CohortThreshold(cohort: task.pool, fallback: found)) }
        }
        guard let bootstrap = subjectBootstrap else { return .failed(CalibrationError.invalidParameter("no subjects bootstrap")) }
        var lastRefusal: CalibrationError?
        let firstLevel = first?.level
        for level in levels.drop(while: { level in firstLevel.map { level != $0 } ?? false }) {
            do {
                let statistics = scores(task.pool, level)
                let choice: FallbackChoice
                if let first, first.level == level {
                    choice = first
                } else {
                    choice = FallbackChoice(level: level, choice: try policy.choose(from: statistics, targetFMR: targetFMR))
                }
                return .entry(try subjectLevel(task.pool, fallback: choice, statistics: statistics,
                                               subjects: subjects(task.pool, level), bootstrap: bootstrap))
            } catch let error as CalibrationError where Self.isLackOfData(error) {
                lastRefusal = error
            } catch {
                return .failed(error)
            }
        }
        return .refused(lastRefusal ?? .tooFewSubjects(count: 0, required: bootstrap.minimumSubjects))
    }

    /// The release and its refusals from every cohort's step and the pool steps they asked for.
    /// - Throws: the first error (in cohort order) that is not a lack of data, as the serial
    ///   computation would; `.invalidParameter` if a step or pool answer is missing.
    public func computation(version: Int, previousVersion: Int?, window: DataWindow, steps: [CohortStep],
                            pooled: [PoolTask: PoolStep]) throws -> ThresholdRelease.Computation {
        guard steps.count == cohorts.count else { throw CalibrationError.invalidParameter("one step per cohort") }
        var entries: [CohortThreshold] = []
        var refused: [ThresholdRelease.Refusal] = []
        for (cohort, step) in zip(cohorts, steps) {
            var outcome = step.outcome
            if case .pooled(let task) = outcome {
                guard let answer = pooled[task] else { throw CalibrationError.invalidParameter("no answer for pool \(task.pool)") }
                outcome = answer.outcome
            }
            switch outcome {
            case .entry(var entry):
                entry.cohort = cohort
                entries.append(entry)
            case .refused(let reason):
                refused.append(ThresholdRelease.Refusal(cohort: cohort, reason: reason))
            case .failed(let error):
                throw error
            case .pooled:
                throw CalibrationError.invalidParameter("a pooled answer refers to another pool")
            }
        }
        let release = try ThresholdRelease(
            version: version, previousVersion: previousVersion, policy: policy.name, window: window, entries: entries)
        return ThresholdRelease.Computation(release: release, refused: refused)
    }

    // MARK: - Levels

    private func scores(_ pool: CohortKey, _ level: FallbackLevel) -> ScoreStatistics {
        pooled(pool, level)?.scores ?? ScoreStatistics(layout: layout)
    }

    private func subjects(_ pool: CohortKey, _ level: FallbackLevel) -> ImpostorSubjects {
        pooled(pool, level)?.impostorSubjects ?? ImpostorSubjects(layout: layout)
    }

    private func pooled(_ pool: CohortKey, _ level: FallbackLevel) -> CohortStatistics? {
        level == .cameraModel ? cameraModelPools[pool] : modelVersionPools[CohortPools.poolKey(pool, .modelVersion)]
    }

    /// The entry at `fallback`'s level raised to the subjects bootstrap's threshold on the same pool.
    private func subjectLevel(_ cohort: CohortKey, fallback: FallbackChoice, statistics: ScoreStatistics,
                              subjects: ImpostorSubjects, bootstrap: SubjectBootstrap) throws -> CohortThreshold {
        let resampling = weights.resampling(of: subjects, bootstrap: bootstrap)
        let subjectThreshold = try resampling.threshold(targetFMR: targetFMR)
        var entry = CohortThreshold(cohort: cohort, fallback: fallback)
        try entry.applySubjectLevel(subjectThreshold: subjectThreshold, resampling: resampling, statistics: statistics)
        return entry
    }

    /// The refusals that send the policy's choice to the next level (`CohortFallback`).
    static func movesUpALevel(_ error: CalibrationError) -> Bool {
        switch error {
        case .insufficientImpostorsForConfidence, .tooFewImpostors: return true
        default: return false
        }
    }

    /// The refusals that leave a cohort out of a release instead of failing it.
    static func isLackOfData(_ error: CalibrationError) -> Bool {
        switch error {
        case .insufficientImpostorsForConfidence, .tooFewImpostors, .tooFewSubjects: return true
        default: return false
        }
    }

    private static func refusedOrFailed(_ error: any Error) -> Outcome {
        if let error = error as? CalibrationError, isLackOfData(error) { return .refused(error) }
        return .failed(error)
    }
}

extension ThresholdReleasePlan {
    /// Every step in order on the calling thread: `ThresholdRelease.compute`'s answer.
    public func computeSerially(version: Int, previousVersion: Int?, window: DataWindow) throws -> ThresholdRelease.Computation {
        let steps = cohorts.indices.map(cohortStep)
        let tasks = poolTasks(for: steps)
        let pooled = Dictionary(uniqueKeysWithValues: tasks.map { ($0, poolStep($0)) })
        return try computation(version: version, previousVersion: previousVersion, window: window, steps: steps, pooled: pooled)
    }
}

/// `GroupWeightCache` shared by concurrent steps: the weights depend only on the number of
/// non-empty groups (and the bootstrap), so whichever step draws them first, every step gets
/// the same ones.
final class SharedGroupWeights: Sendable {
    private let cache = Mutex(GroupWeightCache())

    func resampling(of subjects: ImpostorSubjects, bootstrap: SubjectBootstrap) -> GroupResampling {
        let groups = subjects.nonEmptyGroups
        if let cached = cache.withLock({ $0.cached(groups: groups) }) {
            return GroupResampling(subjects: subjects, bootstrap: bootstrap, weights: cached)
        }
        // Drawn outside the lock: two steps may draw the same weights at once, never different ones.
        let drawn = GroupResampling.weights(resamples: bootstrap.resamples, groups: groups, seed: bootstrap.seed)
        cache.withLock { $0.store(drawn, groups: groups) }
        return GroupResampling(subjects: subjects, bootstrap: bootstrap, weights: drawn)
    }
}

/// Results written by concurrent iterations, one slot each.
private final class ConcurrentResults<Value: Sendable>: Sendable {
    private let slots: Mutex<[Result<Value, any Error>?]>

    init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }

    func set(_ index: Int, _ result: Result<Value, any Error>) { slots.withLock { $0[index] = result } }

    func values() throws -> [Value] {
        try slots.withLock { slots in try slots.map { try ($0 ?? .failure(CancellationError())).get() } }
    }
}
