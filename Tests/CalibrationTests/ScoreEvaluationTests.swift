import Foundation
import SeededRandom
import Testing
@testable import Calibration

@Suite("ScoreEvaluation: the score-file report")
struct ScoreEvaluationTests {
    @Test("answers equal bob.measure on every fixture, refusals where bob raises", arguments: Fixtures.bob.cases)
    func againstBob(_ fixture: BobFixtures.Case) throws {
        let set = try ScoreSet(
            outcomes: labelled(fixture.impostors, .impostor) + labelled(fixture.genuine, .genuine) + labelled([0.5], .unknown))
        let targets = fixture.far_threshold.map(\.target).filter { $0 > 0 && $0 < 1 }
        let report = try ScoreEvaluation(scores: set, targetFMRs: targets)
        #expect(report.unknownCount == 1)
        #expect(report.impostorCount == fixture.impostors.count)
        if case .value(let eer) = fixture.eer_threshold {
            #expect(report.equalErrorRateThreshold?.bitPattern == eer.exact.bitPattern)
        } else {
            #expect(report.equalErrorRateThreshold == nil)
        }
        if case .value(let hter) = fixture.min_hter_threshold {
            #expect(report.minHTERThreshold?.bitPattern == hter.exact.bitPattern)
        }
        for (evaluation, entry) in zip(report.targets, fixture.far_threshold.filter { $0.target > 0 && $0.target < 1 }) {
            switch entry.result {
            case .value(let bob):
                #expect(evaluation.threshold?.bitPattern == bob.exact.bitPattern, "\(fixture.name) \(entry.target)")
            case .error(_, let message):
                #expect(evaluation.threshold == nil)
                let reason = try #require(BobRefusal.expected(message, fixture.counts), "bob's message \(message)")
                #expect(evaluation.refusal?.hasPrefix(reason.description) == true, "\(fixture.name): \(evaluation.refusal ?? "no refusal")")
            }
        }
    }

    @Test("conservative threshold: bound <= target, and the refusal says how many impostors are missing")
    func conservative() throws {
        var random = SeededGenerator(seed: 51)
        let set = try ScoreSet(genuine: random.scores(2_000, mean: 0.6, deviation: 0.1),
                               impostor: random.scores(20_000, mean: 0, deviation: 0.1, decimals: 3))
        let report = try ScoreEvaluation(scores: set, targetFMRs: [1e-2, 1e-3, 1e-5])
        let bound = try ClopperPearson()
        let impostors = try SortedScores(set.impostor)
        for evaluation in report.targets.prefix(2) {
            let conservative = try #require(evaluation.conservativeThreshold)
            let threshold = try #require(evaluation.threshold)
            #expect(conservative >= threshold)
            let falseMatches = impostors.count(atLeast: conservative)
            #expect(try bound.upperBound(falseMatches: falseMatches, comparisons: impostors.count) <= evaluation.targetFMR)
            let upper = try #require(evaluation.fmrUpperBound)
            let observed = try #require(evaluation.falseMatchRate)
            #expect(upper >= observed)
        }
        let tooStrict = report.targets[2]
        #expect(tooStrict.conservativeThreshold == nil)
        #expect(tooStrict.impostorsStillNeeded == (try bound.impostorsNeeded(targetFMR: 1e-5)) - 20_000)
        #expect(tooStrict.threshold != nil, "bob's threshold is still given; only the claim is refused")
        let decoded = try JSONDecoder().decode(ScoreEvaluation.self, from: JSONEncoder().encode(report))
        #expect(decoded == report)
    }

    @Test("targets outside (0, 1) and NaN scores are refused")
    func refusals() throws {
        let set = try ScoreSet(genuine: [0.5, 0.6], impostor: [0.1, 0.2])
        #expect(throws: CalibrationError.targetOutOfRange(0)) { try ScoreEvaluation(scores: set, targetFMRs: [0]) }
        #expect(throws: CalibrationError.nanScore) { try ScoreSet(outcomes: [(Double.nan, ScoreLabel.unknown)]) }
    }
}

