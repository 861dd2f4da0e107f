import Foundation

/// How the server turns the round's aggregated delta into the next global parameters.
/// FedAvg, FedAvgM and FedAdam differ only here (Reddi et al. 2021, "Adaptive Federated
/// Optimization"); the state is `Codable` so it survives a server restart.
public protocol ServerOptimizer: Sendable, Codable {
    /// `global` are the current parameters, `delta` the aggregated client delta
    /// (mean of `local − global`); returns the new parameters.
    mutating func step(round: Int, global: [Float], delta: [Float]) -> [Float]
}

/// x ← x + η·Δ. With η = 1 the new model is exactly the clients' (weighted) mean model.
public struct PlainServerStep: ServerOptimizer, Equatable {
    public var learningRate: Double

    public init(learningRate: Double = 1) {
        self.learningRate = learningRate
    }

    public mutating func step(round: Int, global: [Float], delta: [Float]) -> [Float] {
        let rate = Float(learningRate)
        return zip(global, delta).map { $0 + rate * $1 }
    }
}

/// FedAvgM (Hsu et al. 2019) with Flower's semantics: the pseudo-gradient is g = −Δ;
/// the momentum buffer starts as g on the first aggregated round and is then
/// m ← β·m + g; x ← x − η·m (PyTorch SGD convention, no Nesterov).
public struct ServerMomentum: ServerOptimizer, Equatable {
    public var learningRate: Double
    public var momentum: Double
    /// The momentum buffer; nil until the first round has been aggregated.
    public private(set) var buffer: [Float]?

    public init(learningRate: Double = 1, momentum: Double = 0.9) {
        self.learningRate = learningRate
        self.momentum = momentum
    }

    public mutating func step(round: Int, global: [Float], delta: [Float]) -> [Float] {
        let beta = Float(momentum)
        let next: [Float]
        if let buffer, buffer.count == delta.count {
            next = zip(buffer, delta).map { beta * $0 - $1 }
        } else {
            next = delta.map { -$0 }
        }
        buffer = next
        let rate = Float(learningRate)
        return zip(global, next).map { $0 - rate * $1 }
    }
}

/// FedAdam (Reddi et al. 2021) with Flower's semantics and parameter names:
/// m ← β₁·m + (1 − β₁)·Δ, v ← β₂·v + (1 − β₂)·Δ², both starting at 0;
/// η_t = η·√(1 − β₂^(t+1)) / (1 − β₁^(t+1)) with t the round number (Flower's bias
/// correction, which counts from round + 1); x ← x + η_t·m / (√v + τ).
/// The client learning rate `eta_l` is not a server quantity: it travels to kiosks as
/// `LocalTrainingConfiguration.learningRate`.
public struct ServerAdam: ServerOptimizer, Equatable {
    public var eta: Double
    public var beta1: Double
    public var beta2: Double
    public var tau: Double
    public private(set) var firstMoment: [Float]?
    public private(set) var secondMoment: [Float]?

    public init(eta: Double = 0.1, beta1: Double = 0.9, beta2: Double = 0.99, tau: Double = 1e-9) {
        self.eta = eta
        self.beta1 = beta1
        self.beta2 = beta2
        self.tau = tau
    }

    public mutating func step(round: Int, global: [Float], delta: [Float]) -> [Float] {
        let b1 = Float(beta1), b2 = Float(beta2)
        let previousM = firstMoment?.count == delta.count ? firstMoment ?? [] : [Float](repeating: 0, count: delta.count)
        let previousV = secondMoment?.count == delta.count ? secondMoment ?? [] : [Float](repeating: 0, count: delta.count)
        var m = [Float](repeating: 0, count: delta.count)
        var v = [Float](repeating: 0, count: delta.count)
        for index in delta.indices {
            m[index] = b1 * previousM[index] + (1 - b1) * delta[index]
            v[index] = b2 * previousV[index] + (1 - b2) * delta[index] * delta[index]
        }
        firstMoment = m
        secondMoment = v
        let exponent = Double(round) + 1
        let correctedRate = Float(eta * (1 - pow(beta2, exponent)).squareRoot() / (1 - pow(beta1, exponent)))
        let t = Float(tau)
        return (0..<delta.count).map { global[$0] + correctedRate * m[$0] / (v[$0].squareRoot() + t) }
    }
}
