#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The regularized incomplete beta function I_x(a, b), its complement and its inverse.
///
/// Binomial tail probabilities and Clopper–Pearson bounds are all values of I_x(a, b). With
/// a million impostors, a and b are large and the textbook `exp(lgamma…)` prefactor loses
/// six digits to cancellation, so the prefactor is computed with Loader's saddle-point
/// formula (Stirling-series errors and the deviance term `bd0`), which keeps relative
/// accuracy near 1e-14 for any size. The continued fraction is evaluated with the modified
/// Lentz method on the side of the mean where it converges fast, so the smaller of I and
/// 1 − I is always computed directly, never as a difference.
///
/// ```swift
/// let tail = IncompleteBeta.regularized(x: 0.01, a: 3, b: 98)       // (I, 1 - I)
/// let x = try IncompleteBeta.inverse(probability: 0.95, a: 3, b: 98)
/// ```
public enum IncompleteBeta {
    /// I_x(a, b) and 1 − I_x(a, b), each to full relative accuracy, for a, b > 0, x in [0, 1].
    public static func regularized(x: Double, a: Double, b: Double) -> (lower: Double, upper: Double) {
        if x <= 0 { return (0, 1) }
        if x >= 1 { return (1, 0) }
        // 1 - x is computed once and both are passed on: recomputing x as 1 - (1 - x) on the
        // swapped side would cost x its low digits, which matter when b is a million.
        let y = 1 - x
        if x < (a + 1) / (a + b + 2) {
            // When b is a small whole number, x is close to 1 and the fraction would cancel
            // in 1 - x: sum the b binomial terms instead.
            if let value = binomialSum(terms: b, trials: a + b - 1, probability: y, complement: x) {
                return (value, 1 - value)
            }
            let value = min(prefactor(x: x, y: y, a: a, b: b) * continuedFraction(x: x, a: a, b: b) / a, 1)
            return (value, 1 - value)
        }
        // Likewise for a small whole a: I_x(a, b) = P(Binomial(a + b - 1, x) >= a).
        if let complement = binomialSum(terms: a, trials: a + b - 1, probability: x, complement: y) {
            return (1 - complement, complement)
        }
        let complement = min(prefactor(x: y, y: x, a: b, b: a) * continuedFraction(x: y, a: b, b: a) / b, 1)
        return (1 - complement, complement)
    }

    /// The most terms summed directly instead of the continued fraction.
    static let largestDirectSum = 256.0

    /// P(Binomial(n, p) < terms) as a sum of `terms` saddle-point terms, when `terms` and
    /// `n` are whole and `terms` is small; nil otherwise.
    static func binomialSum(terms: Double, trials n: Double, probability p: Double, complement q: Double) -> Double? {
        guard terms <= largestDirectSum, terms.rounded() == terms, n.rounded() == n, n < 0x1p52 else { return nil }
        var sum = exp(n * log1p(-p))
        var j = 1.0
        while j < terms {
            sum += binomialTerm(successes: j, trials: n, probability: p, complement: q)
            j += 1
        }
        return min(sum, 1)
    }

    /// The x in [0, 1] with I_x(a, b) = `probability` (scipy `beta.ppf`).
    ///
    /// Newton steps on the side (I or 1 − I) that is smaller, kept inside a shrinking
    /// bracket, with geometric bisection when a step would leave it.
    /// - Throws: `.invalidParameter` unless a, b > 0 and `probability` is in [0, 1].
    public static func inverse(probability: Double, a: Double, b: Double) throws -> Double {
        guard a > 0, b > 0, a.isFinite, b.isFinite, probability >= 0, probability <= 1 else {
            throw CalibrationError.invalidParameter("inverse incomplete beta needs a, b > 0 and p in [0, 1]")
        }
        if probability == 0 { return 0 }
        if probability == 1 { return 1 }
        let solveUpper = probability > 0.5
        let goal = solveUpper ? 1 - probability : probability
        var low = 0.0
        var high = 1.0
        var x = a / (a + b)
        for _ in 0..<400 {
            let value = regularized(x: x, a: a, b: b)
            // Increasing in x on both sides.
            let excess = solveUpper ? goal - value.upper : value.lower - goal
            if excess == 0 { return x }
            if excess < 0 { low = x } else { high = x }
            let newton = x - excess / density(x: x, a: a, b: b)
            let next: Double
            if newton > low && newton < high {
                next = newton
            } else if low > 0 && high / low > 16 {
                next = (low * high).squareRoot()
            } else {
                next = low == 0 ? high / 16 : (low + high) / 2
            }
            if abs(next - x) <= 2 * x.ulp || high.nextDown <= low { return next }
            x = next
        }
        return x
    }

