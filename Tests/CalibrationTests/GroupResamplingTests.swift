import SeededRandom
import Testing
@testable import Calibration

@Suite("Subjects bootstrap over subject groups")
struct GroupResamplingTests {
    /// `count` subjects with ids in group order ("s000" …), impostor attempts of varying number
    /// and level (some subjects are look-alikes with many high scores), scores with ties.
    static func attempts(subjects count: Int, seed: UInt64) -> [(subject: String, score: Double, label: ScoreLabel)] {
        var random = SeededGenerator(seed: seed)
        var attempts: [(subject: String, score: Double, label: ScoreLabel)] = []
        for index in 0..<count {
            let id = "s" + String(repeating: "0", count: 3 - String(index).count) + String(index)
            let shift = index % 17 == 0 ? 0.3 : 0
            for score in random.scores(Int(random.next() % 150) + 20, mean: 0.2 + shift, deviation: 0.15, decimals: 4) {
                attempts.append((id, score, .impostor))
            }
        }
        return attempts
    }

    /// The same attempts with subject i in group i (ids sort in group order).
    static func ownGroups(_ attempts: [(subject: String, score: Double, label: ScoreLabel)], tailFloor: Double) throws -> ImpostorSubjects {
        try ownGroups(attempts, layout: try StatisticsLayout(grid: .cosine, tailFloor: tailFloor))
    }

