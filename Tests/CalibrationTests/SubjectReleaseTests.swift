import Foundation
import SeededRandom
import Testing
@testable import Calibration

/// One cohort's outcomes, as live statistics and grouped by subject: `subjects` subjects with
/// `impostorsPerSubject` impostor and `genuinePerSubject` genuine attempts each; the first
/// `lookAlikes` subjects score their impostors 0.35 higher (they resemble others), so their
/// attempts are strongly correlated.
struct CohortOutcomes {
    var live: CohortStatistics
    var subjects: SubjectScores
    var statistics: ScoreStatistics { live.scores }

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
        live = CohortStatistics(layout: layout)
        for attempt in attempts { try live.add(score: attempt.score, label: attempt.label, subject: attempt.subject) }
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

    func tables() throws -> [CohortKey: CohortOutcomes] {
        let bigOutcomes = try CohortOutcomes(layout: layout, subjects: 60, impostorsPerSubject: 100, lookAlikes: 3, prefix: "p", seed: 1)
        // Few subjects, many attempts each: enough impostors for Clopper–Pearson, too few subjects.
        // Subjects p0…p4 are the same people as in "big" (pseudonyms are per person, not per site).
        let fewOutcomes = try CohortOutcomes(layout: layout, subjects: 5, impostorsPerSubject: 800, prefix: "p", seed: 2)
        return [big: bigOutcomes, few: fewOutcomes]
    }

    func compute(_ table: [CohortKey: CohortOutcomes], subjectLevel: Bool) throws -> ThresholdRelease.Computation {
        try ThresholdRelease.compute(
            version: 2, previousVersion: 1, cohorts: [big, few], statistics: table.mapValues(\.live), targetFMR: 1e-3,
            policy: ConservativeFMRPolicy(), layout: layout, window: window, subjectBootstrap: subjectLevel ? bootstrap : nil)
    }

    @Test("without a bootstrap the release is the score statistics' release, with no subject fields")
    func withoutSubjects() throws {
        let table = try tables()
        let plain = try ThresholdRelease.compute(
            version: 2, previousVersion: 1, cohorts: [big, few], statistics: table.mapValues(\.statistics), targetFMR: 1e-3,
            policy: ConservativeFMRPolicy(), layout: layout, window: window)
        #expect(try compute(table, subjectLevel: false) == plain)
        #expect(plain.release.entries.count == 2)
        #expect(plain.release.entries.allSatisfy { $0.subjectCount == nil && $0.subjectFMRUpperBound == nil })
    }

