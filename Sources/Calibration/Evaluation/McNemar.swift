/// McNemar's exact test on paired decisions: do two models disagree more often one way than
/// the other?
///
/// Only the discordant pairs carry evidence: b attempts the current model gets right and the
/// candidate gets wrong, c the reverse. Under the null hypothesis each discordant pair is a
/// fair coin, so min(b, c) is Binomial(b + c, 1/2) in its lower tail and the two-sided
/// p-value is p = min(1, 2 · P(X <= min(b, c))) — statsmodels' `mcnemar(table, exact=True)`,
/// which equals scipy's `binomtest(c, b + c, 0.5)`.
///
/// The tail is the regularized incomplete beta I_½(n − k, k + 1) of `IncompleteBeta`, whose
/// saddle-point prefactor keeps relative accuracy for b + c in the millions; a p-value below
/// the smallest double underflows to 0.
///
/// ```swift
/// McNemar.exactPValue(candidateWorse: 2, candidateBetter: 8)   // 0.109375
/// McNemar.exactPValue(candidateWorse: 0, candidateBetter: 0)   // 1
/// ```
public enum McNemar {
    /// The exact two-sided p-value; 1 when there are no discordant pairs.
    /// - Parameters:
    ///   - b: attempts the current model decides correctly and the candidate does not.
    ///   - c: attempts the candidate decides correctly and the current model does not.
    /// - Precondition: b, c >= 0 (counts).
    public static func exactPValue(candidateWorse b: Int, candidateBetter c: Int) -> Double {
        precondition(b >= 0 && c >= 0, "McNemar counts are non-negative")
        let n = b + c, k = min(b, c)
        // From 2k + 1 >= n on, P(X <= k) >= 1/2 by symmetry and the p-value is capped at 1.
        if n == 0 || 2 * k + 1 >= n { return 1 }
        return min(1, 2 * Binomial.probabilityAtMost(k, trials: n, probability: 0.5))
    }
}
