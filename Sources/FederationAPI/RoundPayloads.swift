import Federation
import Foundation

/// Engineer → server: open a federated round on top of the current model release.
///
/// ```json
/// {"clipping_norm": 0.1, "noise_multiplier": 1.0, "sampling_rate": 1.0, "minimum_clients": 3, "deadline_seconds": 3600}
/// ```
public struct OpenRoundRequest: Sendable, Codable, Equatable {
    /// C: every update is clipped to this L2 norm; above it (beyond float rounding) it is left out.
    public var clippingNorm: Double
    /// z: Gaussian noise of standard deviation z·C is added to the sum of updates.
    public var noiseMultiplier: Double
    /// q: each active kiosk is selected into the round independently with this probability.
    public var samplingRate: Double
    /// Quorum: the round aggregates as soon as this many updates are in; at the deadline it
    /// aggregates if it has at least this many, otherwise it fails.
    public var minimumClients: Int
    public var deadlineSeconds: Int
    /// `dp-fedavg` (the only strategy with a privacy guarantee; the default).
    public var strategy: String?
    public var localTraining: LocalTrainingSettings?

    public init(clippingNorm: Double, noiseMultiplier: Double, samplingRate: Double, minimumClients: Int, deadlineSeconds: Int,
                strategy: String? = nil, localTraining: LocalTrainingSettings? = nil) {
        self.clippingNorm = clippingNorm
        self.noiseMultiplier = noiseMultiplier
        self.samplingRate = samplingRate
        self.minimumClients = minimumClients
        self.deadlineSeconds = deadlineSeconds
        self.strategy = strategy
        self.localTraining = localTraining
    }

    enum CodingKeys: String, CodingKey {
        case clippingNorm = "clipping_norm", noiseMultiplier = "noise_multiplier", samplingRate = "sampling_rate"
        case minimumClients = "minimum_clients", deadlineSeconds = "deadline_seconds", strategy, localTraining = "local_training"
    }
}

/// How kiosks train in a round (the wire form of `LocalTrainingConfiguration`, without the seed,
/// which the server draws per round): the tail loss of each genuine pair against the top
/// `tail_fraction` of the kiosk's probes' scores with the public impostor set.
public struct LocalTrainingSettings: Sendable, Codable, Equatable {
    public var learningRate: Double
    public var epochs: Int
    public var batchSize: Int
    public var lossScale: Double
    public var tailFraction: Double

    public init(learningRate: Double = 0.1, epochs: Int = 1, batchSize: Int = 1000, lossScale: Double = 32, tailFraction: Double = 0.005) {
        self.learningRate = learningRate
        self.epochs = epochs
        self.batchSize = batchSize
        self.lossScale = lossScale
        self.tailFraction = tailFraction
    }

    public func configuration(seed: UInt64) -> LocalTrainingConfiguration {
        LocalTrainingConfiguration(learningRate: learningRate, epochs: epochs, batchSize: batchSize,
                                   loss: ImpostorTailLoss(scale: lossScale, tailFraction: tailFraction), seed: seed)
    }

    /// The reason these settings cannot train, or nil.
    public var problem: String? {
        guard learningRate.isFinite, learningRate > 0, learningRate <= 100 else { return "learning_rate must be within (0, 100]" }
        guard (1...100).contains(epochs) else { return "epochs must be within 1…100" }
        guard (1...4096).contains(batchSize) else { return "batch_size must be within 1…4096" }
        guard lossScale.isFinite, lossScale > 0, lossScale <= 1000 else { return "loss_scale must be within (0, 1000]" }
        guard tailFraction.isFinite, tailFraction > 0, tailFraction <= 1 else { return "tail_fraction must be within (0, 1]" }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case learningRate = "learning_rate", epochs, batchSize = "batch_size", lossScale = "loss_scale", tailFraction = "tail_fraction"
    }

    /// Rounds stored before the tail loss carry `loss_margin` and no `tail_fraction`; they read
    /// with the default fraction (they are closed, nobody trains with them again).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        learningRate = try container.decode(Double.self, forKey: .learningRate)
        epochs = try container.decode(Int.self, forKey: .epochs)
        batchSize = try container.decode(Int.self, forKey: .batchSize)
        lossScale = try container.decode(Double.self, forKey: .lossScale)
        tailFraction = try container.decodeIfPresent(Double.self, forKey: .tailFraction) ?? 0.005
    }
}

