/// Binomial tail probabilities through the incomplete beta function.
///
/// ```swift
/// Binomial.probabilityAtLeast(12, trials: 1_000, probability: 0.01)   // scipy binom.sf(11, …)
/// ```
public enum Binomial {
    /// P(X <= k) for X ~ Binomial(n, p).
    public static func probabilityAtMost(_ k: Int, trials n: Int, probability p: Double) -> Double {
        if k < 0 { return 0 }
        if k >= n { return 1 }
        return IncompleteBeta.regularized(x: p, a: Double(k + 1), b: Double(n - k)).upper
    }

    /// P(X >= k) for X ~ Binomial(n, p).
    public static func probabilityAtLeast(_ k: Int, trials n: Int, probability p: Double) -> Double {
        if k <= 0 { return 1 }
        if k > n { return 0 }
        return IncompleteBeta.regularized(x: p, a: Double(k), b: Double(n - k + 1)).lower
    }
}
