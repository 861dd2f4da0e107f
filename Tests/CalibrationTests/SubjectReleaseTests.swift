import Foundation
import SeededRandom
import Testing
@testable import Calibration

/// One cohort's outcomes, as score statistics and grouped by subject: `subjects` subjects with
/// `impostorsPerSubject` impostor and `genuinePerSubject` genuine attempts each; the first
/// `lookAlikes` subjects score their impostors 0.35 higher (they resemble others), so their
/// attempts are strongly correlated.
struct CohortOutcomes {
    var statistics: ScoreStatistics
    var subjects: SubjectScores

    init(layout: StatisticsLayout, subjects count: Int, impostorsPerSubject: Int, genuinePerSubject: Int = 5,
         lookAlikes: Int = 0, prefix: String, seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        var attempts: [(subject: String, score: Double, label: ScoreLabel)] = []
        for index in 0..<count {
            let subject = "\(prefix)\(index)"
            let shift = index < lookAlikes ? 0.35 : 0
            for score in generator.scores(impostorsPerSubject, mean: 0.1 + shift, deviation: 0.12) {
                attempts.append((subject: subject, score: score, label: .impostor))
            }
            for score in generator.scores(genuinePerSubject, mean: 0.8, deviation: 0.1) {
                attempts.append((subject: subject, score: score, label: .genuine))
            }
        }
        statistics = try ScoreStatistics(layout: layout, outcomes: attempts.map { (score: $0.score, label: $0.label) })
        subjects = try SubjectScores(attempts: attempts)
    }
}

@Suite("Threshold releases with subject-level bounds")
struct SubjectReleaseTests {
    let layout: StatisticsLayout
    let window: DataWindow
    let big = CohortKey(modelVersion: "m1", cameraModel: "cam", cohort: "big")
    let few = CohortKey(modelVersion: "m1", cameraModel: "cam", cohort: "few")
    let bootstrap: SubjectBootstrap

