/// The federated part of the face model: an affine map applied to the backbone's
/// descriptor before L2 normalisation, `y = normalize(W x + b)`.
///
/// `W` starts at the identity (and `b` at zero), so a fresh adapter leaves the backbone's
/// behaviour unchanged. Kiosks train it on their own labelled pairs; the server aggregates
/// the differences; the kiosk's face pipeline applies the released one (FaceVerification's
/// `EmbeddingAdapter`). It lives apart from the training stack so that the pipeline can
/// apply it without linking training, aggregation and accounting.
///
/// Stored as a flat, row-major `Float` array so that it is `Codable` as plain JSON numbers
/// and can be handed to BLAS without copying: `weights[row * dimension + column] == W[row][column]`.
///
/// ```swift
/// let adapter = Adapter.identity(dimension: 128, withBias: true)
/// let adapted = try adapter.transform(descriptor)   // unit length
/// ```
public struct Adapter: Codable, Sendable, Equatable {
    /// The descriptor length of dlib's face-recognition network.
    public static let faceDescriptorDimension = 128
    /// Far above any face descriptor, and low enough that `dimension²` weights are a size
    /// that can be counted and allocated: a decoded release cannot ask for more.
    public static let maximumDimension = 4096

    /// Length of the descriptor going in and coming out.
    public let dimension: Int
    /// `W`, row-major, `dimension × dimension` values.
    public private(set) var weights: [Float]
    /// `b`, `dimension` values, or `nil` for a purely linear adapter.
    public private(set) var bias: [Float]?

    /// Validates the shapes; an adapter with mismatched arrays cannot exist.
    public init(dimension: Int, weights: [Float], bias: [Float]?) throws {
        guard (1...Self.maximumDimension).contains(dimension) else {
            throw FederationError.invalidParameter(
                name: "dimension", value: Double(dimension), requirement: "must be 1…\(Self.maximumDimension)")
        }
        guard weights.count == dimension * dimension else {
            throw FederationError.dimensionMismatch(
                what: "adapter weights", expected: dimension * dimension, actual: weights.count)
        }
        if let bias, bias.count != dimension {
            throw FederationError.dimensionMismatch(what: "adapter bias", expected: dimension, actual: bias.count)
        }
        guard weights.allSatisfy(\.isFinite), bias?.allSatisfy(\.isFinite) ?? true else {
            throw FederationError.nonFiniteValue(what: "adapter")
        }
        self.dimension = dimension
        self.weights = weights
        self.bias = bias
    }

    /// `W = I`, `b = 0`: the adapter that changes nothing.
    public static func identity(dimension: Int = faceDescriptorDimension, withBias: Bool = false) -> Adapter {
        var weights = [Float](repeating: 0, count: dimension * dimension)
        for index in 0..<dimension {
            weights[index * dimension + index] = 1
        }
        // The shapes are right by construction.
        return Adapter(validatedDimension: dimension, weights: weights, bias: withBias ? [Float](repeating: 0, count: dimension) : nil)
    }

    private init(validatedDimension: Int, weights: [Float], bias: [Float]?) {
        self.dimension = validatedDimension
        self.weights = weights
        self.bias = bias
    }

    private enum CodingKeys: String, CodingKey {
        case dimension, weights, bias
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            dimension: container.decode(Int.self, forKey: .dimension),
            weights: container.decode([Float].self, forKey: .weights),
            bias: container.decodeIfPresent([Float].self, forKey: .bias))
    }

    /// All trainable values as one vector: `W` row-major, then `b` when present. This is the
    /// vector that updates, clipping and aggregation work on.
    public var parameters: [Float] {
        weights + (bias ?? [])
    }

    /// Number of values in `parameters`.
    public var parameterCount: Int {
        dimension * dimension + (bias == nil ? 0 : dimension)
    }

    /// The adapter whose parameters are these ones plus `delta` (same layout as `parameters`).
    public func applying(delta: [Float]) throws -> Adapter {
        guard delta.count == parameterCount else {
            throw FederationError.dimensionMismatch(what: "update", expected: parameterCount, actual: delta.count)
        }
        let weightCount = dimension * dimension
        var weights = self.weights
        for index in 0..<weightCount {
            weights[index] += delta[index]
        }
        let bias = self.bias.map { bias in
            (0..<dimension).map { bias[$0] + delta[weightCount + $0] }
        }
        return try Adapter(dimension: dimension, weights: weights, bias: bias)
    }

    /// The adapter with these parameters (layout as `parameters`), keeping this one's shape.
    public func replacingParameters(with parameters: [Float]) throws -> Adapter {
        guard parameters.count == parameterCount else {
            throw FederationError.dimensionMismatch(what: "parameters", expected: parameterCount, actual: parameters.count)
        }
        let weightCount = dimension * dimension
        return try Adapter(
            dimension: dimension,
            weights: Array(parameters[0..<weightCount]),
            bias: bias == nil ? nil : Array(parameters[weightCount...]))
    }

    /// `W x + b`, before normalisation.
    public func affine(_ descriptor: [Float]) throws -> [Float] {
        guard descriptor.count == dimension else {
            throw FederationError.dimensionMismatch(what: "descriptor", expected: dimension, actual: descriptor.count)
        }
        var output = bias ?? [Float](repeating: 0, count: dimension)
        weights.withUnsafeBufferPointer { w in
            for row in 0..<dimension {
                var sum: Float = 0
                let base = row * dimension
                for column in 0..<dimension {
                    sum += w[base + column] * descriptor[column]
                }
                output[row] += sum
            }
        }
        return output
    }

    /// The adapted descriptor, `normalize(W x + b)`, the vector the face matcher compares.
    /// A zero vector stays zero (there is no direction to keep).
    public func transform(_ descriptor: [Float]) throws -> [Float] {
        let output = try affine(descriptor)
        let norm = output.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return output }
        return output.map { $0 / norm }
    }
}
