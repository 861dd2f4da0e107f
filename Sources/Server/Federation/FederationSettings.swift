import Federation
import FederationAPI
import Foundation

/// The federation part of the configuration, resolved into Federation's types.
struct FederationSettings: Sendable {
    let budget: PrivacyBudget
    let evaluationPairsPath: String?
    let gateTolerance: Double
    let minimumPairs: Int

    init(configuration: ServerConfiguration) {
        budget = PrivacyBudget(epsilon: configuration.federationEpsilonBudget, delta: configuration.federationDelta,
                               accountant: PrivacyAccountantKind(rawValue: configuration.federationAccountant) ?? .rdp)
        evaluationPairsPath = configuration.federationEvaluationPairs
        gateTolerance = configuration.federationGateTolerance
        minimumPairs = configuration.federationMinimumPairs
    }

    /// ε at the budget's δ, under the budget's accountant, of the rounds in the ledger.
    func epsilonSpent(_ ledger: [PrivacyLedgerEntry]) throws -> Double {
        guard !ledger.isEmpty else { return 0 }
        switch budget.accountant {
        case .rdp: return try RDPAccountant().epsilon(for: ledger, delta: budget.delta).epsilon
        case .pld: return try PLDAccountant().epsilon(for: ledger, delta: budget.delta)
        }
    }

    /// The held-out pairs, or why there are none.
    func evaluationPairs() throws(LabelledPairsFile.Invalid) -> [LabelledPair] {
        guard let evaluationPairsPath else {
            throw LabelledPairsFile.Invalid(description: "no evaluation set is configured (federation.evaluation-pairs)")
        }
        return try LabelledPairsFile.read(path: evaluationPairsPath)
    }
}
