import Foundation
import SeededRandom
import Testing
@testable import Calibration

@Suite("Threshold policies, cohort fallback and releases")
struct ThresholdPolicyTests {
    let layout: StatisticsLayout

    init() throws {
        layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.125)
    }

    func makeStatistics(impostors: Int, genuine: Int, seed: UInt64, decimals: Int? = 3) throws -> ScoreStatistics {
        var random = SeededGenerator(seed: seed)
        return try ScoreStatistics(
            layout: layout,
            outcomes: labelled(random.scores(impostors, mean: 0, deviation: 0.1, decimals: decimals), .impostor)
                + labelled(random.scores(genuine, mean: 0.6, deviation: 0.1), .genuine))
    }

    @Test("conservative: the lowest threshold whose upper bound is <= target, by brute force on raw scores")
    func conservativeIsLowest() throws {
        var random = SeededGenerator(seed: 21)
        let impostors = random.scores(40_000, mean: 0, deviation: 0.1, decimals: 3)
        let statistics = try ScoreStatistics(layout: layout, outcomes: labelled(impostors, .impostor))
        let sorted = try SortedScores(impostors)
        let bound = try ClopperPearson(confidence: 0.95)
        let policy = try ConservativeFMRPolicy(confidence: 0.95)
        for target in [1e-2, 1e-3, 1e-4] {
            let choice = try policy.choose(from: statistics, targetFMR: target)
            #expect(choice.fmrUpperBound <= target)
            #expect(choice.estimate.precision == .exact)
            // Brute force: every distinct score as a threshold, from the top down.
            var lowest = sorted.values[sorted.count - 1].nextUp
            for score in Array(Set(sorted.values)).sorted(by: >) {
                let accepted = sorted.count(atLeast: score)
                if try bound.upperBound(falseMatches: accepted, comparisons: sorted.count) > target { break }
                lowest = score
            }
            #expect(choice.estimate.threshold == lowest, "target \(target)")
            #expect(choice.estimate.threshold >= (try ErrorRates.farThreshold(impostors: sorted, target: target)))
        }
    }

    @Test("exact-at-target equals far_threshold and reports its (possibly larger) upper bound")
    func exactAtTarget() throws {
        let statistics = try makeStatistics(impostors: 30_000, genuine: 3_000, seed: 22)
        let policy = try ExactAtTargetPolicy()
        let choice = try policy.choose(from: statistics, targetFMR: 1e-3)
        #expect(choice.estimate.threshold == (try statistics.falseMatchThreshold(target: 1e-3)).threshold)
        #expect(choice.estimate.falseMatchRate <= 1e-3)
        #expect(choice.fmrUpperBound > choice.estimate.falseMatchRate)
        #expect(choice.genuineCount == 3_000)
        let fnmr = try #require(choice.falseNonMatchRate)
        #expect(fnmr.lower <= fnmr.upper && fnmr.upper <= 1)
    }

    @Test("too few impostors: a typed refusal carrying the number needed (299 at 1e-2)")
    func refusal() throws {
        let statistics = try makeStatistics(impostors: 298, genuine: 10, seed: 23)
        for policy in [try ConservativeFMRPolicy() as any ThresholdPolicy, try ExactAtTargetPolicy()] {
            #expect(throws: CalibrationError.insufficientImpostorsForConfidence(
                have: 298, required: 299, targetFMR: 1e-2, confidence: 0.95)) {
                try policy.choose(from: statistics, targetFMR: 1e-2)
            }
        }
        let enough = try makeStatistics(impostors: 299, genuine: 10, seed: 23)
        #expect(try ConservativeFMRPolicy().choose(from: enough, targetFMR: 1e-2).estimate.falseMatches == 0)
    }

    @Test("fallback: cohort, then camera model, then model version, then a refusal")
    func fallback() throws {
        let siteA = CohortKey(modelVersion: "m1", cameraModel: "cam-x", cohort: "site-a")
        let siteB = CohortKey(modelVersion: "m1", cameraModel: "cam-x", cohort: "site-b")
        let siteC = CohortKey(modelVersion: "m1", cameraModel: "cam-y", cohort: "site-c")
        let siteD = CohortKey(modelVersion: "m1", cameraModel: "cam-z", cohort: "site-d")
        let lonely = CohortKey(modelVersion: "m2", cameraModel: "cam-x", cohort: "site-a")
        let table: [CohortKey: ScoreStatistics] = [
            siteA: try makeStatistics(impostors: 5_000, genuine: 100, seed: 1),
            siteB: try makeStatistics(impostors: 200, genuine: 100, seed: 2),
            siteC: try makeStatistics(impostors: 150, genuine: 100, seed: 3),
            lonely: try makeStatistics(impostors: 100, genuine: 100, seed: 4),
        ]
        let policy = try ConservativeFMRPolicy()
        let pools = try CohortPools(statistics: table, layout: layout)
        func level(_ key: CohortKey) throws -> FallbackLevel {
            try CohortFallback.choose(for: key, in: pools, targetFMR: 1e-2, policy: policy).level
        }
        #expect(try level(siteA) == .cohort)
        #expect(try level(siteB) == .cameraModel)
        #expect(try level(siteC) == .modelVersion)
        #expect(try level(siteD) == .modelVersion, "a cohort with no data at all still gets the parent's")
        #expect(throws: CalibrationError.insufficientImpostorsForConfidence(
            have: 100, required: 299, targetFMR: 1e-2, confidence: 0.95)) { try level(lonely) }

        let pooled = pools.statistics(for: siteB, at: .cameraModel)
        #expect(pooled == (try ScoreStatistics.merged([table[siteA], table[siteB]].compactMap { $0 }, layout: layout)))
        #expect(pools.statistics(for: siteD, at: .modelVersion).impostorCount == 5_350)
        #expect(pools.statistics(for: siteD, at: .cohort).impostorCount == 0)
        let picked = try CohortFallback.choose(for: siteB, in: pools, targetFMR: 1e-2, policy: policy)
        #expect(picked.choice == (try policy.choose(from: pooled, targetFMR: 1e-2)))
    }

    @Test("a computed release lists entries and refusals, round-trips through JSON, and reports changes")
    func release() throws {
        let siteA = CohortKey(modelVersion: "m1", cameraModel: "cam-x", cohort: "site-a")
        let siteB = CohortKey(modelVersion: "m1", cameraModel: "cam-x", cohort: "site-b")
        let lonely = CohortKey(modelVersion: "m2", cameraModel: "cam-x", cohort: "site-a")
        var table: [CohortKey: ScoreStatistics] = [
            siteA: try makeStatistics(impostors: 5_000, genuine: 500, seed: 5),
            siteB: try makeStatistics(impostors: 200, genuine: 100, seed: 6),
            lonely: try makeStatistics(impostors: 100, genuine: 100, seed: 7),
        ]
        let window = try DataWindow(startUnixSeconds: 1_764_000_000, endUnixSeconds: 1_764_600_000)
        let policy = try ConservativeFMRPolicy()
        let first = try ThresholdRelease.compute(
            version: 1, previousVersion: nil, cohorts: [siteB, lonely, siteA], statistics: table,
            targetFMR: 1e-2, policy: policy, layout: layout, window: window)
        #expect(first.release.entries.map(\.cohort) == [siteA, siteB])
        #expect(first.refused.map(\.cohort) == [lonely])
        let entryB = try #require(first.release.entry(for: siteB))
        #expect(entryB.fallbackLevel == .cameraModel)
        #expect(entryB.impostorCount == 5_200)
        #expect(entryB.fmrUpperBound <= 1e-2)

        let encoded = try JSONEncoder().encode(first.release)
        #expect(try JSONDecoder().decode(ThresholdRelease.self, from: encoded) == first.release)
        let backwards = String(decoding: encoded, as: UTF8.self)
            .replacingOccurrences(of: "\"endUnixSeconds\":1764600000", with: "\"endUnixSeconds\":1")
        #expect(throws: CalibrationError.self) { try JSONDecoder().decode(ThresholdRelease.self, from: Data(backwards.utf8)) }

        try table[siteA]?.merge(try makeStatistics(impostors: 20_000, genuine: 500, seed: 8))
        let second = try ThresholdRelease.compute(
            version: 2, previousVersion: 1, cohorts: [siteA, siteB], statistics: table,
            targetFMR: 1e-2, policy: policy, layout: layout, window: window)
        let changes = second.release.changes(since: first.release)
        #expect(changes.count == 2)
        #expect(changes.allSatisfy { second.release.entry(for: $0.cohort)?.threshold == $0.threshold })
        #expect(throws: CalibrationError.self) {
            try ThresholdRelease(version: 2, previousVersion: 2, policy: "p", window: window, entries: [])
        }
    }
}
