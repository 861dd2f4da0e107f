import FederationCore
/// A source of discrete Gaussian draws N_Z(0, σ²), injected where DP-FedAvg adds its noise so
/// that tests can pin it and production can use the operating system's secure source.
///
/// N_Z(0, σ²) is the distribution on the integers with P[Y = y] ∝ exp(−y²/(2σ²)). Its
/// variance is at most σ², and equal to it for all practical purposes once σ² ≥ 1 (0.499 at
/// σ² = 0.5, 0.013 at σ² = 0.1).
public protocol DiscreteGaussianNoiseSource: Sendable {
    /// Returns the next draw from N_Z(0, σ²), σ² = `variance`.
    mutating func nextDiscreteGaussian(variance: DiscreteGaussianVariance) -> Int64
}

/// σ² of a discrete Gaussian as the exact rational numerator/denominator (integers), in
/// grid units squared where the integers are a fixed-point grid.
///
/// The sampler's decisions are comparisons of integers derived from these two numbers, so
/// σ² must be exact; a `Double` σ² would bring back the rounding that the discrete sampler
/// exists to avoid.
///
/// ```swift
/// let half = try DiscreteGaussianVariance(numerator: 1, denominator: 2)   // σ² = 0.5
/// ```
public struct DiscreteGaussianVariance: Sendable, Equatable {
    public let numerator: UInt64
    public let denominator: UInt64
    /// ⌊σ⌋, exact; the sampler's discrete Laplace scale is ⌊σ⌋ + 1.
    let floorOfSigma: UInt64

    public init(numerator: UInt64, denominator: UInt64) throws {
        guard numerator > 0 else {
            throw FederationError.invalidParameter(name: "σ² numerator", value: Double(numerator), requirement: "must be positive")
        }
        guard denominator > 0 else {
            throw FederationError.invalidParameter(name: "σ² denominator", value: Double(denominator), requirement: "must be positive")
        }
        self.numerator = numerator
        self.denominator = denominator
        self.floorOfSigma = Self.floorOfSquareRoot(numerator: numerator, denominator: denominator)
    }

    /// σ² as a `Double`, for reports; the sampler never uses it.
    public var value: Double {
        Double(numerator) / Double(denominator)
    }

    /// The largest n with n²·denominator ≤ numerator. The floating-point square root is only
    /// a starting guess; integer comparisons settle the answer.
    private static func floorOfSquareRoot(numerator: UInt64, denominator: UInt64) -> UInt64 {
        let a = ExactNatural(numerator), b = ExactNatural(denominator)
        func fits(_ n: UInt64) -> Bool {
            ExactNatural(n) * ExactNatural(n) * b <= a
        }
        // σ ≤ √(2⁶⁴ − 1) < 2³², so the guess and n + 1 stay far from overflow.
        var n = UInt64((Double(numerator) / Double(denominator)).squareRoot())
        while n > 0, !fits(n) {
            n -= 1
        }
        while fits(n + 1) {
            n += 1
        }
        return n
    }
}

