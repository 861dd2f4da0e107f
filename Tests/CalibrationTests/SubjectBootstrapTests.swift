import SeededRandom
import Testing
@testable import Calibration

/// Attempts of `subjects` subjects, each with `impostors` impostor scores of which the first
/// `falseMatches(subject)` are 0.9 and the rest spread below 0.5, and two genuine scores.
func subjectAttempts(
    subjects: Int, impostors: Int, falseMatches: (Int) -> Int
) -> [(subject: String, score: Double, label: ScoreLabel)] {
    var attempts: [(subject: String, score: Double, label: ScoreLabel)] = []
    for subject in 0..<subjects {
        let id = "s\(subject)"
        let high = falseMatches(subject)
        for attempt in 0..<impostors {
            let score = attempt < high ? 0.9 : 0.5 * Double(attempt) / Double(impostors)
            attempts.append((subject: id, score: score, label: .impostor))
        }
        attempts.append((subject: id, score: 0.95, label: .genuine))
        attempts.append((subject: id, score: 0.85, label: .genuine))
    }
    return attempts
}

@Suite("Subject scores")
struct SubjectScoresTests {
    @Test("groups attempts by subject, sorted, ignoring unknown labels")
    func grouping() throws {
        let scores = try SubjectScores(attempts: [
            (subject: "a", score: 0.7, label: .impostor),
            (subject: "a", score: 0.2, label: .impostor),
            (subject: "a", score: 0.9, label: .genuine),
            (subject: "b", score: 0.3, label: .impostor),
            (subject: "c", score: 0.5, label: .unknown),
        ])
        #expect(scores.subjectCount == 2)
        #expect(scores.impostorCount == 3)
        #expect(scores.genuineCount == 1)
        #expect(scores.subjects["a"]?.impostorScores.values == [0.2, 0.7])
        #expect(scores.subjects["a"]?.genuineScores.values == [0.9])
        #expect(scores.subjects["c"] == nil)
    }

    @Test("refuses NaN and infinite scores")
    func refusesNonFinite() {
        #expect(throws: CalibrationError.nanScore) {
            try SubjectScores(attempts: [(subject: "a", score: .nan, label: .impostor)])
        }
        #expect(throws: CalibrationError.nonFiniteScore(.infinity)) {
            try SubjectScores(attempts: [(subject: "a", score: .infinity, label: .genuine)])
        }
    }

    @Test("merging cohorts keeps one subject seen at two sites as one subject")
    func merging() throws {
        let site1 = try SubjectScores(attempts: [
            (subject: "a", score: 0.7, label: .impostor), (subject: "b", score: 0.1, label: .impostor),
        ])
        let site2 = try SubjectScores(attempts: [
            (subject: "a", score: 0.4, label: .impostor), (subject: "a", score: 0.8, label: .genuine),
            (subject: "c", score: 0.6, label: .genuine),
        ])
        let pooled = SubjectScores.merged([site1, site2])
        #expect(pooled.subjectCount == 3)
        #expect(pooled.impostorCount == 3)
        #expect(pooled.genuineCount == 2)
        #expect(pooled.subjects["a"]?.impostorScores.values == [0.4, 0.7])
        #expect(pooled.subjects["a"]?.genuineScores.values == [0.8])
        var merged = site1
        merged.merge(site2)
        #expect(merged == pooled)
    }
}

