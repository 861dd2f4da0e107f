#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How many outcomes a paired comparison needs before it can decide: the cost of a round of
/// policy search, per cohort.
///
/// **Genuine attempts (McNemar, Connor 1987).** With ψ the share of genuine attempts on which
/// the two models disagree (discordant: (b + c) / n) and δ the FNMR difference to detect
/// ((b − c) / n), the normal approximation to McNemar's test at two-sided level α with power
/// 1 − β needs
///
///     n = ( z₁₋α/₂ · √ψ + z₁₋β · √(ψ − δ²) )² / δ²
///
/// genuine attempts (R. J. Connor, "Sample size for testing differences in proportions for
/// the paired-sample design", Biometrics 43 (1987) 207–211). α = 1 − confidence, as in
/// `PairedComparison`. The comparison itself uses the exact test, which is slightly more
/// conservative than the approximation for small b + c: read n as a planning figure, not a
/// guarantee.
///
/// Worked example: ψ = 0.10, δ = 0.05, 95 % confidence, power 0.8 —
/// z₀.₉₇₅ = 1.959964, z₀.₈ = 0.841621, √0.1 = 0.316228, √0.0975 = 0.312250;
/// (0.619795 + 0.262796)² / 0.0025 = 311.59, so 312 genuine attempts.
///
/// **Impostor attempts.** Before any threshold at the target FMR can be claimed,
/// Clopper–Pearson needs ⌈ln α / ln(1 − FMR)⌉ impostor attempts (`ClopperPearson.impostorsNeeded`).
///
/// ```swift
/// try OutcomesNeeded.genuineAttempts(discordantShare: 0.1, difference: 0.05)   // 312
/// try OutcomesNeeded.impostorAttempts(targetFMR: 1e-3)                          // 2_995
/// ```
public enum OutcomesNeeded {
    /// Connor's sample size for McNemar's test (see the type's documentation).
    /// - Parameters:
    ///   - discordantShare: ψ, the share of genuine attempts the two models decide
    ///     differently, 0 < ψ ≤ 1.
    ///   - difference: δ, the FNMR difference to detect (either sign), 0 < |δ| ≤ ψ (a
    ///     difference cannot exceed the share of attempts on which the models differ).
    ///   - confidence: 1 − α of the two-sided test, in (0, 1).
    ///   - power: 1 − β, in [0.5, 1): below ½ the formula no longer describes a test that
    ///     usually decides.
    /// - Throws: `.invalidParameter` for a value outside those ranges.
    public static func genuineAttempts(
        discordantShare psi: Double, difference delta: Double, confidence: Double = 0.95, power: Double = 0.8
    ) throws -> Int {
        guard psi.isFinite, psi > 0, psi <= 1 else {
            throw CalibrationError.invalidParameter("discordant share \(psi) must be in (0, 1]")
        }
        guard delta.isFinite, delta != 0, abs(delta) <= psi else {
            throw CalibrationError.invalidParameter("difference \(delta) must be non-zero and at most the discordant share \(psi) in size")
        }
        guard confidence > 0, confidence < 1 else {
            throw CalibrationError.invalidParameter("confidence \(confidence) must be in (0, 1)")
        }
        guard power >= 0.5, power < 1 else {
            throw CalibrationError.invalidParameter("power \(power) must be in [0.5, 1)")
        }
        let zAlpha = standardNormalQuantile(1 - (1 - confidence) / 2)
        let zBeta = standardNormalQuantile(power)
        let root = zAlpha * psi.squareRoot() + zBeta * max(psi - delta * delta, 0).squareRoot()
        let needed = (root * root / (delta * delta)).rounded(.up)
        return needed < Double(Int.max) ? max(Int(needed), 1) : Int.max
    }

    /// The genuine attempts a comparison still needs, assuming the disagreement it has seen so
    /// far (ψ̂ = (b + c) / n) persists, to detect `difference` (by default the observed one,
    /// (b − c) / n). nil when there is nothing to plan from: no genuine attempts, no
    /// discordant ones, or no difference (observed or given).
    /// - Throws: as `genuineAttempts`, when `difference` exceeds ψ̂ or `confidence`
    ///   (the comparison's) or `power` is out of range.
    public static func remainingGenuineAttempts(for comparison: PairedComparison, difference: Double? = nil, power: Double = 0.8) throws -> Int? {
        let n = comparison.genuineAttempts
        let b = comparison.candidateWorse, c = comparison.candidateBetter
        guard n > 0, b + c > 0 else { return nil }
        let delta = difference ?? Double(b - c) / Double(n)
        guard delta != 0 else { return nil }
        let needed = try genuineAttempts(
            discordantShare: Double(b + c) / Double(n), difference: delta, confidence: comparison.confidence, power: power)
        return max(needed - n, 0)
    }

    /// The impostor attempts Clopper–Pearson needs to claim `targetFMR` at all (with no false
    /// match among them): ⌈ln α / ln(1 − targetFMR)⌉.
    /// - Throws: `.targetOutOfRange` or `.invalidParameter` for the confidence.
    public static func impostorAttempts(targetFMR: Double, confidence: Double = 0.95) throws -> Int {
        try ClopperPearson(confidence: confidence).impostorsNeeded(targetFMR: targetFMR)
    }

    /// Φ⁻¹(p) for 0 < p < 1: Acklam's rational approximation (relative error 1.15e-9), then one
    /// Halley step on Φ(x) − p through erfc, which brings it to about machine precision.
    static func standardNormalQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "the normal quantile is defined on (0, 1)")
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                 -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        var x: Double
        if p < low {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p <= 1 - low {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        } else {
            let q = (-2 * log1p(-p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        // Halley: e = Φ(x) − p, u = e·√(2π)·exp(x²/2), x ← x − u / (1 + x·u/2).
        let e = 0.5 * erfc(-x / 2.0.squareRoot()) - p
        let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        x -= u / (1 + x * u / 2)
        return x
    }
}
