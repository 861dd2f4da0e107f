import FederationCore
/// DP-FedAvg with a fixed denominator (McMahan et al. 2018, "Learning Differentially
/// Private Recurrent Language Models"), central differential privacy at the server, with
/// the noise added on a fixed-point grid so that no floating-point noise is released:
///
/// 1. every update is clipped to L2 norm C (kiosks clip already; the server enforces it and
///    reports any kiosk that did not) and rounded to the nearest point of the grid
///    γ = C/2^k (`FixedPointGrid`), which bounds a kiosk's influence by Δ = 2^k + √d/2
///    grid units,
/// 2. the integer updates are summed, unweighted, in `Int64` (overflow is an error),
/// 3. discrete Gaussian noise N_Z(0, σ²), σ = z·C/γ = z·2^k grid units, is added to every
///    coordinate from the injected `DiscreteGaussianNoiseSource` (an exact sampler, so the
///    low-order bits of the release carry no information about the sum: floating-point
///    Gaussian samplers are open to precision attacks, Mironov 2012),
/// 4. the sum is scaled back by γ and divided by a FIXED denominator, the expected number of
///    clients q·K, not by the number that actually reported; dividing by the actual count
///    would leak it and break the sensitivity bound,
/// 5. the server step applies it (post-processing, free under DP).
///
/// The privacy unit is one kiosk's whole contribution to a round. The ε this spends comes
/// from `RDPAccountant`/`PLDAccountant` with q, the effective multiplier σ/Δ (slightly
/// below z; `PrivacyStatement` does this) and the rounds — valid only when clients are
/// Poisson-sampled at rate q (the default `configureRound`). Robust aggregators are not
/// combined with this noise: their sensitivity is not C.
///
/// ```swift
/// var strategy = DPFedAvg(clippingNorm: 1, noiseMultiplier: 1, expectedClientCount: 10,
///                         noise: DiscreteGaussianNoise(generator: SeededGenerator(seed: 3)))
/// ```
public struct DPFedAvg<Noise: DiscreteGaussianNoiseSource>: AggregationStrategy {
    /// C, the L2 bound on each kiosk's update.
    public var clippingNorm: Double
    /// z; the noise standard deviation is z·C in model units, z·2^k in grid units.
    public var noiseMultiplier: Double
    /// q·K, the fixed denominator.
    public var expectedClientCount: Double
    /// k; the grid step is C/2^k.
    public var gridBits: Int
    public var noise: Noise
    public var serverStep: PlainServerStep
    public var name: String { "dp-fedavg" }

    public init(clippingNorm: Double, noiseMultiplier: Double, expectedClientCount: Double,
                gridBits: Int = FixedPointGrid.defaultBits, noise: Noise,
                serverStep: PlainServerStep = PlainServerStep()) {
        self.clippingNorm = clippingNorm
        self.noiseMultiplier = noiseMultiplier
        self.expectedClientCount = expectedClientCount
        self.gridBits = gridBits
        self.noise = noise
        self.serverStep = serverStep
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        guard noiseMultiplier.isFinite, noiseMultiplier >= 0 else {
            throw FederationError.invalidParameter(name: "noise multiplier z", value: noiseMultiplier, requirement: "must be non-negative and finite")
        }
        guard expectedClientCount.isFinite, expectedClientCount > 0 else {
            throw FederationError.invalidParameter(name: "expected client count", value: expectedClientCount, requirement: "must be positive and finite")
        }
        let grid = try FixedPointGrid(clippingNorm: clippingNorm, bits: gridBits, dimension: updates.columnCount)
        // Checked before any noise is drawn, so a refused round consumes nothing.
        let variance = noiseMultiplier > 0 ? try grid.noiseVariance(noiseMultiplier: noiseMultiplier) : nil
        let norms = updates.rowNorms()
        var adjusted = [ClientRejection]()
        // Kiosks clip in Float; allow for that rounding before calling a kiosk out.
        let reportingSlack = 1 + 1e-5
        var sum = [Int64](repeating: 0, count: updates.columnCount)
        for row in 0..<updates.rowCount {
            if norms[row] > clippingNorm * reportingSlack {
                adjusted.append(ClientRejection(clientID: updates.clientIDs[row],
                                                reason: "update norm \(norms[row]) clipped by the server to C = \(clippingNorm)"))
            }
            let point = try grid.integerPoint(of: updates.row(row), norm: norms[row])
            for column in sum.indices {
                sum[column] = try checkedSum(sum[column], point[column])
            }
        }
        if let variance {
            for column in sum.indices {
                sum[column] = try checkedSum(sum[column], noise.nextDiscreteGaussian(variance: variance))
            }
        }
        let step = grid.step
        let delta = sum.map { Float(Double($0) * step / expectedClientCount) }
        return AggregationOutcome(parameters: serverStep.step(round: round, global: global, delta: delta),
                                  accepted: updates.clientIDs, adjusted: adjusted)
    }

    private func checkedSum(_ lhs: Int64, _ rhs: Int64) throws -> Int64 {
        let (sum, overflow) = lhs.addingReportingOverflow(rhs)
        guard !overflow else {
            throw FederationError.invalidParameter(
                name: "grid bits k", value: Double(gridBits), requirement: "the integer sum on the grid overflows Int64; use fewer grid bits")
        }
        return sum
    }
}
