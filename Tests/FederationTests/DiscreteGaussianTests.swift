@testable import Federation
import FederationCore
import Foundation
import SeededRandom
import TestSupport
import Testing

/// The exact discrete Gaussian sampler, DP-FedAvg on the fixed-point grid, and the privacy
/// statement's accounting for the discretisation.
@Suite struct DiscreteGaussianTests {
    /// P[Y = y] ∝ exp(−y²/(2σ²)) from the definition, over |y| ≤ `reach`.
    private struct ExactPMF {
        let reach: Int
        let masses: [Double]

        init(variance: Double) {
            reach = Int(40 * variance.squareRoot()) + 10
            let weights = (-reach...reach).map { y in exp(-Double(y * y) / (2 * variance)) }
            let total = weights.reduce(0, +)
            masses = weights.map { $0 / total }
        }

        func mass(_ y: Int) -> Double {
            abs(y) <= reach ? masses[y + reach] : 0
        }

        /// The k-th central moment (the mean is 0 by symmetry).
        func moment(_ k: Int) -> Double {
            (-reach...reach).reduce(0) { $0 + pow(Double($1), Double(k)) * mass($1) }
        }
    }

    private func draws(_ count: Int, variance: DiscreteGaussianVariance, seed: UInt64) -> [Int64] {
        var noise = DiscreteGaussianNoise(generator: SeededGenerator(seed: seed))
        return (0..<count).map { _ in noise.nextDiscreteGaussian(variance: variance) }
    }

    /// χ² quantile by Wilson–Hilferty (accurate to a few per cent at these df).
    private func chiSquareQuantile(degreesOfFreedom k: Int, standardNormalQuantile z: Double) -> Double {
        let k = Double(k)
        let term = 1 - 2 / (9 * k) + z * (2 / (9 * k)).squareRoot()
        return k * term * term * term
    }

    /// Pearson's χ² of 20,000 seeded draws against the exact pmf, every value with an expected
    /// count of at least 5 a bin of its own and the two tails added to the outermost bins,
    /// below the 1e-4 upper quantile. A rounded continuous Gaussian at σ² = 0.5 puts 0.52 on
    /// zero instead of 0.564 and scores about 70 here; the bound is about 27.
    @Test(arguments: [(UInt64(1), UInt64(2)), (2, 1), (7, 3), (10, 1)])
    func samplerMatchesTheExactPMF(numerator: UInt64, denominator: UInt64) throws {
        let variance = try DiscreteGaussianVariance(numerator: numerator, denominator: denominator)
        let pmf = ExactPMF(variance: variance.value)
        let count = 20_000
        let samples = draws(count, variance: variance, seed: numerator &* 31 &+ denominator)
        var edge = 0
        while Double(count) * pmf.mass(edge + 1) >= 5 {
            edge += 1
        }
        var observed = [Int](repeating: 0, count: 2 * edge + 1)
        for sample in samples {
            observed[Int(max(-Int64(edge), min(Int64(edge), sample))) + edge] += 1
        }
        var chiSquare = 0.0
        for y in -edge...edge {
            var probability = pmf.mass(y)
            if abs(y) == edge {
                probability = (edge...pmf.reach).reduce(0) { $0 + pmf.mass($1) }
            }
            let expected = Double(count) * probability
            let difference = Double(observed[y + edge]) - expected
            chiSquare += difference * difference / expected
        }
        let bound = chiSquareQuantile(degreesOfFreedom: 2 * edge, standardNormalQuantile: 3.719)
        #expect(chiSquare < bound, "σ² = \(numerator)/\(denominator): χ² = \(chiSquare) with \(2 * edge) df")
    }

    /// Mean 0 and the exact variance (below σ² for small σ², 0.499 at 0.5), within five standard
    /// errors, for σ² from 0.5 to the 2⁴⁰ that DP-FedAvg uses at z = 1 (whose rejection step
    /// needs more than 64 bits).
    @Test(arguments: [(UInt64(1), UInt64(2), 20_000), (10_000, 1, 20_000), (1 << 40, 1, 4_000)])
    func samplerHasTheExactMeanAndVariance(numerator: UInt64, denominator: UInt64, count: Int) throws {
        let variance = try DiscreteGaussianVariance(numerator: numerator, denominator: denominator)
        let samples = draws(count, variance: variance, seed: 99).map(Double.init)
        let secondMoment: Double, fourthMoment: Double
        if variance.value <= 1e6 {
            let pmf = ExactPMF(variance: variance.value)
            secondMoment = pmf.moment(2)
            fourthMoment = pmf.moment(4)
        } else {
            // For large σ the discrete Gaussian's moments are the continuous ones to within
            // exp(−2π²σ²), far below double precision.
            secondMoment = variance.value
            fourthMoment = 3 * variance.value * variance.value
        }
        let n = Double(count)
        let mean = samples.reduce(0, +) / n
        let meanSquare = samples.reduce(0) { $0 + $1 * $1 } / n
        #expect(abs(mean) < 5 * (secondMoment / n).squareRoot())
        #expect(abs(meanSquare - secondMoment) < 5 * ((fourthMoment - secondMoment * secondMoment) / n).squareRoot())
    }

