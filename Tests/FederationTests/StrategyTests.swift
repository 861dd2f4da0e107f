import Federation
import FederationCore
import Foundation
import SeededRandom
import TestSupport
import Testing

@Suite struct StrategyTests {
    private func matrix(_ rows: [[Float]], counts: [Int]? = nil) throws -> UpdateMatrix {
        try UpdateMatrix(updates: rows.enumerated().map { index, values in
            ClientUpdate(clientID: "kiosk-\(index)", update: ModelUpdate(values: values, exampleCount: counts?[index] ?? 1))
        })
    }

    private func randomRows(_ n: Int, _ d: Int, seed: UInt64, scale: Double = 1) -> [[Float]] {
        var noise = SeededGaussianNoise(generator: SeededGenerator(seed: seed))
        return (0..<n).map { _ in (0..<d).map { _ in Float(scale * noise.nextStandardNormal()) } }
    }

    @Test func gemmDistancesMatchDirectSubtraction() throws {
        let rows = randomRows(7, 50, seed: 3)
        let distances = pairwiseSquaredDistances(of: try matrix(rows))
        for i in 0..<7 {
            #expect(distances[i * 7 + i] == 0)
            for j in 0..<7 where j != i {
                let direct = zip(rows[i], rows[j]).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
                #expect(abs(distances[i * 7 + j] - direct) <= 1e-4 * direct)
                #expect(distances[i * 7 + j] == distances[j * 7 + i])
            }
        }
    }

    /// Median and trimmed mean against sorting, on columns full of ties (an untrained
    /// parameter is 0 in every update) and on a few distinct values repeated.
    @Test func coordinateKernelsMatchSortingWithTies() throws {
        var generator = SeededGenerator(seed: 17)
        for n in [1, 2, 5, 40, 41] {
            let d = 9
            let rows: [[Float]] = (0..<n).map { _ in
                (0..<d).map { column in
                    switch column {
                    case 0: return 0
                    case 1, 2: return Float(Int.random(in: -2...2, using: &generator))
                    default: return Float.random(in: -1...1, using: &generator)
                    }
                }
            }
            let updates = try matrix(rows)
            let median = coordinateMedian(of: updates)
            let trimmed = try trimmedMean(of: updates, beta: 0.2)
            for column in 0..<d {
                let sorted = rows.map { $0[column] }.sorted()
                let expectedMedian = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
                #expect(median[column] == expectedMedian, "n=\(n) column \(column)")
                let cut = Int(0.2 * Double(n))
                let kept = sorted[cut..<(n - cut)]
                let expectedTrimmed = Float(kept.reduce(0.0) { $0 + Double($1) } / Double(kept.count))
                #expect(abs(trimmed.values[column] - expectedTrimmed) <= 1e-6, "n=\(n) column \(column)")
            }
        }
    }

    @Test func updateMatrixRefusesMalformedRounds() {
        #expect(throws: FederationError.self) { try matrix([[1, 2], [1]]) }
        #expect(throws: FederationError.self) { try matrix([[1, .infinity]]) }
        #expect(throws: FederationError.self) { try matrix([[1, 2]], counts: [0]) }
        #expect(throws: FederationError.empty(what: "client updates")) { try UpdateMatrix(updates: []) }
    }

