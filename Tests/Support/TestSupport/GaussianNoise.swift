import Foundation

/// A source of independent standard normal draws, for synthetic test data.
///
/// Not for differential-privacy noise: a floating-point Gaussian sample is open to precision
/// attacks (its low-order bits can reveal the value it was added to, Mironov 2012), so
/// DP-FedAvg adds exact discrete Gaussian noise on a fixed-point grid instead
/// (`DiscreteGaussianNoiseSource`).
public protocol GaussianNoiseSource: Sendable {
    /// Returns the next draw from N(0, 1).
    mutating func nextStandardNormal() -> Double
}

/// Standard normal draws from any `RandomNumberGenerator` by the Marsaglia polar method.
///
/// ```swift
/// var noise = SeededGaussianNoise(generator: SeededGenerator(seed: 7))
/// let z = noise.nextStandardNormal()
/// ```
public struct SeededGaussianNoise<Generator: RandomNumberGenerator & Sendable>: GaussianNoiseSource {
    public private(set) var generator: Generator
    /// The polar method yields draws in pairs; the second one waits here.
    private var spare: Double?

    public init(generator: Generator) {
        self.generator = generator
    }

    public mutating func nextStandardNormal() -> Double {
        if let spare {
            self.spare = nil
            return spare
        }
        while true {
            let u = Double.random(in: -1..<1, using: &generator)
            let v = Double.random(in: -1..<1, using: &generator)
            let s = u * u + v * v
            if s > 0, s < 1 {
                let factor = (-2 * log(s) / s).squareRoot()
                spare = v * factor
                return u * factor
            }
        }
    }
}
