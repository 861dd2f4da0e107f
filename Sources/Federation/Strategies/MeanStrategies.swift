import FederationCore
/// FedAvg (McMahan et al. 2017): the next model is the example-weighted mean of the
/// clients' models, i.e. global + weighted mean of their deltas (Flower's `aggregate`),
/// followed by a plain server step (η = 1 by default). Not robust: one client can move
/// the mean arbitrarily far; use it with norm bounding or DP clipping.
///
/// ```swift
/// var strategy = FedAvg()
/// let outcome = try strategy.aggregate(round: 1, global: global.parameters, updates: matrix)
/// ```
public struct FedAvg: AggregationStrategy, Codable, Equatable {
    public var serverStep: PlainServerStep
    public var name: String { "fedavg" }

    public init(serverStep: PlainServerStep = PlainServerStep()) {
        self.serverStep = serverStep
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        return AggregationOutcome(parameters: serverStep.step(round: round, global: global, delta: weightedMean(of: updates)),
                                  accepted: updates.clientIDs)
    }
}

/// FedAvgM: FedAvg's weighted mean delta fed to server momentum (`ServerMomentum`,
/// Flower's `FedAvg(server_momentum:)` semantics).
public struct FedAvgM: AggregationStrategy, Codable, Equatable {
    public var optimizer: ServerMomentum
    public var name: String { "fedavgm" }

    public init(optimizer: ServerMomentum = ServerMomentum()) {
        self.optimizer = optimizer
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        return AggregationOutcome(parameters: optimizer.step(round: round, global: global, delta: weightedMean(of: updates)),
                                  accepted: updates.clientIDs)
    }
}

/// FedAdam: FedAvg's weighted mean delta fed to server-side Adam (`ServerAdam`, Flower's
/// `FedAdam` semantics: η, β₁, β₂, τ on the server; η_l is the kiosks' learning rate).
public struct FedAdam: AggregationStrategy, Codable, Equatable {
    public var optimizer: ServerAdam
    public var name: String { "fedadam" }

    public init(optimizer: ServerAdam = ServerAdam()) {
        self.optimizer = optimizer
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        return AggregationOutcome(parameters: optimizer.step(round: round, global: global, delta: weightedMean(of: updates)),
                                  accepted: updates.clientIDs)
    }
}

/// The global parameters and the updates must have the same length.
func checkShape(global: [Float], updates: UpdateMatrix) throws {
    guard global.count == updates.columnCount else {
        throw FederationError.dimensionMismatch(what: "client updates", expected: global.count, actual: updates.columnCount)
    }
}
