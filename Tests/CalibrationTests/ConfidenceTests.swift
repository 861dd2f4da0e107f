import Testing
@testable import Calibration

@Suite("Incomplete beta, binomial tails and Clopper–Pearson against scipy")
struct ConfidenceTests {
    func relativeError(_ value: Double, _ reference: Double) -> Double {
        reference == 0 ? abs(value) : abs(value - reference) / abs(reference)
    }

    // scipy's beta.ppf and binom.cdf (Boost) lose about nine digits for n >= 1e6 and k <= 2;
    // the fixtures also carry 60-digit decimal references for small k, and where they exist
    // the comparison is with those, to 1e-13.

    @Test("inverse incomplete beta equals scipy beta.ppf to 1e-12, or the decimal reference to 1e-13")
    func betaInverse() throws {
        for row in Fixtures.scipy.beta_ppf {
            let value = try IncompleteBeta.inverse(probability: row.q ?? 0.95, a: row.a, b: row.b)
            if let exact = row.exact {
                #expect(relativeError(value, exact.exact) < 1e-13, "a \(row.a) b \(row.b): \(value) vs \(exact.value)")
                #expect(relativeError(value, row.ppf.exact) < 2e-9, "scipy itself")
            } else {
                #expect(relativeError(value, row.ppf.exact) < 1e-12, "a \(row.a) b \(row.b): \(value) vs \(row.ppf.value)")
            }
        }
    }

    @Test("Clopper–Pearson upper bound equals beta.ppf(0.95; k+1, n-k)")
    func clopperPearson() throws {
        let bound = try ClopperPearson(confidence: 0.95)
        for row in Fixtures.scipy.beta_ppf where row.k >= 0 {
            let value = try bound.upperBound(falseMatches: row.k, comparisons: row.n)
            let reference = row.exact ?? row.ppf
            #expect(relativeError(value, reference.exact) < 1e-12, "k \(row.k) n \(row.n): \(value) vs \(reference.value)")
        }
    }

    @Test("binomial tails equal the decimal references to 1e-12 and scipy binomtest to 1e-9")
    func binomialTails() {
        for row in Fixtures.scipy.binomtest {
            let greater = Binomial.probabilityAtLeast(row.k, trials: row.n, probability: row.p)
            let less = Binomial.probabilityAtMost(row.k, trials: row.n, probability: row.p)
            #expect(relativeError(greater, row.exact_greater.exact) < 1e-12, "greater k \(row.k) n \(row.n)")
            #expect(relativeError(less, row.exact_less.exact) < 1e-12, "less k \(row.k) n \(row.n)")
            #expect(relativeError(greater, row.greater.exact) < 1e-9, "scipy greater k \(row.k) n \(row.n)")
            #expect(relativeError(less, row.less.exact) < 1e-9, "scipy less k \(row.k) n \(row.n)")
        }
    }

    @Test("impostors needed: ⌈ln α / ln(1 − p)⌉ (299, 2 995, 29 956, …, 2 995 731)")
    func impostorsNeeded() throws {
        let bound = try ClopperPearson(confidence: 0.95)
        for row in Fixtures.scipy.impostors_needed {
            let needed = try bound.impostorsNeeded(targetFMR: row.target)
            #expect(needed == row.n, "target \(row.target)")
            #expect(try bound.largestFalseMatchCount(comparisons: needed - 1, targetFMR: row.target) == nil)
            #expect(try bound.largestFalseMatchCount(comparisons: needed, targetFMR: row.target) == 0)
            #expect(try bound.upperBound(falseMatches: 0, comparisons: needed) <= row.target)
        }
    }

    @Test("largest false-match count is the last k whose bound is <= target")
    func largestCount() throws {
        let bound = try ClopperPearson(confidence: 0.95)
        for (n, target) in [(10_000, 1e-2), (100_000, 1e-3), (1_000_000, 1e-4), (50_000_000, 1e-6)] {
            let k = try #require(try bound.largestFalseMatchCount(comparisons: n, targetFMR: target))
            #expect(try bound.upperBound(falseMatches: k, comparisons: n) <= target)
            #expect(try bound.upperBound(falseMatches: k + 1, comparisons: n) > target)
        }
    }
}
