import FederationCore
import Foundation

/// Privacy-loss-distribution accountant for the Poisson-subsampled Gaussian mechanism
/// (Koskela et al. 2020; Doroshenko et al. 2022, the method behind dp-accounting's
/// `PLDAccountant`), giving tighter ε than RDP for the same rounds.
///
/// How it computes, and why it can only overstate ε:
/// - each round's PLD is put on the grid kΔ (Δ = `discretizationInterval`, 1e-4 by
///   default, as in dp-accounting) with a **pessimistic estimate**: by default "connect the
///   dots", whose δ(ε) is exact at grid points and above the truth between them, or
///   optionally by rounding every loss up; the upper tail beyond `tailMass` goes to +∞,
///   the lower tail onto the lowest grid point;
/// - rounds are composed by **FFT**: the discrete Fourier transforms of all rounds'
///   PLDs are raised to their round counts and multiplied, then transformed back, on a
///   window whose ends come from Chernoff bounds so that at most `tailMass` of the
///   composed mass falls outside each end;
/// - both add and remove neighbours are composed and ε is the larger.
///
/// With connect-the-dots at Δ = 1e-4 the ε agrees with dp-accounting's `PLDAccountant` to
/// about 1e-7 relative on the fixtures. Rounding up is high by at most T·Δ (about T·Δ/2 on
/// average: 0.05 at T = 1000). A smaller Δ tightens both at the cost of time and memory
/// (the arrays have about range/Δ entries).
///
/// ```swift
/// let epsilon = try PLDAccountant().epsilon(
///     for: [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 1000)], delta: 1e-6)
/// ```
public struct PLDAccountant: Sendable, Equatable {
    /// Δ, the grid spacing of the privacy loss.
    public var discretizationInterval: Double
    /// Mass allowed outside the tracked range at each end, per round and after composition.
    public var tailMass: Double

    /// How each round's loss is put on the grid.
    public var discretization: Discretization

    /// How a round's continuous loss is put on the grid. Both are pessimistic: the discrete
    /// distribution's δ(ε) is never below the true one, so ε is never understated.
    public enum Discretization: String, Sendable, Codable, CaseIterable {
        /// Connect the dots (Doroshenko et al. 2022): masses chosen so that δ(ε) is exact at
        /// every grid point; between grid points the discrete δ(ε) = A − e^ε·B is concave
        /// while the true one is convex, so it lies above. dp-accounting's default, and the
        /// tighter of the two.
        case connectTheDots
        /// Privacy loss bucketing (Meiser & Mohammadi 2018): each loss rounded up to the
        /// next grid point. Simpler; high by up to Δ per round (about Δ/2 on average).
        case roundUp
    }

    /// The most grid points one distribution may have (memory is about 32 bytes a point
    /// while composing). Parameters whose ε is very large need very wide grids; they get
    /// an error saying so instead of exhausting memory.
    public var maximumGridPoints: Int

    public init(discretizationInterval: Double = 1e-4, tailMass: Double = 1e-15,
                discretization: Discretization = .connectTheDots, maximumGridPoints: Int = 1 << 22) {
        self.discretizationInterval = discretizationInterval
        self.tailMass = tailMass
        self.discretization = discretization
        self.maximumGridPoints = maximumGridPoints
    }

    private func checkGridSize(_ points: Int) throws {
        guard points <= maximumGridPoints else {
            throw FederationError.invalidParameter(
                name: "PLD grid size", value: Double(points),
                requirement: "must be at most \(maximumGridPoints) points; ε is too large to track at Δ = \(discretizationInterval) (use the RDP accountant or a coarser interval)")
        }
    }

    /// ε at δ for the composition of every round in the ledger.
    public func epsilon(for ledger: [PrivacyLedgerEntry], delta: Double) throws -> Double {
        try validate(delta: delta)
        guard discretizationInterval > 0, discretizationInterval.isFinite else {
            throw FederationError.invalidParameter(name: "discretization interval", value: discretizationInterval, requirement: "must be positive")
        }
        let relevant = try ledger.filter { entry in
            try entry.validate()
            return entry.isPrivacyRelevant
        }
        if relevant.isEmpty { return 0 }
        if relevant.contains(where: { $0.noiseMultiplier == 0 }) { return .infinity }
        var worst = 0.0
        for direction in SubsampledGaussianLoss.Direction.allCases {
            let perRound = try relevant.map { entry in
                let loss = SubsampledGaussianLoss(samplingRate: entry.samplingRate, sigma: entry.noiseMultiplier, direction: direction)
                let range = loss.lossRange(tailMass: tailMass)
                try checkGridSize(Int(min(1e12, (range.upperBound - range.lowerBound) / discretizationInterval)))
                return PrivacyLossDistribution.subsampledGaussian(
                    loss, range: range, interval: discretizationInterval, discretization: discretization)
            }
            let composed = try compose(perRound, counts: relevant.map(\.rounds))
            worst = max(worst, composed.epsilon(forDelta: delta))
        }
        return worst
    }

