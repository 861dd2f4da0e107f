import Calibration
import Foundation
import SeededRandom

/// Synthetic scores from a seeded generator, so every test run sees the same ones.
extension SeededGenerator {
    /// A normal deviate (Box–Muller).
    mutating func normal(mean: Double, deviation: Double) -> Double {
        let u = Double.random(in: Double.leastNonzeroMagnitude..<1, using: &self)
        let v = Double.random(in: 0..<1, using: &self)
        return mean + deviation * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    /// `count` normal scores rounded to `decimals` places (nil: not rounded), clamped to [-1, 1].
    mutating func scores(_ count: Int, mean: Double, deviation: Double, decimals: Int? = nil) -> [Double] {
        (0..<count).map { _ in
            var score = min(max(normal(mean: mean, deviation: deviation), -1), 1)
            if let decimals {
                let scale = pow(10, Double(decimals))
                score = (score * scale).rounded() / scale
            }
            return score
        }
    }
}

func labelled(_ scores: [Double], _ label: ScoreLabel) -> [(score: Double, label: ScoreLabel)] {
    scores.map { (score: $0, label: label) }
}