@Suite("Subjects bootstrap")
struct SubjectBootstrapTests {
    @Test("the generator is SplitMix64, the stream of SeededGenerator")
    func generator() {
        var mine = SplitMix64(seed: 42)
        var reference = SeededGenerator(seed: 42)
        for _ in 0..<100 { #expect(mine.next() == reference.next()) }
        var draws = SplitMix64(seed: 1)
        for bound in [1, 2, 3, 7, 1_000, 1 << 40] {
            for _ in 0..<50 {
                let index = draws.index(below: bound)
                #expect(index >= 0 && index < bound)
            }
        }
    }

    @Test("each resample draws as many subjects as there are, and a seed fixes the draws")
    func weights() {
        let first = SubjectResampling.multinomialCounts(resamples: 200, subjects: 37, seed: 9)
        for row in 0..<200 {
            #expect(first[(row * 37)..<(row * 37 + 37)].reduce(0, +) == 37)
        }
        #expect(first == SubjectResampling.multinomialCounts(resamples: 200, subjects: 37, seed: 9))
        #expect(first != SubjectResampling.multinomialCounts(resamples: 200, subjects: 37, seed: 10))
    }

    @Test("the bound is F̂ + spread · (q − F̂) with q the resamples' quantile, computed by hand")
    func boundByHand() throws {
        let scores = try SubjectScores(attempts: subjectAttempts(subjects: 30, impostors: 50) { $0 % 3 == 0 ? $0 % 7 : 0 })
        let bootstrap = try SubjectBootstrap(resamples: 300, confidence: 0.9, seed: 3, spread: 2.5)
        let ids = scores.subjects.keys.sorted()
        let counts = ids.map { Double(scores.subjects[$0]?.impostorScores.count(atLeast: 0.9) ?? 0) }
        let totals = ids.map { Double(scores.subjects[$0]?.impostorScores.count ?? 0) }
        let weights = SubjectResampling.multinomialCounts(resamples: 300, subjects: ids.count, seed: 3)
        var rates: [Double] = []
        for row in 0..<300 {
            var top = 0.0, bottom = 0.0
            for column in ids.indices {
                top += Double(weights[row * ids.count + column]) * counts[column]
                bottom += Double(weights[row * ids.count + column]) * totals[column]
            }
            rates.append(top / bottom)
        }
        rates.sort()
        let quantile = rates[269]  // ⌈0.9 · 300⌉ = 270th smallest
        let observed = counts.reduce(0, +) / totals.reduce(0, +)
        let bound = bootstrap.fmrUpperBound(at: 0.9, in: scores)
        #expect(abs(bound - (observed + 2.5 * (quantile - observed))) < 1e-15)
        #expect(bound > observed)
        #expect(bootstrap.resampling(of: scores).observedFMR(at: 0.9) == observed)
    }

    @Test("identical subjects leave nothing to resample: the bound is the observed FMR")
    func identicalSubjects() throws {
        let scores = try SubjectScores(attempts: subjectAttempts(subjects: 25, impostors: 100) { _ in 1 })
        let bound = try SubjectBootstrap(seed: 5).fmrUpperBound(at: 0.9, in: scores)
        #expect(abs(bound - 0.01) < 1e-15)
    }

    @Test("false matches concentrated in a few subjects widen the bound")
    func clusteredWidens() throws {
        // 40 false matches in 4,000 impostor attempts either way.
        let even = try SubjectScores(attempts: subjectAttempts(subjects: 40, impostors: 100) { _ in 1 })
        let clustered = try SubjectScores(attempts: subjectAttempts(subjects: 40, impostors: 100) { $0 < 2 ? 20 : 0 })
        let bootstrap = try SubjectBootstrap(seed: 11)
        #expect(bootstrap.resampling(of: even).observedFMR(at: 0.9) == bootstrap.resampling(of: clustered).observedFMR(at: 0.9))
        #expect(bootstrap.fmrUpperBound(at: 0.9, in: clustered) > bootstrap.fmrUpperBound(at: 0.9, in: even) + 0.01)
    }

    @Test("a wider spread scales the distance above the observed FMR")
    func spreadScales() throws {
        let scores = try SubjectScores(attempts: subjectAttempts(subjects: 40, impostors: 100) { $0 % 5 == 0 ? 4 : 0 })
        let plain = try SubjectBootstrap(seed: 2, spread: 1).fmrUpperBound(at: 0.9, in: scores)
        let wide = try SubjectBootstrap(seed: 2, spread: 4).fmrUpperBound(at: 0.9, in: scores)
        let observed = 32.0 / 4_000
        #expect(abs((wide - observed) - 4 * (plain - observed)) < 1e-15)
    }

    @Test("the same attempts in another order give the same bound and threshold")
    func orderIndependent() throws {
        let attempts = subjectAttempts(subjects: 60, impostors: 80) { $0 % 4 == 0 ? 1 : 0 }
        let forward = try SubjectScores(attempts: attempts)
        let backward = try SubjectScores(attempts: attempts.reversed())
        let bootstrap = try SubjectBootstrap(seed: 4)
        #expect(bootstrap.fmrUpperBound(at: 0.3, in: forward) == bootstrap.fmrUpperBound(at: 0.3, in: backward))
        #expect(try bootstrap.threshold(targetFMR: 0.01, in: forward) == bootstrap.threshold(targetFMR: 0.01, in: backward))
    }

    @Test("the threshold's bound meets the target and, with spread 1, the next lower score's does not")
    func lowestThreshold() throws {
        var generator = SeededGenerator(seed: 17)
        var attempts: [(subject: String, score: Double, label: ScoreLabel)] = []
        for subject in 0..<80 {
            // Each subject has its own level: some subjects resemble others more.
            let level = generator.normal(mean: 0, deviation: 0.08)
            for score in generator.scores(60, mean: 0.3 + level, deviation: 0.12) {
                attempts.append((subject: "p\(subject)", score: score, label: .impostor))
            }
        }
        let scores = try SubjectScores(attempts: attempts)
        let bootstrap = try SubjectBootstrap(resamples: 400, seed: 8, spread: 1)
        let resampling = bootstrap.resampling(of: scores)
        let threshold = try resampling.threshold(targetFMR: 0.01)
        #expect(resampling.fmrUpperBound(at: threshold) <= 0.01)
        let lower = attempts.map(\.score).filter { $0 < threshold }.max() ?? -1
        #expect(resampling.fmrUpperBound(at: lower) > 0.01)
        // The subject-level threshold is at least the observed one.
        #expect(resampling.observedFMR(at: threshold) <= 0.01)
        let wide = try SubjectBootstrap(resamples: 400, seed: 8).threshold(targetFMR: 0.01, in: scores)
        #expect(wide > threshold)
        #expect(bootstrap.fmrUpperBound(at: 2, in: scores) == 0)
    }

    @Test("refuses too few subjects, too few impostors, bad targets and bad parameters")
    func refusals() throws {
        let bootstrap = try SubjectBootstrap()
        let few = try SubjectScores(attempts: subjectAttempts(subjects: 5, impostors: 1_000) { _ in 0 })
        #expect(throws: CalibrationError.tooFewSubjects(count: 5, required: 20)) {
            try bootstrap.threshold(targetFMR: 1e-3, in: few)
        }
        let small = try SubjectScores(attempts: subjectAttempts(subjects: 30, impostors: 10) { _ in 0 })
        #expect(throws: CalibrationError.insufficientImpostorsForConfidence(have: 300, required: 2_995, targetFMR: 1e-3, confidence: 0.95)) {
            try bootstrap.threshold(targetFMR: 1e-3, in: small)
        }
        #expect(throws: CalibrationError.targetOutOfRange(0)) { try bootstrap.threshold(targetFMR: 0, in: small) }
        #expect(bootstrap.fmrUpperBound(at: 0.5, in: SubjectScores()) == 1)
        #expect(bootstrap.fmrUpperBound(at: .nan, in: small) == 1)
        #expect(throws: CalibrationError.self) { try SubjectBootstrap(resamples: 10) }
        #expect(throws: CalibrationError.self) { try SubjectBootstrap(confidence: 1) }
        #expect(throws: CalibrationError.self) { try SubjectBootstrap(spread: 0.5) }
        #expect(throws: CalibrationError.self) { try SubjectBootstrap(minimumSubjects: 1) }
    }
}
