import FederationCore
/// What a kiosk uploads after local training: the parameter difference
/// `local − global` (layout of `Adapter.parameters`: `W` row-major, then the bias), and how
/// many labelled pairs produced it. Never descriptors, never images.
///
/// ```swift
/// let update = try ModelUpdate(local: trained, global: global, exampleCount: 240)
///     .clipped(toNorm: 1.0)
/// ```
public struct ModelUpdate: Sendable, Codable, Equatable {
    public var values: [Float]
    public var exampleCount: Int

    public init(values: [Float], exampleCount: Int) {
        self.values = values
        self.exampleCount = exampleCount
    }

    /// `local.parameters − global.parameters`.
    public init(local: Adapter, global: Adapter, exampleCount: Int) throws {
        guard local.parameterCount == global.parameterCount, local.dimension == global.dimension else {
            throw FederationError.dimensionMismatch(what: "local adapter", expected: global.parameterCount, actual: local.parameterCount)
        }
        let localValues = local.parameters, globalValues = global.parameters
        self.init(values: zip(localValues, globalValues).map { $0 - $1 }, exampleCount: exampleCount)
    }

    /// The L2 norm over all values (weights and bias together), accumulated in Double.
    public var norm: Double {
        l2Norm(values)
    }

    /// The update scaled down, if needed, so its L2 norm is at most `bound`: the
    /// sensitivity bound that DP-FedAvg's noise is calibrated to. Weights and bias are
    /// clipped together as one vector, so the bound holds for the whole upload.
    public func clipped(toNorm bound: Double) throws -> ModelUpdate {
        guard bound.isFinite, bound > 0 else {
            throw FederationError.invalidParameter(name: "clipping norm", value: bound, requirement: "must be positive and finite")
        }
        let factor = clippingFactor(norm: norm, bound: bound)
        guard factor < 1 else { return self }
        return ModelUpdate(values: values.map { Float(Double($0) * factor) }, exampleCount: exampleCount)
    }
}

/// min(1, bound / norm): the factor that brings a vector of this norm within the bound.
func clippingFactor(norm: Double, bound: Double) -> Double {
    norm > bound ? bound / norm : 1
}

/// Euclidean norm accumulated in Double, so large float vectors do not lose precision.
func l2Norm(_ values: [Float]) -> Double {
    var sum = 0.0
    for value in values { sum += Double(value) * Double(value) }
    return sum.squareRoot()
}
