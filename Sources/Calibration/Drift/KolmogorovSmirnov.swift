#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The result of a two-sample Kolmogorov–Smirnov test.
public struct KolmogorovSmirnovResult: Sendable, Hashable, Codable {
    /// D = sup |F₁ − F₂|, computed as an exact ratio of integers.
    public var statistic: Double
    /// Two-sided p-value (Kolmogorov distribution with Stephens' correction).
    public var pValue: Double
    public var firstCount: Int
    public var secondCount: Int
    /// `.exact` from raw scores; `.binned` from histograms, where D is a lower bound of the raw D.
    public var precision: Precision
}

/// Two-sample Kolmogorov–Smirnov test, two-sided.
///
/// D is computed from integer counts as `h / lcm(n₁, n₂)`, as scipy's `ks_2samp` does in its
/// exact mode, so it matches scipy bit for bit. The p-value uses the limiting Kolmogorov
/// distribution at `(√nₑ + 0.12 + 0.11/√nₑ) · D`, nₑ = n₁n₂/(n₁ + n₂) (Stephens 1970): within
/// a few per cent of scipy's exact p-value from a few hundred scores per side, which is
/// enough to flag drift. KS is blind to the far tail; pair it with the binomial test of
/// false matches (`DriftReport`).
///
/// ```swift
/// let result = try KolmogorovSmirnov.twoSample(SortedScores(lastWeek), SortedScores(thisWeek))
/// result.pValue < 0.05   // the distributions differ
/// ```
public enum KolmogorovSmirnov {
    /// The test on raw scores.
    /// - Throws: `.invalidParameter` when a sample is empty.
    public static func twoSample(_ first: SortedScores, _ second: SortedScores) throws -> KolmogorovSmirnovResult {
        let a = first.values
        let b = second.values
        guard !a.isEmpty, !b.isEmpty else { throw CalibrationError.invalidParameter("KS needs two non-empty samples") }
        var i = 0
        var j = 0
        var cumulative: [(Int, Int)] = []
        cumulative.reserveCapacity(a.count + b.count)
        while i < a.count || j < b.count {
            let value = j >= b.count || (i < a.count && a[i] <= b[j]) ? a[i] : b[j]
            while i < a.count && a[i] == value { i += 1 }
            while j < b.count && b[j] == value { j += 1 }
            cumulative.append((i, j))
        }
        return result(cumulative: cumulative, firstCount: a.count, secondCount: b.count, precision: .exact)
    }

    /// The test on two histograms of the same grid: D over the grid edges.
    public static func twoSample(_ first: ScoreHistogram, _ second: ScoreHistogram) throws -> KolmogorovSmirnovResult {
        guard first.grid == second.grid else { throw CalibrationError.incompatibleStatistics }
        guard first.total > 0, second.total > 0 else {
            throw CalibrationError.invalidParameter("KS needs two non-empty samples")
        }
        // The largest gap between the scaled cumulative counts, bin by bin, without keeping
        // them: drift runs this on 16,384 bins for every cohort of a fleet.
        let (firstScale, secondScale, _) = scales(first.total, second.total)
        var (i, j) = (first.underflow, second.underflow)
        var largest = abs(i * firstScale - j * secondScale)
        first.counts.withUnsafeBufferPointer { firstCounts in
            second.counts.withUnsafeBufferPointer { secondCounts in
                for index in 0..<min(firstCounts.count, secondCounts.count) {
                    i += firstCounts[index]
                    j += secondCounts[index]
                    largest = max(largest, abs(i * firstScale - j * secondScale))
                }
            }
        }
        return result(largest: largest, firstCount: first.total, secondCount: second.total,
                      precision: .binned(binWidth: first.grid.binWidth))
    }

    /// Q(λ) = P(K > λ) for the Kolmogorov distribution (scipy `kstwobign.sf`).
    public static func kolmogorovSurvival(_ lambda: Double) -> Double {
        guard lambda > 0 else { return 1 }
        if lambda < 1 {
            // Jacobi-transformed series, fast for small λ.
            let factor = (2 * Double.pi).squareRoot() / lambda
            var sum = 0.0
            for j in 1...20 {
                let odd = Double(2 * j - 1)
                let term = exp(-odd * odd * Double.pi * Double.pi / (8 * lambda * lambda))
                sum += term
                if term < 1e-17 * sum { break }
            }
            return 1 - factor * sum
        }
        var sum = 0.0
        var sign = 1.0
        for j in 1...100 {
            let term = exp(-2 * Double(j * j) * lambda * lambda)
            sum += sign * term
            if term < 1e-17 * abs(sum) { break }
            sign = -sign
        }
        return min(max(2 * sum, 0), 1)
    }

    /// The Stephens-corrected p-value for statistic D with sample sizes n₁, n₂.
    public static func pValue(statistic: Double, firstCount: Int, secondCount: Int) -> Double {
        let effective = Double(firstCount) * Double(secondCount) / Double(firstCount + secondCount)
        let root = effective.squareRoot()
        return kolmogorovSurvival((root + 0.12 + 0.11 / root) * statistic)
    }

    /// D = max |c₁ n₂ − c₂ n₁| / (n₁ n₂), reduced by gcd so the integers stay small.
    private static func result(
        cumulative: [(Int, Int)], firstCount: Int, secondCount: Int, precision: Precision
    ) -> KolmogorovSmirnovResult {
        let (firstScale, secondScale, _) = scales(firstCount, secondCount)
        var largest = 0
        for (c1, c2) in cumulative {
            largest = max(largest, abs(c1 * firstScale - c2 * secondScale))
        }
        return result(largest: largest, firstCount: firstCount, secondCount: secondCount, precision: precision)
    }

    /// Cumulative counts are compared as c1 · n2/g against c2 · n1/g (g = gcd(n1, n2)): integers,
    /// so ties between the two samples' steps are exact.
    private static func scales(_ firstCount: Int, _ secondCount: Int) -> (first: Int, second: Int, divisor: Int) {
        let divisor = greatestCommonDivisor(firstCount, secondCount)
        return (secondCount / divisor, firstCount / divisor, divisor)
    }

    private static func result(largest: Int, firstCount: Int, secondCount: Int, precision: Precision) -> KolmogorovSmirnovResult {
        let divisor = greatestCommonDivisor(firstCount, secondCount)
        let statistic = Double(largest) / Double(firstCount / divisor * secondCount)
        return KolmogorovSmirnovResult(
            statistic: statistic,
            pValue: pValue(statistic: statistic, firstCount: firstCount, secondCount: secondCount),
            firstCount: firstCount,
            secondCount: secondCount,
            precision: precision
        )
    }

    private static func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }
}
