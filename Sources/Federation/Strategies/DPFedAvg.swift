/// DP-FedAvg with a fixed denominator (McMahan et al. 2018, "Learning Differentially
/// Private Recurrent Language Models"), central differential privacy at the server:
///
/// 1. every update is clipped to L2 norm C (kiosks clip already; the server enforces it and
///    reports any kiosk that did not),
/// 2. the clipped updates are summed, unweighted, so each kiosk's influence is at most C,
/// 3. Gaussian noise N(0, (z·C)²) is added to every coordinate,
/// 4. the sum is divided by a FIXED denominator, the expected number of clients q·K, not by
///    the number that actually reported; dividing by the actual count would leak it and
///    break the sensitivity bound,
/// 5. the server step applies it (post-processing, free under DP).
///
/// The privacy unit is one kiosk's whole contribution to a round. The ε this spends comes
/// from `RDPAccountant`/`PLDAccountant` with (q, z, rounds) — valid only when clients are
/// Poisson-sampled at rate q (the default `configureRound`). Robust aggregators are not
/// combined with this noise: their sensitivity is not C.
///
/// ```swift
/// var strategy = DPFedAvg(clippingNorm: 1, noiseMultiplier: 1, expectedClientCount: 10,
///                         noise: SeededGaussianNoise(generator: SeededGenerator(seed: 3)))
/// ```
public struct DPFedAvg<Noise: GaussianNoiseSource>: AggregationStrategy {
    /// C, the L2 bound on each kiosk's update.
    public var clippingNorm: Double
    /// z; the noise standard deviation is z·C.
    public var noiseMultiplier: Double
    /// q·K, the fixed denominator.
    public var expectedClientCount: Double
    public var noise: Noise
    public var serverStep: PlainServerStep
    public var name: String { "dp-fedavg" }

    public init(clippingNorm: Double, noiseMultiplier: Double, expectedClientCount: Double, noise: Noise,
                serverStep: PlainServerStep = PlainServerStep()) {
        self.clippingNorm = clippingNorm
        self.noiseMultiplier = noiseMultiplier
        self.expectedClientCount = expectedClientCount
        self.noise = noise
        self.serverStep = serverStep
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        guard clippingNorm.isFinite, clippingNorm > 0 else {
            throw FederationError.invalidParameter(name: "clipping norm C", value: clippingNorm, requirement: "must be positive and finite")
        }
        guard noiseMultiplier.isFinite, noiseMultiplier >= 0 else {
            throw FederationError.invalidParameter(name: "noise multiplier z", value: noiseMultiplier, requirement: "must be non-negative and finite")
        }
        guard expectedClientCount.isFinite, expectedClientCount > 0 else {
            throw FederationError.invalidParameter(name: "expected client count", value: expectedClientCount, requirement: "must be positive and finite")
        }
        let norms = updates.rowNorms()
        var values = updates.values
        var adjusted = [ClientRejection]()
        // Kiosks clip in Float; allow for that rounding before calling a kiosk out.
        let reportingSlack = 1 + 1e-5
        for row in 0..<updates.rowCount where norms[row] > clippingNorm {
            let factor = clippingFactor(norm: norms[row], bound: clippingNorm)
            for index in row * updates.columnCount..<(row + 1) * updates.columnCount {
                values[index] = Float(Double(values[index]) * factor)
            }
            if norms[row] > clippingNorm * reportingSlack {
                adjusted.append(ClientRejection(clientID: updates.clientIDs[row],
                                                reason: "update norm \(norms[row]) clipped by the server to C = \(clippingNorm)"))
            }
        }
        let clipped = try UpdateMatrix(clientIDs: updates.clientIDs, exampleCounts: updates.exampleCounts,
                                       columnCount: updates.columnCount, values: values)
        let sum = unweightedSum(of: clipped)
        let standardDeviation = noiseMultiplier * clippingNorm
        let delta = sum.map { value in
            Float((Double(value) + standardDeviation * noise.nextStandardNormal()) / expectedClientCount)
        }
        return AggregationOutcome(parameters: serverStep.step(round: round, global: global, delta: delta),
                                  accepted: updates.clientIDs, adjusted: adjusted)
    }
}