    @Test func samplerIsReproducibleFromItsSeed() throws {
        let variance = try DiscreteGaussianVariance(numerator: 1_000, denominator: 7)
        #expect(draws(500, variance: variance, seed: 5) == draws(500, variance: variance, seed: 5))
        #expect(draws(500, variance: variance, seed: 5) != draws(500, variance: variance, seed: 6))
    }

    @Test func varianceMustBePositiveAndKnowsItsSquareRoot() throws {
        #expect(throws: FederationError.self) { try DiscreteGaussianVariance(numerator: 0, denominator: 1) }
        #expect(throws: FederationError.self) { try DiscreteGaussianVariance(numerator: 1, denominator: 0) }
        #expect(try DiscreteGaussianVariance(numerator: 1, denominator: 2).floorOfSigma == 0)
        #expect(try DiscreteGaussianVariance(numerator: 99, denominator: 1).floorOfSigma == 9)
        #expect(try DiscreteGaussianVariance(numerator: 100, denominator: 1).floorOfSigma == 10)
        #expect(try DiscreteGaussianVariance(numerator: 401, denominator: 4).floorOfSigma == 10)
        #expect(try DiscreteGaussianVariance(numerator: UInt64.max, denominator: 1).floorOfSigma == UInt64(UInt32.max))
    }

    @Test func exactNaturalsMultiplySubtractAndCompareBeyond128Bits() {
        let big = ExactNatural(UInt64.max)
        let square = big * big                     // 2¹²⁸ − 2⁶⁵ + 1
        let cube = square * big                    // needs three limbs
        #expect(square < cube)
        #expect(cube - square * big == ExactNatural(0))
        #expect(square - (big * ExactNatural(UInt64.max - 1)) == big)   // (2⁶⁴−1)² − (2⁶⁴−1)(2⁶⁴−2) = 2⁶⁴ − 1
        #expect(ExactNatural.distance(ExactNatural(3), ExactNatural(10)) == ExactNatural(7))
        var generator = SeededGenerator(seed: 1)
        for _ in 0..<200 {
            #expect(ExactNatural.random(below: cube, using: &generator) < cube)
        }
    }

    // MARK: DP-FedAvg on the grid

    private func matrix(_ rows: [[Float]]) throws -> UpdateMatrix {
        try UpdateMatrix(updates: rows.enumerated().map { index, values in
            ClientUpdate(clientID: "kiosk-\(index)", update: ModelUpdate(values: values, exampleCount: 1))
        })
    }

    /// Every released value is an integer number of γ/m: the noise lives on the grid, so the
    /// release carries no low-order bits from a floating-point sample. Continuous noise
    /// fails this at almost every coordinate.
    @Test(arguments: [FixedPointGrid.defaultBits, 4])
    func dpFedAvgReleasesValuesOnTheGrid(gridBits: Int) throws {
        let d = 2_000
        var data = SeededGaussianNoise(generator: SeededGenerator(seed: 8))
        let rows = (0..<3).map { _ in (0..<d).map { _ in Float(0.05 * data.nextStandardNormal()) } }
        let clippingNorm = 1.0, denominator = 4.0
        var strategy = DPFedAvg(clippingNorm: clippingNorm, noiseMultiplier: 1, expectedClientCount: denominator,
                                gridBits: gridBits, noise: DiscreteGaussianNoise(generator: SeededGenerator(seed: 9)))
        let released = try strategy.aggregate(round: 1, global: [Float](repeating: 0, count: d), updates: matrix(rows)).parameters
        let unitsPerValue = denominator * Double(1 << gridBits) / clippingNorm   // m/γ, a power of two
        let offGrid = released.filter { value in
            let units = Double(value) * unitsPerValue
            return units != units.rounded()
        }
        #expect(offGrid.isEmpty, "\(offGrid.count) of \(d) released values are not multiples of γ/m")
        #expect(Set(released).count > 20, "the noise was added")
    }