/// A round as engineers see it.
public struct RoundView: Sendable, Codable, Equatable {
    /// `open`, `published` (aggregated, passed the gate, released), `rejected` (the gate
    /// refused the candidate), `failed` (too few updates by the deadline) or `cancelled`.
    public var state: String
    public var round: RoundSpecification
    public var updatesReceived: Int
    public var openedAt: Date
    public var openedBy: String
    public var closedAt: Date?
    public var outcome: RoundOutcome?

    public init(state: String, round: RoundSpecification, updatesReceived: Int, openedAt: Date, openedBy: String,
                closedAt: Date?, outcome: RoundOutcome?) {
        self.state = state
        self.round = round
        self.updatesReceived = updatesReceived
        self.openedAt = openedAt
        self.openedBy = openedBy
        self.closedAt = closedAt
        self.outcome = outcome
    }

    enum CodingKeys: String, CodingKey {
        case state, round, updatesReceived = "updates_received", openedAt = "opened_at", openedBy = "opened_by"
        case closedAt = "closed_at", outcome
    }
}

public struct RoundList: Sendable, Codable, Equatable {
    public var rounds: [RoundView]
    /// ε at δ already spent by the model line (every opened round counts), and the budget.
    public var epsilonSpent: Double
    public var epsilonBudget: Double
    public var delta: Double
    public var accountant: String

    public init(rounds: [RoundView], epsilonSpent: Double, epsilonBudget: Double, delta: Double, accountant: String) {
        self.rounds = rounds
        self.epsilonSpent = epsilonSpent
        self.epsilonBudget = epsilonBudget
        self.delta = delta
        self.accountant = accountant
    }

    enum CodingKeys: String, CodingKey {
        case rounds, epsilonSpent = "epsilon_spent", epsilonBudget = "epsilon_budget", delta, accountant
    }
}

/// What the server fixes when it opens a round; also what kiosks are told (`selected` is
/// per kiosk in `CurrentRound`).
public struct RoundSpecification: Sendable, Codable, Equatable {
    public var roundID: Int
    /// The model release the kiosks train from; 0 is the identity adapter.
    public var baseVersion: Int
    public var strategy: String
    public var clippingNorm: Double
    public var noiseMultiplier: Double
    public var samplingRate: Double
    /// q·K at opening: DP-FedAvg's fixed denominator.
    public var expectedClients: Double
    public var minimumClients: Int
    public var deadline: Date
    public var selectedDevices: [String]
    public var localTraining: LocalTrainingSettings
    public var trainingSeed: UInt64

    public init(roundID: Int, baseVersion: Int, strategy: String, clippingNorm: Double, noiseMultiplier: Double,
                samplingRate: Double, expectedClients: Double, minimumClients: Int, deadline: Date, selectedDevices: [String],
                localTraining: LocalTrainingSettings, trainingSeed: UInt64) {
        self.roundID = roundID
        self.baseVersion = baseVersion
        self.strategy = strategy
        self.clippingNorm = clippingNorm
        self.noiseMultiplier = noiseMultiplier
        self.samplingRate = samplingRate
        self.expectedClients = expectedClients
        self.minimumClients = minimumClients
        self.deadline = deadline
        self.selectedDevices = selectedDevices
        self.localTraining = localTraining
        self.trainingSeed = trainingSeed
    }

    enum CodingKeys: String, CodingKey {
        case roundID = "round_id", baseVersion = "base_version", strategy, clippingNorm = "clipping_norm"
        case noiseMultiplier = "noise_multiplier", samplingRate = "sampling_rate", expectedClients = "expected_clients"
        case minimumClients = "minimum_clients", deadline, selectedDevices = "selected_devices", localTraining = "local_training"
        case trainingSeed = "training_seed"
    }
}

/// What happened when a round closed.
public struct RoundOutcome: Sendable, Codable, Equatable {
    public var accepted: [String]
    /// Left out whole (e.g. an update above the clipping norm), with the reason.
    public var rejected: [ExcludedClient]
    public var adjusted: [ExcludedClient]
    public var baseline: HeldOutEvaluation?
    public var candidate: HeldOutEvaluation?
    public var releaseVersion: Int?
    /// Why the round did not publish, when it did not.
    public var reason: String?

