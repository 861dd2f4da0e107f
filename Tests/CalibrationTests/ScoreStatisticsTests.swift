import Foundation
import SeededRandom
import Testing
@testable import Calibration

@Suite("ScoreStatistics: exact where the tail is, mergeable, erasable")
struct ScoreStatisticsTests {
    static let targets = [0.5, 0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 0]

    @Test("with every impostor in the tail, thresholds equal bob.measure bit for bit", arguments: Fixtures.bob.cases)
    func fixturesThroughStatistics(_ fixture: BobFixtures.Case) throws {
        let grid = try ScoreGrid(lowerBound: -2, binWidth: 0x1p-12, binCount: 4 << 12)
        let layout = try StatisticsLayout(grid: grid, tailFloor: -2)
        let statistics = try ScoreStatistics(
            layout: layout, outcomes: labelled(fixture.impostors, .impostor) + labelled(fixture.genuine, .genuine))
        for entry in fixture.far_threshold {
            let fromStatistics = Result { try statistics.falseMatchThreshold(target: entry.target) }
            switch (fromStatistics, entry.result) {
            case (.success(let estimate), .value(let bob)):
                #expect(estimate.threshold.bitPattern == bob.exact.bitPattern, "\(fixture.name) \(entry.target)")
                #expect(estimate.precision == .exact)
            case (.failure(let error), .error):
                #expect(error is CalibrationError)
            default:
                Issue.record("\(fixture.name) \(entry.target): \(fromStatistics) vs bob \(entry.result)")
            }
        }
    }

