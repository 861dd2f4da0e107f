import FederationCore
/// One stretch of rounds run with the same DP parameters. The privacy spent by a model is
/// the composition of every entry in its ledger, so the server appends an entry (or
/// extends the last one) each time a DP round is aggregated and persists the list.
///
/// ```swift
/// let ledger = [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1.0, rounds: 1000)]
/// let epsilon = try RDPAccountant().epsilon(for: ledger, delta: 1e-6)
/// ```
public struct PrivacyLedgerEntry: Sendable, Codable, Equatable {
    /// q, the probability that a given kiosk is sampled into a round (Poisson sampling).
    public var samplingRate: Double
    /// z, noise standard deviation divided by the clipping norm C.
    public var noiseMultiplier: Double
    /// Number of rounds run with these parameters.
    public var rounds: Int

    public init(samplingRate: Double, noiseMultiplier: Double, rounds: Int) {
        self.samplingRate = samplingRate
        self.noiseMultiplier = noiseMultiplier
        self.rounds = rounds
    }

    func validate() throws {
        guard samplingRate >= 0, samplingRate <= 1 else {
            throw FederationError.invalidParameter(name: "sampling rate q", value: samplingRate, requirement: "must be in [0, 1]")
        }
        guard noiseMultiplier.isFinite, noiseMultiplier >= 0 else {
            throw FederationError.invalidParameter(name: "noise multiplier z", value: noiseMultiplier, requirement: "must be non-negative and finite")
        }
        guard rounds >= 0 else {
            throw FederationError.invalidParameter(name: "rounds", value: Double(rounds), requirement: "must not be negative")
        }
    }

    /// True when these rounds spend privacy at all.
    var isPrivacyRelevant: Bool {
        samplingRate > 0 && rounds > 0
    }
}

func validate(delta: Double) throws {
    guard delta > 0, delta < 1 else {
        throw FederationError.invalidParameter(name: "delta", value: delta, requirement: "must be in (0, 1)")
    }
}
