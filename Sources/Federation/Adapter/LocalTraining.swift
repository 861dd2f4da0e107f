import FederationCore
import SeededRandom

/// What a kiosk needs to train its adapter in one round; sent by the server in the round's
/// configuration so that every kiosk trains the same way.
public struct LocalTrainingConfiguration: Sendable, Codable, Equatable {
    /// Client learning rate (Flower's `eta_l`).
    public var learningRate: Double
    /// Passes over the kiosk's genuine pairs.
    public var epochs: Int
    /// Genuine pairs per SGD step (the last batch of an epoch may be smaller); each batch is
    /// scored against the whole public impostor set.
    public var batchSize: Int
    public var loss: ImpostorTailLoss
    /// Seeds the shuffling, so a kiosk's training is reproducible.
    public var seed: UInt64

    public init(learningRate: Double = 0.01, epochs: Int = 1, batchSize: Int = 32,
                loss: ImpostorTailLoss = ImpostorTailLoss(), seed: UInt64 = 0) {
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
    /// The tail loss over the kiosk's genuine pairs before and after training.
    public var lossBefore: Double
    public var lossAfter: Double
    /// SGD steps taken.
    public var steps: Int
}

/// Mini-batch SGD of the tail loss on the kiosk's genuine pairs against the public impostor
/// set, starting from the global adapter. Each step moves `W` by the **symmetric part** of the
/// gradient, so a symmetric global `W` (the identity, and every release since) stays exactly
/// symmetric: the score cos(W a, W b) depends on `W` only through WᵀW, so a rotation of `W`
/// changes no score while it would spend clipping norm and draw noise; the symmetric square
/// root is the one representative with half the free parameters. Impostor pairs in `pairs`
/// are not used: the kiosk's own few impostors say nothing about the tail.
///
/// ```swift
/// let result = try LocalTraining(configuration: config).train(from: global, on: pairs, impostors: publicSet)
/// let update = try ModelUpdate(local: result.adapter, global: global, exampleCount: pairs.count)
///     .clipped(toNorm: 1.0)
/// ```
public struct LocalTraining: Sendable {
    public var configuration: LocalTrainingConfiguration

    public init(configuration: LocalTrainingConfiguration) {
        self.configuration = configuration
    }

    public func train(from global: Adapter, on pairs: [LabelledPair], impostors: PublicImpostorSet) throws -> LocalTrainingResult {
        guard configuration.batchSize > 0 else {
            throw FederationError.invalidParameter(name: "batchSize", value: Double(configuration.batchSize), requirement: "must be positive")
        }
        guard configuration.epochs >= 0 else {
            throw FederationError.invalidParameter(name: "epochs", value: Double(configuration.epochs), requirement: "must not be negative")
        }
        guard configuration.learningRate.isFinite, configuration.learningRate > 0 else {
            throw FederationError.invalidParameter(name: "learningRate", value: configuration.learningRate, requirement: "must be positive and finite")
        }
        let genuine = pairs.filter(\.isGenuine)
        guard !genuine.isEmpty else { throw FederationError.empty(what: "genuine training pairs") }
        let loss = configuration.loss
        let lossBefore = try loss.value(adapter: global, genuine: genuine[...], impostors: impostors)
        var generator = SeededGenerator(seed: configuration.seed)
        var order = Array(genuine.indices)
        var parameters = global.parameters
        var current = global
        var steps = 0
        let rate = Float(configuration.learningRate)
        let d = global.dimension
        for _ in 0..<configuration.epochs {
            order.shuffle(using: &generator)
            for start in stride(from: 0, to: order.count, by: configuration.batchSize) {
                let batch = order[start..<min(start + configuration.batchSize, order.count)].map { genuine[$0] }
                var gradient = try loss.valueAndGradient(adapter: current, genuine: batch[...], impostors: impostors).gradient
                symmetrizeWeights(&gradient, dimension: d)
                for index in parameters.indices {
                    parameters[index] -= rate * gradient[index]
                }
                current = try current.replacingParameters(with: parameters)
                steps += 1
            }
        }
        let lossAfter = try loss.value(adapter: current, genuine: genuine[...], impostors: impostors)
        return LocalTrainingResult(adapter: current, lossBefore: lossBefore, lossAfter: lossAfter, steps: steps)
    }
}

/// Replaces the leading `dimension × dimension` block of `values` (row-major `W`) by its
/// symmetric part (W + Wᵀ)/2, leaving anything after it (the bias) alone. Both halves get the
/// same float, so the result is exactly symmetric.
func symmetrizeWeights(_ values: inout [Float], dimension d: Int) {
    for row in 0..<d {
        for column in (row + 1)..<d {
            let mean = (values[row * d + column] + values[column * d + row]) / 2
            values[row * d + column] = mean
            values[column * d + row] = mean
        }
    }
}

extension Adapter {
    /// The adapter with `W` replaced by (W + Wᵀ)/2. The server applies it to an aggregated
    /// candidate: DP noise is drawn for every coordinate, and averaging the two halves is
    /// post-processing (no privacy cost) that halves the noise variance off the diagonal.
    public func symmetrized() throws -> Adapter {
        var values = parameters
        symmetrizeWeights(&values, dimension: dimension)
        return try replacingParameters(with: values)
    }

    /// Whether `W` equals its transpose exactly.
    public var hasSymmetricWeights: Bool {
        for row in 0..<dimension {
            for column in (row + 1)..<dimension where weights[row * dimension + column] != weights[column * dimension + row] {
                return false
            }
        }
        return true
    }
}