    @Test("2e6 heavy-tailed impostors, tail floor 0.875: exact at 1e-3 … 1e-6 and equal to bob")
    func largeHeavyTail() throws {
        let large = Fixtures.bob.large
        let scores = Fixtures.heavyTailScores(
            count: large.generator.count, multiplier: large.generator.multiplier, modulus: large.generator.modulus)
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.875)
        let statistics = try ScoreStatistics(layout: layout, outcomes: labelled(scores, .impostor))
        #expect(statistics.impostorTail.count < scores.count / 50, "the tail must stay small")
        for entry in large.far_threshold where entry.target <= 1e-3 {
            guard case .value(let bob) = entry.result else { continue }
            let estimate = try statistics.falseMatchThreshold(target: entry.target)
            #expect(estimate.precision == .exact, "\(entry.target)")
            #expect(estimate.threshold.bitPattern == bob.exact.bitPattern, "\(entry.target)")
        }
    }

    @Test("binned thresholds are grid edges with exact, never larger, FMR")
    func binnedBound() throws {
        var random = SeededGenerator(seed: 7)
        let impostors = random.scores(50_000, mean: 0, deviation: 0.1)
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.5)
        let statistics = try ScoreStatistics(layout: layout, outcomes: labelled(impostors, .impostor))
        let sorted = try SortedScores(impostors)
        for target in [0.5, 0.1, 1e-2] {
            let estimate = try statistics.falseMatchThreshold(target: target)
            let raw = try ErrorRates.farThreshold(impostors: sorted, target: target)
            guard case .binned(let width) = estimate.precision else {
                Issue.record("target \(target) should be binned with this floor")
                continue
            }
            let rawFalseMatches = sorted.count(atLeast: raw)
            #expect(estimate.falseMatches == sorted.count(atLeast: estimate.threshold), "counted exactly")
            #expect(estimate.falseMatchRate <= target)
            #expect(estimate.falseMatches <= rawFalseMatches, "never accepts more impostors than bob")
            #expect(raw >= estimate.threshold - width && raw <= estimate.threshold + width, "within one bin")
        }
    }

    @Test("thresholds from statistics equal raw thresholds at small targets on random data")
    func exactOnRandomData() throws {
        var random = SeededGenerator(seed: 11)
        let impostors = random.scores(300_000, mean: 0, deviation: 0.1, decimals: 4)
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.125)
        let statistics = try ScoreStatistics(layout: layout, outcomes: labelled(impostors, .impostor))
        let sorted = try SortedScores(impostors)
        for target in [1e-2, 1e-3, 1e-4, 1e-5, 1e-6] {
            let estimate = try statistics.falseMatchThreshold(target: target)
            #expect(estimate.precision == .exact)
            #expect(estimate.threshold.bitPattern == (try ErrorRates.farThreshold(impostors: sorted, target: target)).bitPattern)
            #expect(estimate.falseMatches == sorted.count(atLeast: estimate.threshold))
        }
    }

    @Test("shuffled chunks merged equal one pass")
    func streamingEqualsBatch() throws {
        var random = SeededGenerator(seed: 3)
        let outcomes = labelled(random.scores(20_000, mean: 0, deviation: 0.12, decimals: 3), .impostor)
            + labelled(random.scores(5_000, mean: 0.6, deviation: 0.1), .genuine)
            + labelled([0.3, 0.4], .unknown)
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.25)
        let onePass = try ScoreStatistics(layout: layout, outcomes: outcomes)
        var shuffled = outcomes
        shuffled.shuffle(using: &random)
        var streamed = ScoreStatistics(layout: layout)
        for start in stride(from: 0, to: shuffled.count, by: 997) {
            let chunk = try ScoreStatistics(layout: layout, outcomes: shuffled[start..<min(start + 997, shuffled.count)])
            try streamed.merge(chunk)
        }
        #expect(streamed == onePass)
        #expect(streamed.unknownCount == 2)
        var byLabel = ScoreStatistics(layout: layout)
        for label in ScoreLabel.allCases {
            try byLabel.add(outcomes.filter { $0.label == label }.map(\.score), label: label)
        }
        #expect(byLabel == onePass, "the one-label batch path counts the same")
        for target in Self.targets {
            #expect(try streamed.falseMatchThreshold(target: target) == onePass.falseMatchThreshold(target: target))
        }
    }

    @Test("erasing outcomes equals never having had them; absent removals change nothing")
    func erasure() throws {
        var random = SeededGenerator(seed: 5)
        let kept = labelled(random.scores(8_000, mean: 0, deviation: 0.1, decimals: 3), .impostor)
            + labelled(random.scores(2_000, mean: 0.6, deviation: 0.1), .genuine)
        let erased = labelled(random.scores(500, mean: 0.2, deviation: 0.1, decimals: 3), .impostor)
            + labelled(random.scores(100, mean: 0.6, deviation: 0.1), .genuine) + labelled([0.1], .unknown)
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.25)
        var statistics = try ScoreStatistics(layout: layout, outcomes: kept + erased)
        try statistics.remove(contentsOf: erased)
        #expect(statistics == (try ScoreStatistics(layout: layout, outcomes: kept)))

        let before = statistics
        #expect(throws: CalibrationError.self) { try statistics.remove(score: 0.987654, label: .impostor) }
        #expect(throws: CalibrationError.self) { try statistics.remove(contentsOf: kept + erased) }
        #expect(throws: CalibrationError.self) { try statistics.remove(score: 0.5, label: .unknown) }
        #expect(statistics == before)
    }

    @Test("a batch with a NaN is refused whole")
    func nanBatch() throws {
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.25)
        var statistics = try ScoreStatistics(layout: layout, outcomes: labelled([0.1, 0.3], .impostor))
        let before = statistics
        #expect(throws: CalibrationError.nanScore) {
            try statistics.add(contentsOf: [(0.2, .impostor), (.nan, .unknown)])
        }
        #expect(statistics == before)
    }

    @Test("statistics survive a JSON round trip and refuse corrupt input")
    func codable() throws {
        var random = SeededGenerator(seed: 9)
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.25)
        let statistics = try ScoreStatistics(
            layout: layout,
            outcomes: labelled(random.scores(3_000, mean: 0, deviation: 0.2), .impostor)
                + labelled([1.0, -3.0, 0.7], .genuine))
        let data = try JSONEncoder().encode(statistics)
        #expect(try JSONDecoder().decode(ScoreStatistics.self, from: data) == statistics)
        #expect(try JSONEncoder().encode(ScoreStatistics(layout: layout)).count < 1024, "empty bins are not encoded")
        let text = String(decoding: data, as: UTF8.self)
        let badGrid = text.replacingOccurrences(of: "\"binWidth\":", with: "\"binWidth\":0.3,\"x\":")
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ScoreStatistics.self, from: Data(badGrid.utf8)) }
        // A tail that disagrees with the impostor histogram (one tail score dropped).
        var object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var tail = try #require(object["impostorTail"] as? [String: Any])
        let scores = try #require(tail["scores"] as? [Double])
        tail["scores"] = Array(scores.dropFirst())
        object["impostorTail"] = tail
        let badTail = try JSONSerialization.data(withJSONObject: object)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ScoreStatistics.self, from: badTail) }
    }

    @Test("FNMR bounds: exact on grid edges, bracketing the raw value elsewhere")
    func genuineBounds() throws {
        var random = SeededGenerator(seed: 13)
        let genuine = random.scores(10_000, mean: 0.6, deviation: 0.1)
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.25)
        let statistics = try ScoreStatistics(layout: layout, outcomes: labelled(genuine, .genuine))
        let sorted = try SortedScores(genuine)
        for threshold in [0.5, 0.55, 0.6123, 0.7, -2, 2] {
            let bounds = statistics.falseNonMatches(below: threshold)
            let raw = sorted.count(below: threshold)
            #expect(bounds.lower <= raw && raw <= bounds.upper)
        }
        #expect(statistics.falseNonMatches(below: 0.5).isExact, "0.5 is a grid edge")
    }
}