/// Exact discrete Gaussian draws from any `RandomNumberGenerator`, by the rejection sampler
/// of Canonne, Kamath & Steinke 2020 ("The Discrete Gaussian for Differential Privacy",
/// NeurIPS, §5, Algorithms 1–3):
///
/// 1. Bernoulli(exp(−γ)) for rational γ ∈ [0, 1] by counting successes of Bernoulli(γ/k),
///    k = 1, 2, …; for γ > 1 as ⌊γ⌋ draws of Bernoulli(exp(−1)) and one of the remainder;
/// 2. discrete Laplace with scale t (an integer) from U uniform in {0, …, t − 1} kept with
///    probability exp(−U/t), V geometric with ratio exp(−1), magnitude U + t·V, and a sign
///    (rejecting "−0");
/// 3. the discrete Gaussian by drawing Y from the discrete Laplace with t = ⌊σ⌋ + 1 and
///    keeping it with probability exp(−(|Y| − σ²/t)²/(2σ²)).
///
/// Every Bernoulli(p/q) is a uniform integer below q compared with p, and every p and q is an
/// exact integer (`ExactNatural`), so no floating-point value or transcendental function
/// decides any draw: the output is exactly N_Z(0, σ²). The one departure from the paper is
/// the output type: a candidate whose magnitude does not fit `Int64` (probability below
/// exp(−2⁶³/t), far below anything observable) is redrawn, so the output is N_Z(0, σ²)
/// conditioned on fitting `Int64`.
///
/// ```swift
/// var noise = DiscreteGaussianNoise(generator: SeededGenerator(seed: 7))
/// let y = noise.nextDiscreteGaussian(variance: try DiscreteGaussianVariance(numerator: 25, denominator: 1))
/// ```
public struct DiscreteGaussianNoise<Generator: RandomNumberGenerator & Sendable>: DiscreteGaussianNoiseSource {
    public private(set) var generator: Generator

    public init(generator: Generator) {
        self.generator = generator
    }

    public mutating func nextDiscreteGaussian(variance: DiscreteGaussianVariance) -> Int64 {
        let a = ExactNatural(variance.numerator), b = ExactNatural(variance.denominator)
        let t = variance.floorOfSigma + 1
        let bt = b * ExactNatural(t)
        // (|Y| − σ²/t)²/(2σ²) with σ² = a/b is (|Y|·b·t − a)² / (2·a·b·t²).
        let biasDenominator = ExactNatural(2) * a * bt * ExactNatural(t)
        while true {
            guard let candidate = nextDiscreteLaplace(scale: t) else { continue }
            let distance = ExactNatural.distance(ExactNatural(candidate.magnitude) * bt, a)
            if bernoulliExp(numerator: distance * distance, denominator: biasDenominator) {
                return candidate
            }
        }
    }

    /// P[Y = y] ∝ exp(−|y|/t); nil when the magnitude would not fit `Int64`.
    private mutating func nextDiscreteLaplace(scale t: UInt64) -> Int64? {
        let scale = ExactNatural(t)
        while true {
            let negative = generator.next() & 1 == 1
            var u: UInt64
            repeat {
                u = UInt64.random(in: 0..<t, using: &generator)
            } while !bernoulliExp(numerator: ExactNatural(u), denominator: scale)
            var v: UInt64 = 0
            while bernoulliExp(numerator: ExactNatural(1), denominator: ExactNatural(1)) {
                v += 1
            }
            let (product, productOverflow) = v.multipliedReportingOverflow(by: t)
            let (magnitude, sumOverflow) = product.addingReportingOverflow(u)
            guard !productOverflow, !sumOverflow, let value = Int64(exactly: magnitude) else { return nil }
            if negative && value == 0 { continue }
            return negative ? -value : value
        }
    }

    /// Bernoulli(exp(−numerator/denominator)), denominator positive.
    private mutating func bernoulliExp(numerator: ExactNatural, denominator: ExactNatural) -> Bool {
        var remainder = numerator
        let one = ExactNatural(1)
        while remainder > denominator {
            guard bernoulliExpAtMostOne(numerator: one, denominator: one) else { return false }
            remainder = remainder - denominator
        }
        return bernoulliExpAtMostOne(numerator: remainder, denominator: denominator)
    }

    /// Bernoulli(exp(−γ)) for γ = numerator/denominator ∈ [0, 1]: the number K of the first
    /// failure among Bernoulli(γ/k), k = 1, 2, …, is odd with probability exp(−γ).
    private mutating func bernoulliExpAtMostOne(numerator: ExactNatural, denominator: ExactNatural) -> Bool {
        var k: UInt64 = 1
        while ExactNatural.random(below: denominator * ExactNatural(k), using: &generator) < numerator {
            k += 1
        }
        return k % 2 == 1
    }
}
