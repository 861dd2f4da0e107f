import FederationCore
/// The one seam every federated algorithm goes through, after Flower's `Strategy`:
/// **configure a round** (who trains, with which settings) → **aggregate** the updates that
/// came back into the next global parameters → **evaluate** the candidate before release.
/// A new algorithm is a new conforming type, never a branch in the server.
///
/// Strategies are values. Those with server-side state (FedAvgM's momentum, FedAdam's
/// moments) keep it in `Codable` properties, so the server can persist it with the round
/// and resume after a restart.
///
/// ```swift
/// var strategy = MultiKrum(assumedByzantine: 1, keep: 3)
/// var rng = SeededGenerator(seed: 1)
/// let plan = strategy.configureRound(context, using: &rng)
/// // … kiosks in plan.selectedClients train and upload …
/// let outcome = try strategy.aggregate(round: plan.roundNumber, global: global.parameters,
///                                      updates: UpdateMatrix(updates: received))
/// let report = try strategy.evaluate(candidate: global.replacingParameters(with: outcome.parameters),
///                                    on: validationPairs, targetFMR: 1e-3)
/// let release = report.passesGate(comparedWith: try strategy.evaluate(candidate: global, on: validationPairs, targetFMR: 1e-3))
/// ```
public protocol AggregationStrategy: Sendable {
    /// A short, stable identifier for logs and release metadata ("fedavg", "krum", …).
    var name: String { get }

    /// Chooses the clients and the local-training settings of a round.
    func configureRound(_ context: RoundContext, using generator: inout some RandomNumberGenerator) -> RoundPlan

    /// Combines the round's updates (parameter deltas) into the next global parameters.
    mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome

    /// Judges a candidate adapter on held-out labelled pairs before it may be released.
    func evaluate(candidate: Adapter, on pairs: [LabelledPair], targetFMR: Double) throws -> EvaluationReport
}

extension AggregationStrategy {
    /// Poisson sampling: each eligible client is selected independently with probability
    /// `context.samplingRate`. This is the sampling the privacy accountants assume, so a
    /// strategy that samples differently must not claim their ε. Each round gets a fresh
    /// local-training seed drawn from the generator.
    public func configureRound(_ context: RoundContext, using generator: inout some RandomNumberGenerator) -> RoundPlan {
        let selected = context.eligibleClients.filter { _ in
            Double.random(in: 0..<1, using: &generator) < context.samplingRate
        }
        var training = context.localTraining
        training.seed = generator.next()
        return RoundPlan(roundNumber: context.roundNumber, selectedClients: selected,
                         localTraining: training, clippingNorm: context.clippingNorm)
    }

    /// FNMR at the target FMR over the held-out pairs: the operating point the release is for.
    public func evaluate(candidate: Adapter, on pairs: [LabelledPair], targetFMR: Double) throws -> EvaluationReport {
        try EvaluationReport(adapter: candidate, pairs: pairs, targetFMR: targetFMR)
    }
}

/// What the server knows when it opens a round.
public struct RoundContext: Sendable, Codable, Equatable {
    public var roundNumber: Int
    /// Kiosks that are enrolled, consented and online for this round.
    public var eligibleClients: [String]
    /// Poisson sampling rate q.
    public var samplingRate: Double
    public var localTraining: LocalTrainingConfiguration
    /// L2 bound C each kiosk clips its update to.
    public var clippingNorm: Double

    public init(roundNumber: Int, eligibleClients: [String], samplingRate: Double,
                localTraining: LocalTrainingConfiguration, clippingNorm: Double) {
        self.roundNumber = roundNumber
        self.eligibleClients = eligibleClients
        self.samplingRate = samplingRate
        self.localTraining = localTraining
        self.clippingNorm = clippingNorm
    }
}

/// What the server tells the selected kiosks.
public struct RoundPlan: Sendable, Codable, Equatable {
    public var roundNumber: Int
    public var selectedClients: [String]
    public var localTraining: LocalTrainingConfiguration
    public var clippingNorm: Double

    public init(roundNumber: Int, selectedClients: [String], localTraining: LocalTrainingConfiguration, clippingNorm: Double) {
        self.roundNumber = roundNumber
        self.selectedClients = selectedClients
        self.localTraining = localTraining
        self.clippingNorm = clippingNorm
    }
}