    /// Nearest rounding can push a clipped update past C, but by at most √d/2 grid units:
    /// here an update that the server clips onto the bound with every coordinate at 40.96
    /// grid units, which all round up.
    @Test func gridRoundingStaysWithinTheInflatedSensitivity() throws {
        let d = 10_000
        let grid = try FixedPointGrid(clippingNorm: 1, bits: 12, dimension: d)
        // Norm 1.05·C, clipped to C: 2^12/√d = 40.96 grid units per coordinate.
        let crafted = [Float](repeating: 0.0105, count: d)
        let norm = try matrix([crafted]).rowNorms()[0]
        let point = try grid.integerPoint(of: crafted[...], norm: norm)
        let squaredNorm = point.reduce(0.0) { $0 + Double($1) * Double($1) }
        #expect(squaredNorm.squareRoot() > Double(1 << 12), "rounding did push the norm past C/γ")
        #expect(squaredNorm <= grid.sensitivity * grid.sensitivity)
    }

    @Test func dpFedAvgRefusesNoiseTheGridCannotHold() throws {
        var strategy = DPFedAvg(clippingNorm: 1, noiseMultiplier: 5_000, expectedClientCount: 4,
                                noise: DiscreteGaussianNoise(generator: SeededGenerator(seed: 1)))
        #expect(throws: FederationError.self) {
            try strategy.aggregate(round: 1, global: [0, 0], updates: matrix([[0.1, 0.2]]))
        }
        #expect(throws: FederationError.self) {
            try PrivacyStatement(clippingNorm: 1, noiseMultiplier: 5_000, samplingRate: 0.01, releaseRounds: 1,
                                 ledger: [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 5_000, rounds: 1)], delta: 1e-6)
        }
    }

    // MARK: Accounting for the discretisation

    /// The statement accounts with σ/Δ < z, so its ε is at least the continuous Gaussian's
    /// at z under both accountants, equal to the accountants at σ/Δ, and it names the
    /// mechanism, the grid step and the multiplier. A coarse grid (k = 6: Δ = 64 + 64)
    /// halves the multiplier and shows the effect plainly.
    @Test(arguments: [FixedPointGrid.defaultBits, 6])
    func statementAccountsForTheGrid(gridBits: Int) throws {
        let z = 1.0, q = 0.01, delta = 1e-6
        let ledger = [PrivacyLedgerEntry(samplingRate: q, noiseMultiplier: z, rounds: 100)]
        // A coarser PLD interval than the default keeps the six PLD compositions quick.
        let pld = PLDAccountant(discretizationInterval: 1e-3)
        let statement = try PrivacyStatement(clippingNorm: 0.5, noiseMultiplier: z, samplingRate: q, releaseRounds: 100,
                                             ledger: ledger, delta: delta, gridBits: gridBits, pld: pld)
        let units = Double(1 << gridBits)
        #expect(statement.dimension == 128 * 128)
        #expect(statement.gridStep == 0.5 / units)
        #expect(statement.effectiveNoiseMultiplier == z * units / (units + 64))
        #expect(statement.effectiveNoiseMultiplier < z)

        let continuousRDP = try RDPAccountant().epsilon(for: ledger, delta: delta).epsilon
        let continuousPLD = try pld.epsilon(for: ledger, delta: delta)
        #expect(statement.cumulativeEpsilonRDP >= continuousRDP)
        #expect(statement.cumulativeEpsilonPLD >= continuousPLD)
        let effective = [PrivacyLedgerEntry(samplingRate: q, noiseMultiplier: statement.effectiveNoiseMultiplier, rounds: 100)]
        #expect(statement.cumulativeEpsilonRDP == (try RDPAccountant().epsilon(for: effective, delta: delta).epsilon))
        #expect(statement.cumulativeEpsilonPLD == (try pld.epsilon(for: effective, delta: delta)))
        if gridBits == 6 {
            #expect(statement.effectiveNoiseMultiplier == 0.5)
            #expect(statement.cumulativeEpsilonRDP > 2 * continuousRDP)
        } else {
            #expect(statement.cumulativeEpsilonRDP - continuousRDP < 1e-3 * continuousRDP)
        }

        #expect(statement.mechanism.contains("discrete Gaussian"))
        #expect(statement.mechanism.contains("\(statement.gridStep)"))
        #expect(statement.mechanism.contains("\(statement.effectiveNoiseMultiplier)"))
        #expect(statement.accountants.contains("effective noise multiplier"))
        #expect(statement.accountants.contains("τ = 0"))
        #expect(statement.accountants.contains("amplification of Poisson sampling"), "the report says ε counts on secret sampling")
        let decoded = try JSONDecoder().decode(PrivacyStatement.self, from: JSONEncoder().encode(statement))
        #expect(decoded == statement)
    }
}