    @Test("correlated attempts raise the threshold, and the entry is recomputed at the raised threshold")
    func raisedAndConsistent() throws {
        let table = try tables()
        let plain = try #require(try compute(table, subjectLevel: false).release.entry(for: big))
        let entry = try #require(try compute(table, subjectLevel: true).release.entry(for: big))
        #expect(entry.fallbackLevel == .cohort)
        let live = try #require(table[big]).live
        let groups = live.impostorSubjects.nonEmptyGroups
        #expect(entry.subjectCount == groups)
        #expect(groups <= 60 && groups >= 45, "60 subjects in 256 groups share a few")
        let resampling = bootstrap.resampling(of: live.impostorSubjects)
        let subjectThreshold = try resampling.threshold(targetFMR: 1e-3)
        #expect(subjectThreshold > plain.threshold)
        #expect(entry.threshold == subjectThreshold)
        #expect(entry.precision == .exact)
        #expect(entry.subjectFMRUpperBound == resampling.fmrUpperBound(at: entry.threshold))
        #expect((entry.subjectFMRUpperBound ?? 1) <= 1e-3)
        // Everything the entry states holds at its own threshold, on the pool's statistics.
        let pool = live.scores
        let counted = pool.falseMatches(atOrAbove: entry.threshold)
        #expect(counted.isExact && counted.lower == entry.falseMatchCount)
        #expect(entry.falseMatchCount < plain.falseMatchCount)
        #expect(entry.estimatedFMR == Double(entry.falseMatchCount) / Double(entry.impostorCount))
        #expect(entry.fmrUpperBound == (try ClopperPearson().upperBound(falseMatches: entry.falseMatchCount, comparisons: entry.impostorCount)))
        let rejected = pool.falseNonMatches(below: entry.threshold)
        #expect(entry.estimatedFNMR?.lower == Double(rejected.lower) / Double(pool.genuineCount))
        #expect((entry.estimatedFNMR?.lower ?? 0) >= (plain.estimatedFNMR?.lower ?? 1))
        // The grouped bound stays close to the per-subject one on the same attempts.
        let perSubject = try bootstrap.resampling(of: try #require(table[big]).subjects).threshold(targetFMR: 1e-3)
        #expect(abs(subjectThreshold - perSubject) < 0.05)
    }

    @Test("a cohort with too few subject groups moves up to the pool where the same person counts once")
    func fallsBackForSubjects() throws {
        let table = try tables()
        let computation = try compute(table, subjectLevel: true)
        #expect(computation.refused.isEmpty)
        let entry = try #require(computation.release.entry(for: few))
        #expect(entry.fallbackLevel == .cameraModel)
        // p0…p4 are at both sites and fall in the same groups at both: the pool's groups are big's.
        #expect(entry.subjectCount == table[big]?.live.impostorSubjects.nonEmptyGroups)
        #expect(entry.impostorCount == 10_000)
        let plain = try #require(try compute(table, subjectLevel: false).release.entry(for: few))
        #expect(plain.fallbackLevel == .cohort)
    }

    @Test("no level with enough subject groups: the cohort is refused, saying how many are needed")
    func refusedForSubjects() throws {
        let table = try tables()
        let few = try #require(table[self.few])
        let computation = try ThresholdRelease.compute(
            version: 2, previousVersion: 1, cohorts: [self.few], statistics: [self.few: few.live], targetFMR: 1e-3,
            policy: ConservativeFMRPolicy(), layout: layout, window: window, subjectBootstrap: bootstrap)
        #expect(computation.release.entries.isEmpty)
        #expect(computation.refused.map(\.reason) == [.tooFewSubjects(count: few.live.impostorSubjects.nonEmptyGroups, required: 20)])
    }

    @Test("with no impostor in the exact tail, the subject-level threshold is the lowest passing coarse edge below it")
    func coarseEdgeBelowTail() throws {
        // A tail floor above every impostor: per-group counts are exact on coarse edges only.
        let coarse = try StatisticsLayout(grid: .cosine, tailFloor: 0.875)
        let outcomes = try CohortOutcomes(layout: coarse, subjects: 60, impostorsPerSubject: 100, lookAlikes: 3, prefix: "q", seed: 5)
        #expect(outcomes.live.impostorSubjects.tailScores.isEmpty)
        let computation = try ThresholdRelease.compute(
            version: 1, previousVersion: nil, cohorts: [big], statistics: [big: outcomes.live], targetFMR: 1e-3,
            policy: ConservativeFMRPolicy(), layout: coarse, window: window, subjectBootstrap: bootstrap)
        let entry = try #require(computation.release.entry(for: big))
        let resampling = bootstrap.resampling(of: outcomes.live.impostorSubjects)
        let subjectThreshold = try resampling.threshold(targetFMR: 1e-3)
        #expect((subjectThreshold + 1) / ImpostorSubjects.coarseBinWidth == ((subjectThreshold + 1) / ImpostorSubjects.coarseBinWidth).rounded())
        #expect(resampling.fmrUpperBound(at: subjectThreshold - ImpostorSubjects.coarseBinWidth) > 1e-3)
        #expect(entry.threshold == subjectThreshold)
        #expect(entry.precision == .exact)
        #expect(entry.subjectFMRUpperBound == resampling.fmrUpperBound(at: entry.threshold))
        #expect((entry.subjectFMRUpperBound ?? 1) <= 1e-3)
        let counted = outcomes.statistics.falseMatches(atOrAbove: entry.threshold)
        #expect(counted.isExact && counted.lower == entry.falseMatchCount)
        // Conservative against the per-subject bootstrap, by less than one coarse bin and the
        // difference hashing into groups makes.
        let perSubject = try bootstrap.threshold(targetFMR: 1e-3, in: outcomes.subjects)
        #expect(abs(entry.threshold - perSubject) < ImpostorSubjects.coarseBinWidth + 0.03)
    }

    @Test("entries encode the subject fields only when present, and older entries decode without them")
    func codable() throws {
        let table = try tables()
        let withSubjects = try compute(table, subjectLevel: true).release
        let data = try JSONEncoder().encode(withSubjects)
        #expect(try JSONDecoder().decode(ThresholdRelease.self, from: data) == withSubjects)
        #expect(String(decoding: data, as: UTF8.self).contains("\"subjectFMRUpperBound\""))
        let without = try compute(table, subjectLevel: false).release
        let plainData = try JSONEncoder().encode(without)
        #expect(!String(decoding: plainData, as: UTF8.self).contains("subject"))
        #expect(try JSONDecoder().decode(ThresholdRelease.self, from: plainData) == without)
    }

    @Test("group pools add a subject's attempts across cohorts into its one group")
    func pools() throws {
        let table = try tables()
        let pools = try GroupPools(subjects: table.mapValues(\.live.impostorSubjects), layout: layout)
        let fewGroups = try #require(table[few]).live.impostorSubjects
        #expect(pools.subjects(for: few, at: .cohort) == fewGroups)
        let camera = pools.subjects(for: few, at: .cameraModel)
        var expected = try #require(table[big]).live.impostorSubjects
        try expected.merge(fewGroups)
        #expect(camera == expected)
        #expect(camera.impostorCount == 10_000)
        #expect(camera.groupCounts[ImpostorSubjects.group(of: "p0")] >= 900)
        #expect(camera.nonEmptyGroups == table[big]?.live.impostorSubjects.nonEmptyGroups)
        #expect(pools.subjects(for: few, at: .modelVersion) == camera)
        #expect(pools.subjects(for: CohortKey(modelVersion: "m2", cameraModel: "cam", cohort: "x"), at: .modelVersion).impostorCount == 0)
        #expect(throws: CalibrationError.incompatibleStatistics) {
            try GroupPools(subjects: [big: ImpostorSubjects(layout: try StatisticsLayout(grid: .cosine, tailFloor: 0.5)), few: fewGroups],
                           layout: layout)
        }
    }
}