    public init(accepted: [String], rejected: [ExcludedClient], adjusted: [ExcludedClient], baseline: HeldOutEvaluation?,
                candidate: HeldOutEvaluation?, releaseVersion: Int?, reason: String?) {
        self.accepted = accepted
        self.rejected = rejected
        self.adjusted = adjusted
        self.baseline = baseline
        self.candidate = candidate
        self.releaseVersion = releaseVersion
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case accepted, rejected, adjusted, baseline, candidate, releaseVersion = "release_version", reason
    }
}

/// Server → kiosk: the open round, if any, and whether this kiosk was sampled into it.
public struct CurrentRound: Sendable, Codable, Equatable {
    public var roundID: Int
    public var baseVersion: Int
    public var selected: Bool
    public var clippingNorm: Double
    public var deadline: Date
    public var localTraining: LocalTrainingSettings
    public var trainingSeed: UInt64
    /// Whether the server already holds this kiosk's update.
    public var updateReceived: Bool

    public init(roundID: Int, baseVersion: Int, selected: Bool, clippingNorm: Double, deadline: Date,
                localTraining: LocalTrainingSettings, trainingSeed: UInt64, updateReceived: Bool) {
        self.roundID = roundID
        self.baseVersion = baseVersion
        self.selected = selected
        self.clippingNorm = clippingNorm
        self.deadline = deadline
        self.localTraining = localTraining
        self.trainingSeed = trainingSeed
        self.updateReceived = updateReceived
    }

    enum CodingKeys: String, CodingKey {
        case roundID = "round_id", baseVersion = "base_version", selected, clippingNorm = "clipping_norm", deadline
        case localTraining = "local_training", trainingSeed = "training_seed", updateReceived = "update_received"
    }
}

/// A kiosk whose update was left out of (or cut down in) the aggregate, and why.
public struct ExcludedClient: Sendable, Codable, Equatable {
    public var deviceID: String
    public var reason: String

    public init(deviceID: String, reason: String) {
        self.deviceID = deviceID
        self.reason = reason
    }

    public init(_ rejection: ClientRejection) {
        self.init(deviceID: rejection.clientID, reason: rejection.reason)
    }

    enum CodingKeys: String, CodingKey { case deviceID = "device_id", reason }
}

/// The evaluation gate's figures on the server's held-out labelled pairs: FNMR at the target
/// FMR. Releases signed before the gate moved to the operating point carry `mean_loss` and
/// `accuracy` instead (the logistic pair loss's figures); both shapes decode, so those
/// releases still verify and read.
public struct HeldOutEvaluation: Sendable, Codable, Equatable {
    public var pairCount: Int
    public var genuinePairs: Int?
    public var impostorPairs: Int?
    public var targetFMR: Double?
    public var threshold: Double?
    public var falseNonMatchRate: Double?
    /// Releases before the operating-point gate only.
    public var meanLoss: Double?
    public var accuracy: Double?

    public init(_ report: EvaluationReport) {
        pairCount = report.genuinePairs + report.impostorPairs
        genuinePairs = report.genuinePairs
        impostorPairs = report.impostorPairs
        targetFMR = report.targetFMR
        threshold = report.threshold
        falseNonMatchRate = report.falseNonMatchRate
    }

    /// One line for operators: FNMR at the target FMR, or the legacy loss figures.
    public var summary: String {
        if let fnmr = falseNonMatchRate, let target = targetFMR {
            return "FNMR \(fnmr) at FMR \(target) (\(genuinePairs ?? 0) genuine, \(impostorPairs ?? 0) impostor pairs)"
        }
        return "mean loss \(meanLoss.map { "\($0)" } ?? "—"), accuracy \(accuracy.map { "\($0)" } ?? "—") on \(pairCount) pairs"
    }

    enum CodingKeys: String, CodingKey {
        case pairCount = "pair_count", genuinePairs = "genuine_pairs", impostorPairs = "impostor_pairs", targetFMR = "target_fmr"
        case threshold, falseNonMatchRate = "fnmr", meanLoss = "mean_loss", accuracy
    }
}