    /// The beta density x^(a-1) (1-x)^(b-1) / B(a, b).
    static func density(x: Double, a: Double, b: Double) -> Double {
        prefactor(x: x, y: 1 - x, a: a, b: b) / (x * (1 - x))
    }

    /// x^a y^b / B(a, b) with y = 1 - x, through the binomial saddle-point form:
    /// x^a y^b / B(a, b) = a b / (a + b) · Γ(a+b+1) / (Γ(a+1) Γ(b+1)) · x^a y^b.
    static func prefactor(x: Double, y: Double, a: Double, b: Double) -> Double {
        let n = a + b
        return a * b / n * binomialTerm(successes: a, trials: n, probability: x, complement: y)
    }

    /// Γ(n+1) / (Γ(k+1) Γ(n-k+1)) p^k q^(n-k), q = 1 - p, for real 0 < k < n (Loader 2000).
    static func binomialTerm(successes k: Double, trials n: Double, probability p: Double, complement q: Double) -> Double {
        let logTerm = stirlingError(n) - stirlingError(k) - stirlingError(n - k)
            - deviance(k, n * p) - deviance(n - k, n * q)
        let logNormaliser = log(2 * Double.pi) + log(k) + log1p(-k / n)
        return exp(logTerm - 0.5 * logNormaliser)
    }

    /// log Γ(n+1) − log(√(2πn) (n/e)^n): the error of Stirling's formula.
    static func stirlingError(_ n: Double) -> Double {
        if n > 15 {
            let nn = n * n
            return (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - (1.0 / 1680 - 1.0 / (1188 * nn)) / nn) / nn) / nn) / n
        }
        return log(tgamma(n + 1)) - (n + 0.5) * log(n) + n - 0.5 * log(2 * Double.pi)
    }

    /// x log(x / m) + m − x, without cancellation when x ≈ m.
    static func deviance(_ x: Double, _ m: Double) -> Double {
        if abs(x - m) < 0.1 * (x + m) {
            var v = (x - m) / (x + m)
            var sum = (x - m) * v
            var term = 2 * x * v
            v *= v
            for j in 1..<1000 {
                term *= v
                let next = sum + term / Double(2 * j + 1)
                if next == sum { return next }
                sum = next
            }
            return sum
        }
        return x * log(x / m) + m - x
    }

    /// The continued fraction of I_x(a, b) (modified Lentz); converges fast for x < (a+1)/(a+b+2).
    static func continuedFraction(x: Double, a: Double, b: Double) -> Double {
        let tiny = 1e-300
        func guarded(_ value: Double) -> Double { abs(value) < tiny ? tiny : value }
        var c = 1.0
        var d = 1 / guarded(1 - (a + b) * x / (a + 1))
        var result = d
        for m in 1..<100_000 {
            let m = Double(m)
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 / guarded(1 + even * d)
            c = guarded(1 + even / c)
            result *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 / guarded(1 + odd * d)
            c = guarded(1 + odd / c)
            let step = d * c
            result *= step
            if abs(step - 1) < 2 * Double.ulpOfOne { break }
        }
        return result
    }
}
