import FederationCore
import SeededRandom

/// What a kiosk needs to train its adapter in one round; sent by the server in the round's
/// configuration so that every kiosk trains the same way.
public struct LocalTrainingConfiguration: Sendable, Codable, Equatable {
    /// Client learning rate (Flower's `eta_l`).
    public var learningRate: Double
    /// Passes over the kiosk's pairs.
    public var epochs: Int
    /// Pairs per SGD step (the last batch of an epoch may be smaller).
    public var batchSize: Int
    public var loss: CosinePairLoss
    /// Seeds the shuffling, so a kiosk's training is reproducible.
    public var seed: UInt64

    public init(learningRate: Double = 0.01, epochs: Int = 1, batchSize: Int = 32,
                loss: CosinePairLoss = CosinePairLoss(), seed: UInt64 = 0) {
        self.learningRate = learningRate
        self.epochs = epochs
        self.batchSize = batchSize
        self.loss = loss
        self.seed = seed
    }
}

/// The outcome of local training on one kiosk.
public struct LocalTrainingResult: Sendable, Equatable {
    /// The locally trained adapter (stays on the kiosk).
    public var adapter: Adapter
    /// Mean loss over the kiosk's pairs before and after training.
    public var lossBefore: Double
    public var lossAfter: Double
    /// SGD steps taken.
    public var steps: Int
}

/// Mini-batch SGD on the kiosk's labelled pairs, starting from the global adapter.
///
/// ```swift
/// let result = try LocalTraining(configuration: config).train(from: global, on: pairs)
/// let update = try ModelUpdate(local: result.adapter, global: global, exampleCount: pairs.count)
///     .clipped(toNorm: 1.0)
/// ```
public struct LocalTraining: Sendable {
    public var configuration: LocalTrainingConfiguration

    public init(configuration: LocalTrainingConfiguration) {
        self.configuration = configuration
    }

    public func train(from global: Adapter, on pairs: [LabelledPair]) throws -> LocalTrainingResult {
        guard !pairs.isEmpty else { throw FederationError.empty(what: "training pairs") }
        guard configuration.batchSize > 0 else {
            throw FederationError.invalidParameter(name: "batchSize", value: Double(configuration.batchSize), requirement: "must be positive")
        }
        guard configuration.epochs >= 0 else {
            throw FederationError.invalidParameter(name: "epochs", value: Double(configuration.epochs), requirement: "must not be negative")
        }
        guard configuration.learningRate.isFinite, configuration.learningRate > 0 else {
            throw FederationError.invalidParameter(name: "learningRate", value: configuration.learningRate, requirement: "must be positive and finite")
        }
        let loss = configuration.loss
        let lossBefore = try loss.meanValue(adapter: global, pairs: pairs)
        var generator = SeededGenerator(seed: configuration.seed)
        var order = Array(pairs.indices)
        var parameters = global.parameters
        var current = global
        var steps = 0
        let rate = Float(configuration.learningRate)
        for _ in 0..<configuration.epochs {
            order.shuffle(using: &generator)
            for start in stride(from: 0, to: order.count, by: configuration.batchSize) {
                let batch = order[start..<min(start + configuration.batchSize, order.count)].map { pairs[$0] }
                let gradient = try loss.valueAndGradient(adapter: current, pairs: batch[...]).gradient
                for index in parameters.indices {
                    parameters[index] -= rate * gradient[index]
                }
                current = try current.replacingParameters(with: parameters)
                steps += 1
            }
        }
        let lossAfter = try loss.meanValue(adapter: current, pairs: pairs)
        return LocalTrainingResult(adapter: current, lossBefore: lossBefore, lossAfter: lossAfter, steps: steps)
    }
}
