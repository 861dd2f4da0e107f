import Foundation

/// log(eˣ + eʸ) without overflow.
func logAdd(_ x: Double, _ y: Double) -> Double {
    let (low, high) = x < y ? (x, y) : (y, x)
    if low == -.infinity { return high }
    return log1p(exp(low - high)) + high
}

/// log of the binomial coefficient C(n, k) for real n, k (through log-gamma).
func logBinomial(_ n: Double, _ k: Double) -> Double {
    lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
}

/// log(erfc(x)), accurate in the far right tail where erfc underflows: above x = 20 an
/// asymptotic series is used (its error there is below 1e-11 relative).
func logErfc(_ x: Double) -> Double {
    if x < 20 {
        return log(erfc(x))
    }
    let inverseSquare = 1 / (x * x)
    let series = 1 - inverseSquare / 2 + 3 * pow(inverseSquare, 2) / 4
        - 15 * pow(inverseSquare, 3) / 8 + 105 * pow(inverseSquare, 4) / 16
    return -x * x - log(x) - 0.5 * log(Double.pi) + log(series)
}

/// Standard normal CDF Φ(x), accurate in the left tail.
func normalCDF(_ x: Double) -> Double {
    0.5 * erfc(-x / 2.0.squareRoot())
}

/// Standard normal survival function 1 − Φ(x), accurate in the right tail.
func normalSurvival(_ x: Double) -> Double {
    0.5 * erfc(x / 2.0.squareRoot())
}
