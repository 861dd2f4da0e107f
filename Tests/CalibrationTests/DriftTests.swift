import Foundation
import SeededRandom
import Testing
@testable import Calibration

@Suite("Drift: KS against scipy, PSI, binomial check, report flags")
struct DriftTests {
    @Test("KS statistic equals scipy ks_2samp bit for bit; p-value equals kstwobign at Stephens' λ")
    func ksAgainstScipy() throws {
        for row in Fixtures.scipy.ks_2samp {
            let result = try KolmogorovSmirnov.twoSample(SortedScores(row.first), SortedScores(row.second))
            #expect(result.statistic.bitPattern == row.statistic.exact.bitPattern, "\(result.statistic) vs \(row.statistic.value)")
            #expect(abs(result.pValue - row.kolmogorov_stephens.exact) <= 1e-12 * max(row.kolmogorov_stephens.exact, 1e-300))
            // The approximation against scipy's own (exact or asymptotic) p-value.
            #expect(abs(result.pValue - row.pvalue.exact) <= 0.05 * row.pvalue.exact,
                    "n \(row.first.count)/\(row.second.count): \(result.pValue) vs scipy \(row.pvalue.value)")
        }
    }

    @Test("KS on histograms never exceeds KS on the raw scores, and is close on a fine grid")
    func ksBinned() throws {
        var random = SeededGenerator(seed: 31)
        let first = random.scores(5_000, mean: 0, deviation: 0.1)
        let second = random.scores(7_000, mean: 0.01, deviation: 0.1)
        var histogramA = ScoreHistogram(grid: .cosine)
        var histogramB = ScoreHistogram(grid: .cosine)
        for score in first { try histogramA.add(score) }
        for score in second { try histogramB.add(score) }
        let raw = try KolmogorovSmirnov.twoSample(SortedScores(first), SortedScores(second))
        let binned = try KolmogorovSmirnov.twoSample(histogramA, histogramB)
        #expect(binned.statistic <= raw.statistic)
        #expect(raw.statistic - binned.statistic < 2.0 / 5_000)
        #expect(binned.precision == .binned(binWidth: ScoreGrid.cosine.binWidth))
    }

    @Test("PSI: Σ (a − e) ln(a / e), zero for identical proportions, floored for empty bins")
    func psi() throws {
        let value = try PopulationStability.index(expected: [50, 50], actual: [25, 75])
        #expect(abs(value - ((0.25 - 0.5) * log(0.25 / 0.5) + (0.75 - 0.5) * log(0.75 / 0.5))) < 1e-15)
        #expect(try PopulationStability.index(expected: [10, 20, 30], actual: [20, 40, 60]) == 0)
        let withEmpty = try PopulationStability.index(expected: [100, 0], actual: [50, 50])
        #expect(withEmpty.isFinite && withEmpty > 1)
        #expect(throws: CalibrationError.self) { try PopulationStability.index(expected: [1], actual: [1, 2]) }
    }

    @Test("a stable cohort raises no flag; a shifted one raises PSI, KS and false-match flags")
    func report() throws {
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.125)
        func window(seed: UInt64, impostorMean: Double) throws -> ScoreStatistics {
            var random = SeededGenerator(seed: seed)
            return try ScoreStatistics(
                layout: layout,
                outcomes: labelled(random.scores(40_000, mean: impostorMean, deviation: 0.1), .impostor)
                    + labelled(random.scores(4_000, mean: 0.6, deviation: 0.1), .genuine))
        }
        let reference = try window(seed: 41, impostorMean: 0)
        let threshold = try reference.falseMatchThreshold(target: 1e-3).threshold

        let stable = try DriftReport(
            reference: reference, current: try window(seed: 42, impostorMean: 0), threshold: threshold, targetFMR: 1e-3)
        #expect(stable.flags.isEmpty, "\(stable.flags)")
        #expect(try #require(stable.impostor).populationStabilityIndex < 0.01)

        let shifted = try DriftReport(
            reference: reference, current: try window(seed: 43, impostorMean: 0.06), threshold: threshold, targetFMR: 1e-3)
        #expect(shifted.flags.isSuperset(of: [.impostorPSIModerate, .impostorDistributionShift, .falseMatchRateAboveTarget]))
        #expect(!shifted.flags.contains(.genuineDistributionShift))
        let check = try #require(shifted.falseMatches)
        #expect(check.falseMatchesExact)
        #expect(check.pValue == Binomial.probabilityAtLeast(check.falseMatches, trials: 40_000, probability: 1e-3))
    }

    @Test("family-wise limits split the significance over the tests and leave the PSI bands")
    func familyWise() {
        let limits = DriftLimits.standard.familyWise(tests: 3 * 16)
        #expect(limits.significance == 0.05 / 48)
        #expect(limits.moderatePSI == 0.1 && limits.majorPSI == 0.25)
        #expect(DriftLimits.standard.familyWise(tests: 0) == .standard)
    }
}
