import Federation
import FederationAPI
import Foundation

/// The federation part of the configuration, resolved into Federation's types.
struct FederationSettings: Sendable {
    let budget: PrivacyBudget
    let evaluationPairsPath: String?
    /// The FMR at which the evaluation gate compares candidate and base (`rollout.target-fmr`,
    /// the operating point releases are compared at in the field too).
    let gateTargetFMR: Double
    let minimumPairs: Int

    init(configuration: ServerConfiguration) {
        budget = PrivacyBudget(epsilon: configuration.federationEpsilonBudget, delta: configuration.federationDelta,
                               accountant: PrivacyAccountantKind(rawValue: configuration.federationAccountant) ?? .rdp)
        evaluationPairsPath = configuration.federationEvaluationPairs
        gateTargetFMR = configuration.rolloutTargetFMR
        minimumPairs = configuration.federationMinimumPairs
    }

    /// The held-out pairs, or why there are none.
    func evaluationPairs() throws(LabelledPairsFile.Invalid) -> [LabelledPair] {
        guard let evaluationPairsPath else {
            throw LabelledPairsFile.Invalid(description: "no evaluation set is configured (federation.evaluation-pairs)")
        }
        return try LabelledPairsFile.read(path: evaluationPairsPath)
    }
}
