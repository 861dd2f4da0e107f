import Foundation

/// A privacy loss distribution on the grid {k·Δ}: `masses[i]` is the probability that the
/// privacy loss equals (`lowestIndex` + i)·Δ, and `infinityMass` the probability that it is
/// +∞ (or beyond what was tracked, counted there pessimistically).
struct PrivacyLossDistribution: Sendable {
    var interval: Double
    var lowestIndex: Int
    var masses: [Double]
    var infinityMass: Double

    /// One round of the subsampled Gaussian on the grid of `interval` over `range`
    /// (`SubsampledGaussianLoss.lossRange`, which leaves out a negligible tail mass at each
    /// end: the upper tail goes to +∞, the lower tail onto the lowest grid point, both
    /// pessimistic).
    static func subsampledGaussian(_ loss: SubsampledGaussianLoss, range: ClosedRange<Double>, interval: Double,
                                   discretization: PLDAccountant.Discretization) -> PrivacyLossDistribution {
        let lowestIndex = Int((range.lowerBound / interval).rounded(.down))
        let highestIndex = max(lowestIndex + 1, Int((range.upperBound / interval).rounded(.up)))
        switch discretization {
        case .roundUp:
            return roundedUp(loss, interval: interval, lowestIndex: lowestIndex, highestIndex: highestIndex)
        case .connectTheDots:
            return connectedDots(loss, interval: interval, lowestIndex: lowestIndex, highestIndex: highestIndex)
        }
    }

    /// Mass of the loss bucket ((k − 1)Δ, kΔ] placed at kΔ; everything up to the lowest grid
    /// point is placed on it and everything above the highest goes to +∞.
    private static func roundedUp(_ loss: SubsampledGaussianLoss, interval: Double,
                                  lowestIndex: Int, highestIndex: Int) -> PrivacyLossDistribution {
        var masses = [Double](repeating: 0, count: highestIndex - lowestIndex + 1)
        var previous = loss.lossCDF(Double(lowestIndex) * interval)
        masses[0] = previous.below
        for offset in 1..<masses.count {
            let current = loss.lossCDF(Double(lowestIndex + offset) * interval)
            // Take the difference on the side where both values are small.
            masses[offset] = max(0, current.below < 0.5 ? current.below - previous.below : previous.above - current.above)
            previous = current
        }
        return PrivacyLossDistribution(interval: interval, lowestIndex: lowestIndex, masses: masses,
                                       infinityMass: previous.above)
    }

    /// Masses solved from the true δ at the grid points, top down. With D_j = δ(ε_j),
    /// u = e^(−Δ) and B_j = Σ_{i>j} p_i·e^(−ε_i), matching δ at ε_{j−1} and ε_j gives
    /// p_j = (D_{j−1} − D_j)/(1 − u) − e^(ε_j)·B_j; the mass at +∞ is D at the top, and
    /// whatever is left goes to the lowest point.
    private static func connectedDots(_ loss: SubsampledGaussianLoss, interval: Double,
                                      lowestIndex: Int, highestIndex: Int) -> PrivacyLossDistribution {
        let count = highestIndex - lowestIndex + 1
        var masses = [Double](repeating: 0, count: count)
        let oneMinusU = -expm1(-interval)
        var upperDelta = loss.hockeyStick(Double(highestIndex) * interval)
        let infinityMass = upperDelta
        var weightedAbove = 0.0
        var placed = infinityMass
        for offset in stride(from: count - 1, through: 1, by: -1) {
            let epsilon = Double(lowestIndex + offset) * interval
            let lowerDelta = loss.hockeyStick(epsilon - interval)
            let mass = max(0, (lowerDelta - upperDelta) / oneMinusU - exp(epsilon) * weightedAbove)
            masses[offset] = mass
            weightedAbove += mass * exp(-epsilon)
            placed += mass
            upperDelta = lowerDelta
        }
        masses[0] = max(0, 1 - placed)
        return PrivacyLossDistribution(interval: interval, lowestIndex: lowestIndex, masses: masses,
                                       infinityMass: infinityMass)
    }

    /// log E[exp(λ·L)] over the finite part, for the Chernoff bounds of the composition.
    func logMomentGenerating(_ lambda: Double) -> Double {
        var result = -Double.infinity
        for (offset, mass) in masses.enumerated() where mass > 0 {
            result = logAdd(result, log(mass) + lambda * Double(lowestIndex + offset) * interval)
        }
        return result
    }

    /// The smallest ε with δ(ε) ≤ `delta`, where
    /// δ(ε) = P(L = ∞) + Σ_{l > ε} P(L = l)·(1 − e^(ε − l)) (the hockey-stick divergence).
    /// Between grid points δ(ε) = A − e^ε·B, so ε is solved exactly in the right interval.
    func epsilon(forDelta delta: Double) -> Double {
        if infinityMass > delta { return .infinity }
        var tailMass = infinityMass           // A: mass strictly above the current point
        var weightedTail = 0.0                // B: Σ mass·e^(−l) strictly above it
        for offset in stride(from: masses.count - 1, through: 0, by: -1) {
            let loss = Double(lowestIndex + offset) * interval
            if tailMass - exp(loss) * weightedTail > delta {
                // δ crosses the target between this grid point and the next one up.
                return max(0, log((tailMass - delta) / weightedTail))
            }
            tailMass += masses[offset]
            weightedTail += masses[offset] * exp(-loss)
        }
        return 0
    }
}
