import FederationCore
/// The privacy claim attached to a model release: what is protected (the privacy unit),
/// by which mechanism and parameters, and how much was spent, under both accountants, for
/// this release's rounds and cumulatively for the whole model line. Codable, so it is
/// signed together with the release.
///
/// The mechanism is DP-FedAvg's discrete Gaussian on the fixed-point grid (`FixedPointGrid`),
/// and the ε figures account for the discretisation:
///
/// - **Sensitivity.** Nearest rounding adds up to √d/2 grid units, so one kiosk moves the
///   integer sum by at most Δ = C/γ + √d/2, and every round of the ledger is accounted with
///   the effective multiplier σ/Δ = z·2^k/(2^k + √d/2) < z instead of z. (Ledger rounds run
///   before the grid existed had continuous noise at z; accounting them at the smaller
///   multiplier overstates their ε slightly, which is safe.)
/// - **Discrete vs continuous Gaussian.** For an integer shift μ the discrete Gaussian's
///   normaliser is shift-invariant, so E[(P_μ/P_0)^k] = exp((k² − k)‖μ‖²/(2σ²)) exactly as
///   for the continuous Gaussian at integer k, and the Rényi divergences are at most the
///   continuous ones at every order (Canonne, Kamath & Steinke 2020, "The Discrete Gaussian
///   for Differential Privacy", §3 and the multivariate extension). Hence the Poisson-
///   subsampled moments A_α of Mironov, Talwar & Zhang 2019 at integer orders are the
///   continuous ones at multiplier σ/Δ. The fractional orders, the add direction and the PLD
///   carry the continuous analysis over on that equivalence, as CKS's comparison of the two
///   mechanisms supports; the accountants themselves are the continuous ones.
/// - **τ.** Kairouz, Liu & Steinke 2021 ("The Distributed Discrete Gaussian Mechanism for
///   Federated Learning with Secure Aggregation", Thm. 1 and Prop. 14) pay
///   τ = 10·Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k + 1)) because a sum of n independent discrete
///   Gaussians is not exactly a discrete Gaussian. The sum runs over the n noise shares
///   added to one coordinate, not over the d coordinates; the server adds one share
///   (n = 1), so the released noise is exactly N_Z(0, σ²) and τ = 0 — nothing is folded
///   into δ. Splitting the noise (e.g. across kiosks under secure aggregation) would make
///   τ positive and need that theorem's bound.
///
/// ```swift
/// let statement = try PrivacyStatement(clippingNorm: 1, noiseMultiplier: 1, samplingRate: 0.01,
///                                      releaseRounds: 100, ledger: allRoundsSoFar, delta: 1e-6)
/// ```
public struct PrivacyStatement: Sendable, Codable, Equatable {
    /// The unit whose presence or absence the guarantee hides.
    public var privacyUnit: String
    public var mechanism: String
    /// C, the L2 bound on each kiosk's update.
    public var clippingNorm: Double
    /// z, noise standard deviation over C.
    public var noiseMultiplier: Double
    /// γ = C/2^k, the step of the grid the noise is added on.
    public var gridStep: Double
    /// d, the number of parameters rounded to the grid.
    public var dimension: Int
    /// σ/Δ, the multiplier every ε below is computed with.
    public var effectiveNoiseMultiplier: Double
    /// q, the Poisson sampling rate of kiosks per round.
    public var samplingRate: Double
    /// Rounds that went into this release since the previous one.
    public var rounds: Int
    /// Rounds since the adapter started from the identity (what the model has seen).
    public var cumulativeRounds: Int
    public var delta: Double
    /// ε at δ of this release's rounds.
    public var epsilonRDP: Double
    public var epsilonPLD: Double
    /// ε at δ of every round in the ledger: the guarantee the released model carries.
    public var cumulativeEpsilonRDP: Double
    public var cumulativeEpsilonPLD: Double
    /// How each ε was computed, for a reader who wants to reproduce it.
    public var accountants: String

