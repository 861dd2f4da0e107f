import FederationCore
/// Which accountant a budget is enforced with.
public enum PrivacyAccountantKind: String, Sendable, Codable, CaseIterable {
    /// `RDPAccountant`: looser, fast, the figure most papers report.
    case rdp
    /// `PLDAccountant`: tighter, slower.
    case pld

    func epsilon(for ledger: [PrivacyLedgerEntry], delta: Double) throws -> Double {
        switch self {
        case .rdp: return try RDPAccountant().epsilon(for: ledger, delta: delta).epsilon
        case .pld: return try PLDAccountant().epsilon(for: ledger, delta: delta)
        }
    }
}

/// The most privacy a model line may spend: ε at δ under a named accountant, for the
/// privacy unit of one kiosk's participation.
///
/// ```swift
/// let budget = PrivacyBudget(epsilon: 8, delta: 1e-6, accountant: .pld)
/// switch try budget.admit(nextRound: PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 1),
///                         after: ledger) {
/// case .open: …                        // open the round
/// case .refused(let reason, _): …      // tell the engineer why
/// }
/// ```
public struct PrivacyBudget: Sendable, Codable, Equatable {
    public var epsilon: Double
    public var delta: Double
    public var accountant: PrivacyAccountantKind

    public init(epsilon: Double, delta: Double, accountant: PrivacyAccountantKind = .pld) {
        self.epsilon = epsilon
        self.delta = delta
        self.accountant = accountant
    }

    /// ε at δ of the rounds in the ledger, each accounted as DP-FedAvg runs it: on the
    /// fixed-point grid, at the effective multiplier σ/Δ (below the nominal z), exactly as the
    /// release's `PrivacyStatement` states it, so that no release states more than the budget.
    public func epsilonSpent(_ ledger: [PrivacyLedgerEntry], dimension: Int = PrivacyStatement.adapterDimension,
                             gridBits: Int = FixedPointGrid.defaultBits) throws -> Double {
        guard !ledger.isEmpty else { return 0 }
        // σ/Δ does not depend on C, so any clipping norm gives the grid's multiplier.
        let grid = try FixedPointGrid(clippingNorm: 1, bits: gridBits, dimension: dimension)
        let accounted = ledger.map {
            PrivacyLedgerEntry(samplingRate: $0.samplingRate, noiseMultiplier: grid.effectiveNoiseMultiplier($0.noiseMultiplier), rounds: $0.rounds)
        }
        return try accountant.epsilon(for: accounted, delta: delta)
    }

    /// Whether a round with these parameters may open, given the rounds already spent.
    /// The decision is made on ε *after* the planned round, so a budget is never exceeded.
    public func admit(nextRound planned: PrivacyLedgerEntry, after ledger: [PrivacyLedgerEntry]) throws -> RoundAdmission {
        guard epsilon.isFinite, epsilon >= 0 else {
            throw FederationError.invalidParameter(name: "epsilon budget", value: epsilon, requirement: "must be non-negative and finite")
        }
        let spent = try epsilonSpent(ledger)
        let after = try epsilonSpent(ledger + [planned])
        if after <= epsilon {
            return .open(epsilonAfterRound: after)
        }
        let roundsSoFar = ledger.reduce(0) { $0 + $1.rounds }
        let reason: String
        if planned.noiseMultiplier == 0 && planned.samplingRate > 0 {
            reason = "the planned round adds no noise (z = 0), so its ε is unbounded"
        } else {
            reason = "opening it would raise ε at δ = \(delta) (\(accountant.rawValue.uppercased())) from \(rounded(spent)) "
                + "after \(roundsSoFar) rounds to \(rounded(after)), above the budget ε = \(epsilon) "
                + "(q = \(planned.samplingRate), z = \(planned.noiseMultiplier))"
        }
        return .refused(reason: reason, epsilonAfterRound: after)
    }
}

/// The answer to "may this round open?".
public enum RoundAdmission: Sendable, Equatable {
    case open(epsilonAfterRound: Double)
    case refused(reason: String, epsilonAfterRound: Double)
}

/// ε for a human: four decimals.
func rounded(_ value: Double) -> String {
    value.isFinite ? "\((value * 10_000).rounded() / 10_000)" : "∞"
}