    static func ownGroups(_ attempts: [(subject: String, score: Double, label: ScoreLabel)], layout: StatisticsLayout) throws -> ImpostorSubjects {
        let ids = Set(attempts.map(\.subject)).sorted()
        let groupOf = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($0.element, $0.offset) })
        var subjects = ImpostorSubjects(layout: layout)
        for attempt in attempts {
            subjects.add(checkedScore: attempt.score, group: try #require(groupOf[attempt.subject]))
        }
        return subjects
    }

    @Test("one subject per group, same seed: the grouped bootstrap is the subjects bootstrap, bit for bit",
          arguments: [(subjects: 40, seed: 1 as UInt64), (subjects: 120, seed: 2), (subjects: 256, seed: 3)])
    func equalsSubjectBootstrap(subjects: Int, seed: UInt64) throws {
        let attempts = Self.attempts(subjects: subjects, seed: seed)
        let bootstrap = try SubjectBootstrap(resamples: 300, confidence: 0.95, seed: seed)
        let perSubject = bootstrap.resampling(of: try SubjectScores(attempts: attempts))
        // Every score is above the floor, so every candidate threshold is in the tail.
        let grouped = bootstrap.resampling(of: try Self.ownGroups(attempts, tailFloor: -1))
        #expect(grouped.nonEmptyGroups == subjects)
        #expect(grouped.impostorCount == perSubject.impostorCount)
        for threshold in [0.2, 0.45, 0.5, 0.55, 0.6, 0.7, 0.9] {
            #expect(grouped.observedFMR(at: threshold) == perSubject.observedFMR(at: threshold))
            #expect(grouped.resampledFMRs(at: threshold) == perSubject.resampledFMRs(at: threshold))
            #expect(grouped.fmrUpperBound(at: threshold).bitPattern == perSubject.fmrUpperBound(at: threshold).bitPattern)
        }
        for target in [1e-2, 3e-3, 1e-3] {
            #expect(try grouped.threshold(targetFMR: target).bitPattern == (try perSubject.threshold(targetFMR: target)).bitPattern)
        }
    }

    @Test("below the tail floor, bounds on coarse edges are the subjects bootstrap's, and the threshold is the lowest passing edge")
    func belowTheFloor() throws {
        let attempts = Self.attempts(subjects: 120, seed: 6)
        let bootstrap = try SubjectBootstrap(resamples: 300, confidence: 0.95, seed: 6)
        let perSubject = bootstrap.resampling(of: try SubjectScores(attempts: attempts))
        // A floor above every impostor: only the coarse bins know the groups' counts.
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.96875)
        let subjects = try Self.ownGroups(attempts, layout: layout)
        #expect(subjects.tailScores.isEmpty)
        let grouped = bootstrap.resampling(of: subjects)
        let edges = (0..<subjects.coarseBinCount).map(subjects.coarseEdge)
        for edge in edges where edge > 0 {
            #expect(grouped.fmrUpperBound(at: edge).bitPattern == perSubject.fmrUpperBound(at: edge).bitPattern, "\(edge)")
        }
        // Between edges, the counts of the edge below: never a lower bound than the exact one.
        for threshold in [0.41, 0.5123, 0.6001] {
            #expect(grouped.fmrUpperBound(at: threshold) >= perSubject.fmrUpperBound(at: threshold))
        }
        for target in [1e-2, 1e-3] {
            let threshold = try grouped.threshold(targetFMR: target)
            let index = try #require(edges.firstIndex(of: threshold), "\(threshold) is a coarse edge")
            #expect(perSubject.fmrUpperBound(at: threshold) <= target)
            #expect(perSubject.fmrUpperBound(at: edges[index - 1]) > target)
            let exact = try perSubject.threshold(targetFMR: target)
            #expect(threshold >= exact && threshold - exact < ImpostorSubjects.coarseBinWidth, "\(threshold) vs \(exact)")
        }
    }

    @Test("the quantile by selection is the sorted list's element, with ties and at every rank")
    func selection() {
        var random = SeededGenerator(seed: 12)
        for count in [1, 2, 3, 10, 101, 1_000] {
            let values = (0..<count).map { _ in Double(random.next() % 7) / 7 }
            let sorted = values.sorted()
            for index in 0..<count {
                var copy = values
                #expect(SubjectResampling.select(&copy, index) == sorted[index], "\(count) \(index)")
            }
            for level in [0.5, 0.9, 0.95, 0.999] {
                let rank = min(max(Int((level * Double(count)).rounded(.up)), 1), count)
                #expect(SubjectResampling.quantile(values, at: level) == sorted[rank - 1])
            }
        }
    }

    @Test("weights shared between pools of one size give the answer of freshly drawn ones")
    func sharedWeights() throws {
        let bootstrap = try SubjectBootstrap(resamples: 200, seed: 9)
        var cache = GroupWeightCache()
        for seed in [4, 5, 4] as [UInt64] {
            let subjects = try Self.ownGroups(Self.attempts(subjects: 50, seed: seed), tailFloor: 0.25)
            let fresh = bootstrap.resampling(of: subjects)
            let shared = cache.resampling(of: subjects, bootstrap: bootstrap)
            #expect(try shared.threshold(targetFMR: 1e-2) == (try fresh.threshold(targetFMR: 1e-2)))
            #expect(shared.fmrUpperBound(at: 0.6) == fresh.fmrUpperBound(at: 0.6))
        }
    }

    @Test("refusals: too few groups, too few impostors, a target outside (0, 1)")
    func refusals() throws {
        let bootstrap = try SubjectBootstrap(resamples: 200, seed: 1)
        let few = bootstrap.resampling(of: try Self.ownGroups(Self.attempts(subjects: 10, seed: 1), tailFloor: 0))
        #expect(throws: CalibrationError.tooFewSubjects(count: 10, required: 20)) { try few.threshold(targetFMR: 1e-2) }
        var small = ImpostorSubjects(layout: try StatisticsLayout(grid: .cosine, tailFloor: 0))
        for group in 0..<30 { small.add(checkedScore: 0.5, group: group) }
        #expect(throws: CalibrationError.self) { try bootstrap.resampling(of: small).threshold(targetFMR: 1e-3) }
        #expect(throws: CalibrationError.targetOutOfRange(1)) { try bootstrap.resampling(of: small).threshold(targetFMR: 1) }
        #expect(bootstrap.resampling(of: ImpostorSubjects(layout: try StatisticsLayout(grid: .cosine, tailFloor: 0))).fmrUpperBound(at: 0.5) == 1)
    }

    @Test("hashing into groups keeps the bound close to the subjects bootstrap's")
    func hashedGroupsStayClose() throws {
        let attempts = Self.attempts(subjects: 150, seed: 8)
        let bootstrap = try SubjectBootstrap(resamples: 500, seed: 8)
        var hashed = ImpostorSubjects(layout: try StatisticsLayout(grid: .cosine, tailFloor: 0))
        for attempt in attempts { try hashed.add(score: attempt.score, subject: attempt.subject) }
        #expect(hashed.nonEmptyGroups < 150)
        let grouped = try bootstrap.resampling(of: hashed).threshold(targetFMR: 1e-2)
        let perSubject = try bootstrap.threshold(targetFMR: 1e-2, in: try SubjectScores(attempts: attempts))
        #expect(abs(grouped - perSubject) < 0.03)
    }
}
