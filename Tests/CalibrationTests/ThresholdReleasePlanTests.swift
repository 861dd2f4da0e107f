import Dispatch
import Foundation
import SeededRandom
import Synchronization
import Testing
@testable import Calibration

/// The release computation split into steps (`ThresholdReleasePlan`) against the computation it
/// replaced, kept here as the reference: per cohort in order, the policy's fallback level, then
/// the subjects bootstrap from that level up, every pool recomputed for every cohort.
@Suite("Threshold release plan: steps in any order, on any thread, equal the per-cohort computation")
struct ThresholdReleasePlanTests {
    let layout: StatisticsLayout
    let window: DataWindow
    let bootstrap: SubjectBootstrap

    init() throws {
        layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.125)
        window = try DataWindow(startUnixSeconds: 1_764_000_000, endUnixSeconds: 1_764_600_000)
        bootstrap = try SubjectBootstrap(resamples: 200, seed: 33)
    }

    /// A fleet whose cohorts take every path: their own level (many subjects and impostors), the
    /// pool after the policy refused them (few impostors), the pool after the policy passed but
    /// the bootstrap refused (few subjects, many attempts), no statistics at all, and a model
    /// version whose every level is too small (refused).
    func fleet(seed: UInt64) throws -> (cohorts: [CohortKey], table: [CohortKey: CohortStatistics]) {
        var generator = SeededGenerator(seed: seed)
        var table: [CohortKey: CohortStatistics] = [:]
        var cohorts: [CohortKey] = []
        let shapes: [(subjects: Int, perSubject: Int)] = [(60, 60), (5, 800), (10, 10), (40, 3), (0, 0)]
        for camera in 0..<3 {
            for site in 0..<4 {
                let key = CohortKey(modelVersion: "m1", cameraModel: "cam\(camera)", cohort: "s\(site)")
                cohorts.append(key)
                let shape = shapes[Int(generator.next() % UInt64(shapes.count))]
                guard shape.subjects > 0 else { continue }
                table[key] = try CohortOutcomes(layout: layout, subjects: shape.subjects, impostorsPerSubject: shape.perSubject,
                                                lookAlikes: Int(generator.next() % 3), prefix: "p\(site % 2)-",
                                                seed: generator.next()).live
            }
        }
        // A second model version with a handful of impostors everywhere: refused at every level.
        for site in 0..<2 {
            let key = CohortKey(modelVersion: "m2", cameraModel: "cam0", cohort: "s\(site)")
            cohorts.append(key)
            table[key] = try CohortOutcomes(layout: layout, subjects: 4, impostorsPerSubject: 5, prefix: "q", seed: generator.next()).live
        }
        return (cohorts, table)
    }

    /// The computation as it was before the plan: the reference.
    func reference(cohorts: [CohortKey], table: [CohortKey: CohortStatistics], targetFMR: Double, policy: some ThresholdPolicy,
                   subjectBootstrap: SubjectBootstrap?) throws -> ThresholdRelease.Computation {
        let pools = try CohortPools(statistics: table.mapValues(\.scores), layout: layout)
        let groups = try GroupPools(subjects: table.mapValues(\.impostorSubjects), layout: layout)
        var entries: [CohortThreshold] = []
        var refused: [ThresholdRelease.Refusal] = []
        var weights = GroupWeightCache()
        for cohort in Set(cohorts).sorted() {
            do {
                let fallback = try CohortFallback.choose(for: cohort, in: pools, targetFMR: targetFMR, policy: policy)
                guard fallback.choice.estimate.threshold.isFinite else {
                    refused.append(.init(cohort: cohort, reason: .invalidParameter("threshold is not finite")))
                    continue
                }
                guard let subjectBootstrap else {
                    entries.append(CohortThreshold(cohort: cohort, fallback: fallback))
                    continue
                }
                var lastRefusal: CalibrationError?
                var found: CohortThreshold?
                for level in FallbackLevel.allCases.drop(while: { $0 != fallback.level }) {
                    do {
                        let statistics = pools.statistics(for: cohort, at: level)
                        let choice = level == fallback.level ? fallback.choice : try policy.choose(from: statistics, targetFMR: targetFMR)
                        let resampling = weights.resampling(of: groups.subjects(for: cohort, at: level), bootstrap: subjectBootstrap)
                        let subjectThreshold = try resampling.threshold(targetFMR: targetFMR)
                        var entry = CohortThreshold(cohort: cohort, fallback: FallbackChoice(level: level, choice: choice))
                        try entry.applySubjectLevel(subjectThreshold: subjectThreshold, resampling: resampling, statistics: statistics)
                        found = entry
                        break
                    } catch let error as CalibrationError where ThresholdReleasePlan.isLackOfData(error) {
                        lastRefusal = error
                    }
                }
                guard let found else {
                    throw lastRefusal ?? CalibrationError.tooFewSubjects(count: 0, required: subjectBootstrap.minimumSubjects)
                }
                entries.append(found)
            } catch let error as CalibrationError where ThresholdReleasePlan.isLackOfData(error) {
                refused.append(.init(cohort: cohort, reason: error))
            }
        }
        return ThresholdRelease.Computation(
            release: try ThresholdRelease(version: 3, previousVersion: 2, policy: policy.name, window: window, entries: entries),
            refused: refused)
    }

    /// The plan's steps in a shuffled order, each on whichever thread `concurrentPerform` gives it.
    func concurrently(_ plan: ThresholdReleasePlan, seed: UInt64) throws -> ThresholdRelease.Computation {
        var generator = SeededGenerator(seed: seed)
        let order = Array(plan.cohorts.indices).shuffled(using: &generator)
        let steps = Mutex([Int: ThresholdReleasePlan.CohortStep]())
        DispatchQueue.concurrentPerform(iterations: order.count) { position in
            let step = plan.cohortStep(order[position])
            steps.withLock { $0[order[position]] = step }
        }
        let ordered = try plan.cohorts.indices.map { index in try #require(steps.withLock { $0[index] }) }
        let tasks = plan.poolTasks(for: ordered).shuffled(using: &generator)
        let answers = Mutex([ThresholdReleasePlan.PoolTask: ThresholdReleasePlan.PoolStep]())
        DispatchQueue.concurrentPerform(iterations: tasks.count) { index in
            let answer = plan.poolStep(tasks[index])
            answers.withLock { $0[tasks[index]] = answer }
        }
        return try plan.computation(version: 3, previousVersion: 2, window: window, steps: ordered, pooled: answers.withLock { $0 })
    }

    @Test("random fleets, both policies, with and without the bootstrap: compute, and the plan run concurrently, equal the reference",
          arguments: [1, 2, 3] as [UInt64])
    func equalsReference(seed: UInt64) throws {
        let (cohorts, table) = try fleet(seed: seed)
        for policy in ThresholdPolicies.all {
            for target in [1e-2, 1e-3] {
                for subjects in [bootstrap, nil] as [SubjectBootstrap?] {
                    let expected = try reference(cohorts: cohorts, table: table, targetFMR: target, policy: policy, subjectBootstrap: subjects)
                    let serial = try ThresholdRelease.compute(
                        version: 3, previousVersion: 2, cohorts: cohorts, statistics: table, targetFMR: target, policy: policy,
                        layout: layout, window: window, subjectBootstrap: subjects)
                    #expect(serial == expected, "\(policy.name) at \(target), bootstrap \(subjects != nil)")
                    let plan = try ThresholdReleasePlan(cohorts: cohorts, statistics: table.mapValues(PackedCohortStatistics.init),
                                                        targetFMR: target, policy: policy, layout: layout, subjectBootstrap: subjects)
                    #expect(try concurrently(plan, seed: seed) == expected, "\(policy.name) at \(target), bootstrap \(subjects != nil)")
                }
            }
        }
    }

    @Test("the fleets do take every path: own level, the pool after the policy, the pool after the bootstrap, refused")
    func everyPath() throws {
        var levels: Set<FallbackLevel> = []
        var afterBootstrap = 0
        var refused = 0
        for seed in [1, 2, 3] as [UInt64] {
            let (cohorts, table) = try fleet(seed: seed)
            let plan = try ThresholdReleasePlan(cohorts: cohorts, statistics: table.mapValues(PackedCohortStatistics.init),
                                                targetFMR: 1e-3, policy: ConservativeFMRPolicy(), layout: layout, subjectBootstrap: bootstrap)
            let steps = plan.cohorts.indices.map(plan.cohortStep)
            afterBootstrap += plan.poolTasks(for: steps).filter(\.afterCohortLevel).count
            let computation = try plan.computeSerially(version: 3, previousVersion: 2, window: window)
            levels.formUnion(computation.release.entries.map(\.fallbackLevel))
            refused += computation.refused.count
        }
        #expect(levels == Set(FallbackLevel.allCases))
        #expect(afterBootstrap > 0)
        #expect(refused > 0)
    }

    @Test("a step or pool answer missing is refused, not guessed")
    func missingAnswers() throws {
        let (cohorts, table) = try fleet(seed: 1)
        let plan = try ThresholdReleasePlan(cohorts: cohorts, statistics: table.mapValues(PackedCohortStatistics.init),
                                            targetFMR: 1e-3, policy: ConservativeFMRPolicy(), layout: layout, subjectBootstrap: bootstrap)
        let steps = plan.cohorts.indices.map(plan.cohortStep)
        #expect(!plan.poolTasks(for: steps).isEmpty)
        #expect(throws: CalibrationError.self) {
            try plan.computation(version: 3, previousVersion: 2, window: window, steps: steps, pooled: [:])
        }
        #expect(throws: CalibrationError.self) {
            try plan.computation(version: 3, previousVersion: 2, window: window, steps: Array(steps.dropLast()), pooled: [:])
        }
    }
}