/// Why a client's update did not count (or counted only in part).
public struct ClientRejection: Sendable, Codable, Equatable {
    public var clientID: String
    public var reason: String

    public init(clientID: String, reason: String) {
        self.clientID = clientID
        self.reason = reason
    }
}

/// The result of aggregating one round.
public struct AggregationOutcome: Sendable, Equatable {
    /// The next global parameters (layout of `Adapter.parameters`).
    public var parameters: [Float]
    /// Clients whose whole update entered the aggregate.
    public var accepted: [String]
    /// Clients left out entirely, each with the reason.
    public var rejected: [ClientRejection]
    /// Clients whose update entered only in part (scaled down by norm bounding, or trimmed
    /// in some coordinates), each with how.
    public var adjusted: [ClientRejection]

    public init(parameters: [Float], accepted: [String], rejected: [ClientRejection] = [], adjusted: [ClientRejection] = []) {
        self.parameters = parameters
        self.accepted = accepted
        self.rejected = rejected
        self.adjusted = adjusted
    }
}

/// How a candidate adapter does at the operating point on held-out pairs: the evaluation gate
/// before a release. The threshold is set on the impostor pairs so that at most
/// ⌊targetFMR · impostors⌋ of them score at or above it (as the face module's
/// `VerificationErrorRates`), and FNMR is the share of genuine pairs below it. A mean loss is
/// not used: it is dominated by the many easy impostor pairs and fell in the simulation while
/// FNMR at FMR 1e-3 did not move.
public struct EvaluationReport: Sendable, Codable, Equatable {
    public var genuinePairs: Int
    public var impostorPairs: Int
    public var targetFMR: Double
    public var threshold: Double
    public var falseNonMatchRate: Double

    public init(genuinePairs: Int, impostorPairs: Int, targetFMR: Double, threshold: Double, falseNonMatchRate: Double) {
        self.genuinePairs = genuinePairs
        self.impostorPairs = impostorPairs
        self.targetFMR = targetFMR
        self.threshold = threshold
        self.falseNonMatchRate = falseNonMatchRate
    }

    public init(adapter: Adapter, pairs: [LabelledPair], targetFMR: Double) throws {
        guard targetFMR.isFinite, targetFMR > 0, targetFMR < 1 else {
            throw FederationError.invalidParameter(name: "targetFMR", value: targetFMR, requirement: "must be within (0, 1)")
        }
        var genuine: [Double] = [], impostor: [Double] = []
        for pair in pairs {
            let a = try adapter.transform(pair.first), b = try adapter.transform(pair.second)
            let cosine = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            if pair.isGenuine { genuine.append(cosine) } else { impostor.append(cosine) }
        }
        guard !genuine.isEmpty else { throw FederationError.empty(what: "genuine evaluation pairs") }
        guard !impostor.isEmpty else { throw FederationError.empty(what: "impostor evaluation pairs") }
        impostor.sort()
        let allowed = Int((targetFMR * Double(impostor.count)).rounded(.down))
        // Accepting at most `allowed` impostors: just above the (allowed + 1)-th highest.
        let threshold = allowed >= impostor.count ? impostor[0] : impostor[impostor.count - 1 - allowed].nextUp
        let rejected = genuine.count { $0 < threshold }
        self.init(genuinePairs: genuine.count, impostorPairs: impostor.count, targetFMR: targetFMR, threshold: threshold,
                  falseNonMatchRate: Double(rejected) / Double(genuine.count))
    }

    /// The release gate: the candidate must be **strictly better** than the model it would
    /// replace — lower FNMR at the same target FMR on the same pairs, by more than
    /// `minimumImprovement`. A tie is not better, so a round whose candidate changes nothing
    /// at the operating point is not released (it would only spend a version and the audit's
    /// attention).
    public func passesGate(comparedWith baseline: EvaluationReport, minimumImprovement: Double = 0) -> Bool {
        targetFMR == baseline.targetFMR && genuinePairs == baseline.genuinePairs && impostorPairs == baseline.impostorPairs
            && falseNonMatchRate < baseline.falseNonMatchRate - minimumImprovement
    }
}
