/// The privacy claim attached to a model release: what is protected (the privacy unit),
/// by which mechanism and parameters, and how much was spent, under both accountants, for
/// this release's rounds and cumulatively for the whole model line. Codable, so it is
/// signed together with the release.
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

    public init(clippingNorm: Double, noiseMultiplier: Double, samplingRate: Double, releaseRounds: Int,
                ledger: [PrivacyLedgerEntry], delta: Double,
                rdp: RDPAccountant = RDPAccountant(), pld: PLDAccountant = PLDAccountant()) throws {
        let release = [PrivacyLedgerEntry(samplingRate: samplingRate, noiseMultiplier: noiseMultiplier, rounds: releaseRounds)]
        self.privacyUnit = Self.kioskRoundPrivacyUnit
        self.mechanism = "DP-FedAvg: Poisson-sampled kiosks, updates clipped to C, Gaussian noise N(0, (zC)²) on the sum, fixed denominator"
        self.clippingNorm = clippingNorm
        self.noiseMultiplier = noiseMultiplier
        self.samplingRate = samplingRate
        self.rounds = releaseRounds
        self.cumulativeRounds = ledger.reduce(0) { $0 + $1.rounds }
        self.delta = delta
        self.epsilonRDP = try rdp.epsilon(for: release, delta: delta).epsilon
        self.epsilonPLD = try pld.epsilon(for: release, delta: delta)
        self.cumulativeEpsilonRDP = try rdp.epsilon(for: ledger, delta: delta).epsilon
        self.cumulativeEpsilonPLD = try pld.epsilon(for: ledger, delta: delta)
        self.accountants = "RDP: Poisson-subsampled Gaussian on dp-accounting's default orders (\(rdp.orders.count) orders); "
            + "PLD: pessimistic privacy loss bucketing, interval \(pld.discretizationInterval), FFT composition, add and remove neighbours"
    }
}
