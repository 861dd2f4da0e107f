#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Clopper–Pearson one-sided upper confidence bounds on a false match rate.
///
/// With k false matches among n impostor comparisons, the bound U is the FMR at which seeing
/// k or fewer has probability α: U = Beta⁻¹(1 − α; k + 1, n − k), and 1 − α^(1/n) when k = 0
/// (≈ 3/n at 95 %, the "rule of 3"). It treats comparisons as independent; see
/// `docs/calibration.md` for what that assumption costs.
///
/// ```swift
/// let bound = try ClopperPearson(confidence: 0.95)
/// try bound.upperBound(falseMatches: 0, comparisons: 2_995)          // ≈ 1.0e-3
/// try bound.impostorsNeeded(targetFMR: 1e-4)                          // 29_956
/// ```
public struct ClopperPearson: Sendable, Hashable, Codable {
    /// One-sided confidence level, e.g. 0.95.
    public let confidence: Double

    /// - Throws: `.invalidParameter` unless 0 < confidence < 1.
    public init(confidence: Double = 0.95) throws {
        guard confidence > 0, confidence < 1 else {
            throw CalibrationError.invalidParameter("confidence \(confidence) must be in (0, 1)")
        }
        self.confidence = confidence
    }

    /// α = 1 − confidence.
    public var alpha: Double { 1 - confidence }

    /// The upper bound U on the FMR after `falseMatches` of `comparisons`.
    /// - Throws: `.invalidParameter` unless 0 <= falseMatches <= comparisons and comparisons > 0.
    public func upperBound(falseMatches k: Int, comparisons n: Int) throws -> Double {
        guard n > 0, k >= 0, k <= n else {
            throw CalibrationError.invalidParameter("need 0 <= falseMatches (\(k)) <= comparisons (\(n)), comparisons > 0")
        }
        if k == n { return 1 }
        if k == 0 { return -expm1(log(alpha) / Double(n)) }
        return try IncompleteBeta.inverse(probability: confidence, a: Double(k + 1), b: Double(n - k))
    }

    /// The fewest impostor comparisons that can show FMR <= target at all (with zero false
    /// matches): ⌈ln α / ln(1 − target)⌉.
    /// - Throws: `.targetOutOfRange` unless 0 < target < 1.
    public func impostorsNeeded(targetFMR target: Double) throws -> Int {
        guard target > 0, target < 1 else { throw CalibrationError.targetOutOfRange(target) }
        let needed = (log(alpha) / log1p(-target)).rounded(.up)
        return needed < Double(Int.max) ? max(Int(needed), 1) : Int.max
    }

    /// The most false matches among `comparisons` whose upper bound is still <= target,
    /// or nil when even zero is too many (too few comparisons).
    ///
    /// U(k) <= target exactly when P(X <= k | n, target) <= α, and that probability grows with
    /// k, so a binary search on the binomial CDF finds it without inverting the beta.
    public func largestFalseMatchCount(comparisons n: Int, targetFMR target: Double) throws -> Int? {
        guard target > 0, target < 1 else { throw CalibrationError.targetOutOfRange(target) }
        guard n > 0, Binomial.probabilityAtMost(0, trials: n, probability: target) <= alpha else { return nil }
        var low = 0  // passes
        var high = n  // fails: U(n) = 1
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if Binomial.probabilityAtMost(middle, trials: n, probability: target) <= alpha {
                low = middle
            } else {
                high = middle
            }
        }
        return low
    }
}