    init() throws {
        layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.125)
        window = try DataWindow(startUnixSeconds: 1_764_000_000, endUnixSeconds: 1_764_600_000)
        bootstrap = try SubjectBootstrap(seed: 21)
    }

    func tables() throws -> (statistics: [CohortKey: ScoreStatistics], subjects: [CohortKey: SubjectScores]) {
        let bigOutcomes = try CohortOutcomes(layout: layout, subjects: 60, impostorsPerSubject: 100, lookAlikes: 3, prefix: "p", seed: 1)
        // Few subjects, many attempts each: enough impostors for Clopper–Pearson, too few subjects.
        // Subjects p0…p4 are the same people as in "big" (pseudonyms are per person, not per site).
        let fewOutcomes = try CohortOutcomes(layout: layout, subjects: 5, impostorsPerSubject: 800, prefix: "p", seed: 2)
        return ([big: bigOutcomes.statistics, few: fewOutcomes.statistics], [big: bigOutcomes.subjects, few: fewOutcomes.subjects])
    }

    func compute(subjects: [CohortKey: SubjectScores]?, statistics: [CohortKey: ScoreStatistics]) throws -> ThresholdRelease.Computation {
        try ThresholdRelease.compute(
            version: 2, previousVersion: 1, cohorts: [big, few], statistics: statistics, targetFMR: 1e-3,
            policy: ConservativeFMRPolicy(), layout: layout, window: window,
            subjects: subjects, subjectBootstrap: subjects == nil ? nil : bootstrap)
    }

    @Test("without subject data the release is what it was, with no subject fields")
    func withoutSubjects() throws {
        let (statistics, _) = try tables()
        let plain = try ThresholdRelease.compute(
            version: 2, previousVersion: 1, cohorts: [big, few], statistics: statistics, targetFMR: 1e-3,
            policy: ConservativeFMRPolicy(), layout: layout, window: window)
        #expect(try compute(subjects: nil, statistics: statistics) == plain)
        #expect(plain.release.entries.count == 2)
        #expect(plain.release.entries.allSatisfy { $0.subjectCount == nil && $0.subjectFMRUpperBound == nil })
    }

    @Test("correlated attempts raise the threshold, and the entry is recomputed at the raised threshold")
    func raisedAndConsistent() throws {
        let (statistics, subjects) = try tables()
        let plain = try #require(try compute(subjects: nil, statistics: statistics).release.entry(for: big))
        let entry = try #require(try compute(subjects: subjects, statistics: statistics).release.entry(for: big))
        #expect(entry.fallbackLevel == .cohort)
        #expect(entry.subjectCount == 60)
        let resampling = bootstrap.resampling(of: try #require(subjects[big]))
        let subjectThreshold = try resampling.threshold(targetFMR: 1e-3)
        #expect(subjectThreshold > plain.threshold)
        #expect(entry.threshold == subjectThreshold)
        #expect(entry.precision == .exact)
        #expect(entry.subjectFMRUpperBound == resampling.fmrUpperBound(at: entry.threshold))
        #expect((entry.subjectFMRUpperBound ?? 1) <= 1e-3)
        // Everything the entry states holds at its own threshold, on the pool's statistics.
        let pool = try #require(statistics[big])
        let counted = pool.falseMatches(atOrAbove: entry.threshold)
        #expect(counted.isExact && counted.lower == entry.falseMatchCount)
        #expect(entry.falseMatchCount < plain.falseMatchCount)
        #expect(entry.estimatedFMR == Double(entry.falseMatchCount) / Double(entry.impostorCount))
        #expect(entry.fmrUpperBound == (try ClopperPearson().upperBound(falseMatches: entry.falseMatchCount, comparisons: entry.impostorCount)))
        let rejected = pool.falseNonMatches(below: entry.threshold)
        #expect(entry.estimatedFNMR?.lower == Double(rejected.lower) / Double(pool.genuineCount))
        #expect((entry.estimatedFNMR?.lower ?? 0) >= (plain.estimatedFNMR?.lower ?? 1))
    }

    @Test("a cohort with too few subjects moves up to the pool where the same person counts once")
    func fallsBackForSubjects() throws {
        let (statistics, subjects) = try tables()
        let computation = try compute(subjects: subjects, statistics: statistics)
        #expect(computation.refused.isEmpty)
        let entry = try #require(computation.release.entry(for: few))
        #expect(entry.fallbackLevel == .cameraModel)
        // 60 + 5 attempts' subjects, of whom p0…p4 are at both sites.
        #expect(entry.subjectCount == 60)
        #expect(entry.impostorCount == 10_000)
        let plain = try #require(try compute(subjects: nil, statistics: statistics).release.entry(for: few))
        #expect(plain.fallbackLevel == .cohort)
    }

    @Test("no level with enough subjects: the cohort is refused, saying how many subjects are needed")
    func refusedForSubjects() throws {
        let (statistics, subjects) = try tables()
        let computation = try ThresholdRelease.compute(
            version: 2, previousVersion: 1, cohorts: [few], statistics: [few: try #require(statistics[few])], targetFMR: 1e-3,
            policy: ConservativeFMRPolicy(), layout: layout, window: window,
            subjects: [few: try #require(subjects[few])], subjectBootstrap: bootstrap)
        #expect(computation.release.entries.isEmpty)
        #expect(computation.refused.map(\.reason) == [.tooFewSubjects(count: 5, required: 20)])
        #expect(throws: CalibrationError.invalidParameter("subject data needs a subject bootstrap")) {
            try ThresholdRelease.compute(
                version: 2, previousVersion: 1, cohorts: [few], statistics: statistics, targetFMR: 1e-3,
                policy: ConservativeFMRPolicy(), layout: layout, window: window, subjects: subjects)
        }
    }

    @Test("a raised threshold between grid edges below the exact tail moves up to the next edge")
    func binnedWhenBelowTail() throws {
        // A tail floor above every impostor: counts are exact only on grid edges.
        let coarse = try StatisticsLayout(grid: .cosine, tailFloor: 0.875)
        let outcomes = try CohortOutcomes(layout: coarse, subjects: 60, impostorsPerSubject: 100, lookAlikes: 3, prefix: "q", seed: 5)
        let computation = try ThresholdRelease.compute(
            version: 1, previousVersion: nil, cohorts: [big], statistics: [big: outcomes.statistics], targetFMR: 1e-3,
            policy: ConservativeFMRPolicy(), layout: coarse, window: window,
            subjects: [big: outcomes.subjects], subjectBootstrap: bootstrap)
        let entry = try #require(computation.release.entry(for: big))
        let subjectThreshold = try bootstrap.threshold(targetFMR: 1e-3, in: outcomes.subjects)
        #expect(entry.threshold >= subjectThreshold)
        #expect(entry.threshold - subjectThreshold < ScoreGrid.cosine.binWidth)
        #expect(entry.precision == .binned(binWidth: ScoreGrid.cosine.binWidth))
        let counted = outcomes.statistics.falseMatches(atOrAbove: entry.threshold)
        #expect(counted.isExact && counted.lower == entry.falseMatchCount)
    }

    @Test("entries encode the subject fields only when present, and older entries decode without them")
    func codable() throws {
        let (statistics, subjects) = try tables()
        let withSubjects = try compute(subjects: subjects, statistics: statistics).release
        let data = try JSONEncoder().encode(withSubjects)
        #expect(try JSONDecoder().decode(ThresholdRelease.self, from: data) == withSubjects)
        #expect(String(decoding: data, as: UTF8.self).contains("\"subjectFMRUpperBound\""))
        let without = try compute(subjects: nil, statistics: statistics).release
        let plainData = try JSONEncoder().encode(without)
        #expect(!String(decoding: plainData, as: UTF8.self).contains("subject"))
        #expect(try JSONDecoder().decode(ThresholdRelease.self, from: plainData) == without)
    }

    @Test("subject pools merge a subject's attempts across cohorts")
    func pools() throws {
        let (_, subjects) = try tables()
        let pools = SubjectPools(subjects: subjects)
        #expect(pools.subjects(for: few, at: .cohort).subjectCount == 5)
        let camera = pools.subjects(for: few, at: .cameraModel)
        #expect(camera.subjectCount == 60)
        #expect(camera.impostorCount == 10_000)
        #expect(camera.subjects["p0"]?.impostorScores.count == 900)
        #expect(pools.subjects(for: few, at: .modelVersion) == camera)
        #expect(pools.subjects(for: CohortKey(modelVersion: "m2", cameraModel: "cam", cohort: "x"), at: .modelVersion).subjectCount == 0)
    }
}