@Suite("Packed cohort statistics")
struct PackedCohortStatisticsTests {
    func random(seed: UInt64, outcomes: Int) throws -> CohortStatistics {
        var generator = SeededGenerator(seed: seed)
        var statistics = CohortStatistics(layout: CohortStatistics.liveLayout)
        for _ in 0..<outcomes {
            let draw = generator.next() % 10
            let label: ScoreLabel = draw < 3 ? .impostor : draw < 9 ? .genuine : .unknown
            let score = label == .genuine ? 0.95 + 0.03 * (Double(generator.next() % 2001) / 1000 - 1)
                : 0.8 + 0.15 * (Double(generator.next() % 2001) / 1000 - 1)
            try statistics.add(score: score, label: label, subject: "s\(generator.next() % 40)")
        }
        return statistics
    }

    @Test("packing keeps everything: unpacked equals the original, counts without unpacking, == agrees with the working form")
    func roundTrip() throws {
        let parts = try (0..<6).map { try random(seed: UInt64($0), outcomes: 50 + 150 * $0) }
        for (index, part) in parts.enumerated() {
            let packed = PackedCohortStatistics(part)
            #expect(try packed.unpacked() == part)
            #expect(packed.outcomeCount == part.outcomeCount && packed.impostorCount == part.scores.impostorCount
                    && packed.genuineCount == part.scores.genuineCount && packed.unknownCount == part.scores.unknownCount)
            for (other, otherPart) in parts.enumerated() {
                #expect((PackedCohortStatistics(otherPart) == packed) == (index == other))
            }
        }
        // Equal statistics built in different orders pack to the same bytes.
        var forwards = CohortStatistics(layout: CohortStatistics.liveLayout)
        var backwards = CohortStatistics(layout: CohortStatistics.liveLayout)
        for part in parts { try forwards.merge(part) }
        for part in parts.reversed() { try backwards.merge(PackedCohortStatistics(part).unpacked()) }
        #expect(PackedCohortStatistics(forwards) == PackedCohortStatistics(backwards))
    }

    @Test("an accumulator emptied with removeAll and reused equals a fresh one")
    func reusedAccumulator() throws {
        var accumulator = try random(seed: 9, outcomes: 700)
        accumulator.removeAll()
        #expect(accumulator == CohortStatistics(layout: CohortStatistics.liveLayout))
        let part = try random(seed: 10, outcomes: 300)
        try accumulator.merge(encoded: part.encoded())
        #expect(accumulator == part)
    }
}
