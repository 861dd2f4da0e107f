/// A linear map applied to a face descriptor before it is normalised and compared:
/// y = W·x + b, with W 128×128 (row-major) and an optional bias. Identity by default.
///
/// Federated training (the federation module) produces W and b; the kiosk only applies them.
///
/// ```swift
/// let adapter = try EmbeddingAdapter(weights: trainedWeights, bias: trainedBias)
/// let adapted = adapter.apply(to: descriptor)
/// ```
public struct EmbeddingAdapter: Sendable, Equatable, Codable {
    public let dimension: Int
    /// Row-major dimension×dimension matrix.
    public let weights: [Float]
    public let bias: [Float]?

    public static let identity = EmbeddingAdapter(identityOfDimension: FaceDescriptorNetwork.descriptorLength)

    public init(identityOfDimension dimension: Int) {
        self.dimension = dimension
        var weights = [Float](repeating: 0, count: dimension * dimension)
        for index in 0..<dimension { weights[index * dimension + index] = 1 }
        self.weights = weights
        bias = nil
    }

    public init(weights: [Float], bias: [Float]? = nil, dimension: Int = FaceDescriptorNetwork.descriptorLength) throws {
        guard (1...4096).contains(dimension) else {
            throw FaceVerificationError.invalidAdapter(reason: "dimension \(dimension)")
        }
        guard weights.count == dimension * dimension else {
            throw FaceVerificationError.invalidAdapter(reason: "\(weights.count) weights for a \(dimension)×\(dimension) matrix")
        }
        if let bias, bias.count != dimension {
            throw FaceVerificationError.invalidAdapter(reason: "bias has \(bias.count) values, expected \(dimension)")
        }
        guard weights.allSatisfy(\.isFinite), bias?.allSatisfy(\.isFinite) ?? true else {
            throw FaceVerificationError.invalidAdapter(reason: "weights or bias are not all finite")
        }
        self.dimension = dimension
        self.weights = weights
        self.bias = bias
    }

    private enum CodingKeys: String, CodingKey {
        case dimension, weights, bias
    }

    /// Decoding validates like `init(weights:bias:dimension:)`, so a malformed release cannot
    /// produce an adapter that would index out of range.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            weights: try container.decode([Float].self, forKey: .weights),
            bias: try container.decodeIfPresent([Float].self, forKey: .bias),
            dimension: try container.decode(Int.self, forKey: .dimension)
        )
    }

    public func apply(to descriptor: [Float]) throws -> [Float] {
        guard descriptor.count == dimension else {
            throw FaceVerificationError.descriptorLengthMismatch(expected: dimension, actual: descriptor.count)
        }
        var output = bias ?? [Float](repeating: 0, count: dimension)
        for row in 0..<dimension {
            var sum: Float = 0
            for column in 0..<dimension { sum += weights[row * dimension + column] * descriptor[column] }
            output[row] += sum
        }
        return output
    }
}