    @Test func fedAvgAddsTheWeightedMeanDelta() throws {
        var strategy = FedAvg()
        let outcome = try strategy.aggregate(round: 1, global: [1, 1], updates: matrix([[1, 0], [0, 4]], counts: [3, 1]))
        #expect(outcome.parameters == [1.75, 2])
        #expect(outcome.accepted == ["kiosk-0", "kiosk-1"])
        #expect(throws: FederationError.self) {
            try strategy.aggregate(round: 1, global: [1, 1, 1], updates: matrix([[1, 0]]))
        }
    }

    @Test func trimmedMeanReportsTheClientItCutEverywhere() throws {
        var rows = randomRows(10, 40, seed: 8, scale: 0.1)
        rows[4] = [Float](repeating: 50, count: 40)
        var strategy = FedTrimmedMean(beta: 0.1)
        let outcome = try strategy.aggregate(round: 1, global: [Float](repeating: 0, count: 40), updates: matrix(rows))
        #expect(outcome.parameters.allSatisfy { abs($0) < 0.2 })
        let attacker = try #require(outcome.adjusted.first { $0.clientID == "kiosk-4" })
        #expect(attacker.reason.contains("100.0 %"))
    }

    @Test func medianIgnoresAMinorityOfExtremeClients() throws {
        var rows = randomRows(9, 30, seed: 4, scale: 0.1)
        for row in 0..<4 { rows[row] = [Float](repeating: -1000, count: 30) }
        var strategy = FedMedian()
        let outcome = try strategy.aggregate(round: 1, global: [Float](repeating: 0, count: 30), updates: matrix(rows))
        #expect(outcome.parameters.allSatisfy { abs($0) < 0.5 })
    }

    @Test func normBoundingClipsOrRejects() throws {
        let rows: [[Float]] = [[0.3, 0.4], [3, 4], [0, 0.5]]
        var clipping = NormBounding(bound: 1, mode: .clip)
        let clipped = try clipping.aggregate(round: 1, global: [0, 0], updates: matrix(rows))
        #expect(clipped.adjusted.map(\.clientID) == ["kiosk-1"])
        let expectedClipped: [Float] = [0.9 / 3, 1.7 / 3]
        #expect(allClose(clipped.parameters, expectedClipped))
        var rejecting = NormBounding(bound: 1, mode: .reject)
        let rejected = try rejecting.aggregate(round: 1, global: [0, 0], updates: matrix(rows))
        #expect(rejected.rejected.map(\.clientID) == ["kiosk-1"])
        #expect(rejected.accepted == ["kiosk-0", "kiosk-2"])
        let expectedRejected: [Float] = [0.15, 0.45]
        #expect(allClose(rejected.parameters, expectedRejected))
    }

    /// With zero noise the DP aggregate is the sum of clipped updates over the FIXED
    /// denominator, not over the number of clients that reported.
    @Test func dpFedAvgDividesByTheExpectedClientCount() throws {
        var strategy = DPFedAvg(clippingNorm: 1, noiseMultiplier: 0, expectedClientCount: 10,
                                noise: DiscreteGaussianNoise(generator: SeededGenerator(seed: 1)))
        let outcome = try strategy.aggregate(round: 1, global: [0, 0], updates: matrix([[0.6, 0.8], [6, 8], [0, 0.5]]))
        let expected: [Float] = [1.2 / 10, 2.1 / 10]
        #expect(allClose(outcome.parameters, expected))
        #expect(outcome.adjusted.map(\.clientID) == ["kiosk-1"])
    }

    /// The noise has standard deviation z·C on the sum (z·C/m after the division) and is
    /// reproducible from the injected seed.
    @Test func dpFedAvgNoiseIsCalibratedAndSeeded() throws {
        let d = 20_000
        let zero = [Float](repeating: 0, count: d)
        func run(seed: UInt64) throws -> [Float] {
            var strategy = DPFedAvg(clippingNorm: 0.5, noiseMultiplier: 1.2, expectedClientCount: 4,
                                    noise: DiscreteGaussianNoise(generator: SeededGenerator(seed: seed)))
            return try strategy.aggregate(round: 1, global: zero, updates: matrix([zero, zero])).parameters
        }
        let first = try run(seed: 42)
        #expect(try run(seed: 42) == first)
        #expect(try run(seed: 43) != first)
        let mean = first.reduce(0.0) { $0 + Double($1) } / Double(d)
        let std = (first.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(d)).squareRoot()
        let expected = 1.2 * 0.5 / 4
        #expect(abs(std - expected) < 0.03 * expected)
        #expect(abs(mean) < 4 * expected / Double(d).squareRoot())
    }

    @Test func configureRoundPoissonSamplesAtTheRateWithAFreshSeed() {
        let clients = (0..<2000).map { "kiosk-\($0)" }
        let context = RoundContext(roundNumber: 3, eligibleClients: clients, samplingRate: 0.1,
                                   localTraining: LocalTrainingConfiguration(), clippingNorm: 1)
        var generator = SeededGenerator(seed: 5)
        let plan = FedAvg().configureRound(context, using: &generator)
        #expect(plan.roundNumber == 3)
        #expect(abs(plan.selectedClients.count - 200) < 45)
        var again = SeededGenerator(seed: 5)
        #expect(FedAvg().configureRound(context, using: &again) == plan)
        let next = FedAvg().configureRound(context, using: &generator)
        #expect(next.localTraining.seed != plan.localTraining.seed)
    }
}

@Suite struct AggregationFileTests {
    @Test func roundTripsTheCLIFormat() throws {
        let matrix = try UpdateMatrix(clientIDs: ["0", "1", "2"], exampleCounts: [5, 7, 9], columnCount: 2,
                                      values: [1, -2, 0.5, 3, -0.25, 8])
        let data = AggregationFile.encodeUpdates(matrix)
        #expect(data.count == 8 + 3 * 8 + 6 * 4)
        let decoded = try AggregationFile.decodeUpdates(data)
        #expect(decoded.values == matrix.values)
        #expect(decoded.exampleCounts == [5, 7, 9])
        #expect(decoded.clientIDs == ["0", "1", "2"])
        #expect(try AggregationFile.decodeResult(AggregationFile.encodeResult([1.5, -2])) == [1.5, -2])
    }

    @Test func refusesTruncatedOrInconsistentFiles() throws {
        let matrix = try UpdateMatrix(clientIDs: ["0"], exampleCounts: [1], columnCount: 2, values: [1, 2])
        let data = AggregationFile.encodeUpdates(matrix)
        #expect(throws: FederationError.self) { try AggregationFile.decodeUpdates(data.dropLast()) }
        #expect(throws: FederationError.self) { try AggregationFile.decodeUpdates(Data([1, 0, 0])) }
        var negative = data
        negative.replaceSubrange(0..<4, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: FederationError.self) { try AggregationFile.decodeUpdates(negative) }
        #expect(throws: FederationError.self) { try AggregationFile.decodeResult(Data([0, 0, 0])) }
    }
}
