import Foundation

/// The privacy loss of one Poisson-subsampled Gaussian round with sensitivity 1 and noise
/// σ = z, as closed forms: where the loss crosses a value, its CDF, and the hockey-stick
/// divergence δ(ε). The discretisations in `PrivacyLossDistribution` are built from these.
struct SubsampledGaussianLoss: Sendable {
    /// Which pair of neighbouring datasets. Under add-or-remove adjacency the subsampled
    /// Gaussian has two different PLDs and ε is the worse of the two.
    enum Direction: CaseIterable, Sendable {
        /// The kiosk is in the first dataset: P = (1 − q)·N(0, σ²) + q·N(1, σ²), Q = N(0, σ²);
        /// the loss log(P/Q)(x) increases with x and is bounded below by log(1 − q).
        case remove
        /// The kiosk is in the second: P = N(0, σ²), Q = (1 − q)·N(0, σ²) + q·N(1, σ²);
        /// the loss decreases with x and is bounded above by −log(1 − q).
        case add
    }

    var samplingRate: Double
    var sigma: Double
    var direction: Direction

    /// The observation x at which the loss equals `l`, or nil where no x reaches it.
    func observation(atLoss l: Double) -> Double? {
        let q = samplingRate
        let ratio: Double
        switch direction {
        case .remove: ratio = (exp(l) - 1 + q) / q
        case .add: ratio = (exp(-l) - 1 + q) / q
        }
        return ratio > 0 ? sigma * sigma * log(ratio) + 0.5 : nil
    }

    /// P(x ≤ t) and P(x > t) under N(0, σ²) and under the mixture.
    private func gaussian(_ t: Double) -> (below: Double, above: Double) {
        (normalCDF(t / sigma), normalSurvival(t / sigma))
    }

    private func mixture(_ t: Double) -> (below: Double, above: Double) {
        let q = samplingRate
        return ((1 - q) * normalCDF(t / sigma) + q * normalCDF((t - 1) / sigma),
                (1 - q) * normalSurvival(t / sigma) + q * normalSurvival((t - 1) / sigma))
    }

    /// P_P(L ≤ l) and P_P(L > l), each computed directly so that small tails keep precision.
    func lossCDF(_ l: Double) -> (below: Double, above: Double) {
        switch direction {
        case .remove:
            guard let x = observation(atLoss: l) else { return (0, 1) }
            return mixture(x)
        case .add:
            guard let x = observation(atLoss: l) else { return (1, 0) }
            let tails = gaussian(x)
            return (tails.above, tails.below)
        }
    }

    /// δ(ε) = P_P(L > ε) − e^ε·P_Q(L > ε), the hockey-stick divergence of this round.
    func hockeyStick(_ epsilon: Double) -> Double {
        guard let x = observation(atLoss: epsilon) else {
            // Remove: every loss exceeds ε. Add: none does.
            return direction == .remove ? -expm1(epsilon) : 0
        }
        switch direction {
        case .remove:
            return max(0, mixture(x).above - exp(epsilon) * gaussian(x).above)
        case .add:
            return max(0, gaussian(x).below - exp(epsilon) * mixture(x).below)
        }
    }

    /// Losses between which all but `tailMass` of P lies at each end.
    func lossRange(tailMass: Double) -> ClosedRange<Double> {
        var high = 1.0
        while lossCDF(high).above > tailMass, high < 1e4 { high *= 2 }
        var low = -1.0
        while lossCDF(low).below > tailMass, low > -1e4 { low *= 2 }
        high = bisect(inside: 0, outside: high) { lossCDF($0).above > tailMass }
        low = bisect(inside: 0, outside: low) { lossCDF($0).below > tailMass }
        return min(low, high)...high
    }

    /// The boundary of `isInside` between the two points, on the outside, to double precision.
    private func bisect(inside: Double, outside: Double, _ isInside: (Double) -> Bool) -> Double {
        var inside = inside, outside = outside
        for _ in 0..<100 {
            let middle = (inside + outside) / 2
            if middle == inside || middle == outside { break }
            if isInside(middle) { inside = middle } else { outside = middle }
        }
        return outside
    }
}