    public static let kioskRoundPrivacyUnit =
        "one kiosk's participation in a round: its whole model update, computed from all of its labelled pairs"

    /// The number of parameters of the production adapter (128×128, no bias).
    public static let adapterDimension = Adapter.faceDescriptorDimension * Adapter.faceDescriptorDimension

    public init(clippingNorm: Double, noiseMultiplier: Double, samplingRate: Double, releaseRounds: Int,
                ledger: [PrivacyLedgerEntry], delta: Double,
                dimension: Int = PrivacyStatement.adapterDimension, gridBits: Int = FixedPointGrid.defaultBits,
                rdp: RDPAccountant = RDPAccountant(), pld: PLDAccountant = PLDAccountant()) throws {
        let grid = try FixedPointGrid(clippingNorm: clippingNorm, bits: gridBits, dimension: dimension)
        if noiseMultiplier > 0 {
            // Parameters the sampler cannot run are refused here, before a round opens.
            _ = try grid.noiseVariance(noiseMultiplier: noiseMultiplier)
        }
        func effective(_ entries: [PrivacyLedgerEntry]) -> [PrivacyLedgerEntry] {
            entries.map { PrivacyLedgerEntry(samplingRate: $0.samplingRate, noiseMultiplier: grid.effectiveNoiseMultiplier($0.noiseMultiplier),
                                             rounds: $0.rounds) }
        }
        let release = effective([PrivacyLedgerEntry(samplingRate: samplingRate, noiseMultiplier: noiseMultiplier, rounds: releaseRounds)])
        let cumulative = effective(ledger)
        let effectiveMultiplier = grid.effectiveNoiseMultiplier(noiseMultiplier)
        self.privacyUnit = Self.kioskRoundPrivacyUnit
        self.mechanism = "DP-FedAvg: Poisson-sampled kiosks, updates clipped to C and rounded to the nearest point of the grid "
            + "γ = C/2^\(gridBits) = \(grid.step), summed as integers, discrete Gaussian noise N_Z(0, σ²) with σ = zC/γ = "
            + "\(grid.noiseStandardDeviation(noiseMultiplier: noiseMultiplier)) grid units on the sum (exact Canonne–Kamath–Steinke "
            + "sampler), fixed denominator; effective noise multiplier σ/Δ = \(effectiveMultiplier)"
        self.clippingNorm = clippingNorm
        self.noiseMultiplier = noiseMultiplier
        self.gridStep = grid.step
        self.dimension = dimension
        self.effectiveNoiseMultiplier = effectiveMultiplier
        self.samplingRate = samplingRate
        self.rounds = releaseRounds
        self.cumulativeRounds = ledger.reduce(0) { $0 + $1.rounds }
        self.delta = delta
        self.epsilonRDP = try rdp.epsilon(for: release, delta: delta).epsilon
        self.epsilonPLD = try pld.epsilon(for: release, delta: delta)
        self.cumulativeEpsilonRDP = try rdp.epsilon(for: cumulative, delta: delta).epsilon
        self.cumulativeEpsilonPLD = try pld.epsilon(for: cumulative, delta: delta)
        self.accountants = "Discrete Gaussian on the grid γ = \(grid.step): sensitivity Δ = C/γ + √d/2 = \(grid.sensitivity) grid units "
            + "(d = \(dimension), nearest rounding), every round accounted at the effective noise multiplier σ/Δ = z·2^k/Δ "
            + "(\(effectiveMultiplier) for z = \(noiseMultiplier)); τ = 0 (Kairouz–Liu–Steinke 2021: one noise share, so the noise "
            + "is exactly N_Z(0, σ²)); "
            + "ε includes the amplification of Poisson sampling at rate q, which holds because who was sampled stays secret: "
            + "kiosks learn only whether they were selected, and releases name no participant; "
            + "RDP: Poisson-subsampled Gaussian on dp-accounting's default orders (\(rdp.orders.count) orders); "
            + "PLD: pessimistic privacy loss bucketing, interval \(pld.discretizationInterval), FFT composition, add and remove neighbours"
    }
}