    /// The distribution of the sum of `counts[i]` independent draws from each `pmfs[i]`.
    private func compose(_ pmfs: [PrivacyLossDistribution], counts: [Int]) throws -> PrivacyLossDistribution {
        let interval = discretizationInterval
        // Window [lowest, highest] in grid units from Chernoff bounds on the sum.
        let lambdas: [Double] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500]
        let logTail = log(tailMass)
        func logMGF(_ lambda: Double) -> Double {
            zip(pmfs, counts).reduce(0) { $0 + Double($1.1) * $1.0.logMomentGenerating(lambda) }
        }
        let minimum = zip(pmfs, counts).reduce(0) { $0 + $1.1 * $1.0.lowestIndex }
        let maximum = zip(pmfs, counts).reduce(0) { $0 + $1.1 * ($1.0.lowestIndex + $1.0.masses.count - 1) }
        var upper = Double(maximum) * interval
        var lower = Double(minimum) * interval
        for lambda in lambdas {
            upper = min(upper, (logMGF(lambda) - logTail) / lambda)
            lower = max(lower, (logMGF(-lambda) - logTail) / -lambda)
        }
        let lowest = max(minimum, Int((lower / interval).rounded(.down)))
        let highest = min(maximum, Int((upper / interval).rounded(.up)))
        var length = 1
        while length < highest - lowest + 1 { length <<= 1 }
        try checkGridSize(length)

        var productReal = [Double](repeating: 1, count: length)
        var productImaginary = [Double](repeating: 0, count: length)
        var infinitySurvival = 1.0
        for (pmf, count) in zip(pmfs, counts) {
            var real = [Double](repeating: 0, count: length)
            var imaginary = [Double](repeating: 0, count: length)
            // Fold the single-round array into the window length (circular indices);
            // the composition's offset is restored when reading back.
            for (offset, mass) in pmf.masses.enumerated() {
                real[offset % length] += mass
            }
            fourierTransform(real: &real, imaginary: &imaginary, inverse: false)
            let power = Double(count)
            for k in 0..<length {
                let modulus = (real[k] * real[k] + imaginary[k] * imaginary[k]).squareRoot()
                guard modulus > 0 else {
                    productReal[k] = 0
                    productImaginary[k] = 0
                    continue
                }
                let raisedModulus = exp(power * log(modulus))
                let raisedAngle = power * atan2(imaginary[k], real[k])
                let r = raisedModulus * cos(raisedAngle), i = raisedModulus * sin(raisedAngle)
                let newReal = productReal[k] * r - productImaginary[k] * i
                productImaginary[k] = productReal[k] * i + productImaginary[k] * r
                productReal[k] = newReal
            }
            infinitySurvival *= pow(1 - pmf.infinityMass, power)
        }
        fourierTransform(real: &productReal, imaginary: &productImaginary, inverse: true)
        // Composed grid index g sits at circular position (g − minimum) mod length.
        var masses = [Double](repeating: 0, count: highest - lowest + 1)
        for index in lowest...highest {
            let position = ((index - minimum) % length + length) % length
            masses[index - lowest] = max(0, productReal[position] / Double(length))
        }
        // Mass outside the window (at most `tailMass` at each end by the Chernoff bounds)
        // is counted as +∞, which can only raise δ(ε). Its circular alias inside the
        // window moves at most that much mass to another loss: δ changes by ≤ 2·tailMass.
        let outside = max(0, infinitySurvival - masses.reduce(0, +))
        return PrivacyLossDistribution(interval: interval, lowestIndex: lowest, masses: masses,
                                       infinityMass: (1 - infinitySurvival) + outside)
    }
}