@Suite("Grid, layout, histogram and tail edge cases")
struct GridAndLayoutTests {
    @Test("grid edges are exact and placement agrees with them")
    func placement() throws {
        let grid = ScoreGrid.cosine
        #expect(grid.upperBound == 1)
        var random = SeededGenerator(seed: 61)
        for _ in 0..<10_000 {
            let score = Double.random(in: -1..<1, using: &random)
            let index = grid.binIndex(of: score)
            #expect(grid.edge(index) <= score && score < grid.edge(index + 1))
        }
        for index in [0, 1, 8191, 8192, 16383] {
            #expect(grid.binIndex(of: grid.edge(index)) == index)
            #expect(grid.binIndex(of: grid.edge(index).nextDown) == max(index - 1, 0))
        }
        #expect(grid.placement(of: (-1.0).nextDown) == .underflow)
        #expect(grid.placement(of: 1) == .overflow)
    }

    @Test("invalid grids and floors are refused")
    func validation() throws {
        #expect(throws: CalibrationError.self) { try ScoreGrid(lowerBound: -1, binWidth: 0.001, binCount: 2000) }
        #expect(throws: CalibrationError.self) { try ScoreGrid(lowerBound: 0.1, binWidth: 0x1p-3, binCount: 16) }
        #expect(throws: CalibrationError.self) { try StatisticsLayout(grid: .cosine, tailFloor: 0.3) }
        #expect(throws: CalibrationError.self) { try StatisticsLayout(grid: .cosine, tailFloor: 2) }
        #expect(try StatisticsLayout(grid: .cosine, tailFloor: 1).tailFloorEdgeIndex == 16_384)
    }

    @Test("infinite scores are refused by statistics, accepted by the raw functions like bob")
    func infinities() throws {
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.5)
        var statistics = ScoreStatistics(layout: layout)
        #expect(throws: CalibrationError.nonFiniteScore(.infinity)) { try statistics.add(score: .infinity, label: .impostor) }
        #expect(throws: CalibrationError.nonFiniteScore(-.infinity)) { try statistics.add([0.1, -.infinity], label: .genuine) }
        #expect(statistics == ScoreStatistics(layout: layout))
        #expect(try ErrorRates.farThreshold(impostors: [0.1, .infinity], target: 0) == .infinity)
    }

    @Test("tail subtraction of an absent score is refused whole")
    func tailSubtraction() throws {
        var tail = ExactTail(floor: 0.5)
        tail.insert(contentsOf: [0.7, 0.6, 0.6, 0.9, 0.2])
        #expect(tail.scores == [0.6, 0.6, 0.7, 0.9])
        var other = ExactTail(floor: 0.5)
        other.insert(contentsOf: [0.6, 0.8])
        #expect(throws: CalibrationError.removalOfAbsentScore(0.8)) { try tail.subtract(other) }
        #expect(tail.scores == [0.6, 0.6, 0.7, 0.9])
        try tail.remove(0.6)
        #expect(tail.scores == [0.6, 0.7, 0.9])
    }

    @Test("ROC points from statistics equal raw farfrr at the same thresholds")
    func rocFromStatistics() throws {
        var random = SeededGenerator(seed: 71)
        let impostors = random.scores(5_000, mean: 0, deviation: 0.1)
        let genuine = random.scores(1_000, mean: 0.6, deviation: 0.1)
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.25)
        let statistics = try ScoreStatistics(
            layout: layout, outcomes: labelled(impostors, .impostor) + labelled(genuine, .genuine))
        let sortedImpostors = try SortedScores(impostors)
        let sortedGenuine = try SortedScores(genuine)
        let points = try statistics.rocPoints()
        #expect(points.count > 100)
        #expect(zip(points, points.dropFirst()).allSatisfy { $0.threshold < $1.threshold })
        for point in points {
            let raw = try ErrorRates.farFRR(impostors: sortedImpostors, genuine: sortedGenuine, threshold: point.threshold)
            #expect(raw.falseMatchRate == point.falseMatchRate)
            #expect(raw.falseNonMatchRate == point.falseNonMatchRate)
        }
    }
}
