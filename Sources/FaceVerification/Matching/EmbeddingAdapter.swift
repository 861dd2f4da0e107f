import FederationCore

/// The federated `Adapter` (y = W·x + b, W row-major) as the face pipeline applies it: to a
/// descriptor before it is normalised and compared. Identity by default. A wrong shape is
/// refused with a `FaceVerificationError`, like every other bad input to the pipeline.
///
/// ```swift
/// let adapter = try EmbeddingAdapter(weights: trainedWeights, bias: trainedBias)
/// let adapted = try adapter.apply(to: descriptor)
/// ```
public struct EmbeddingAdapter: Sendable, Equatable, Codable {
    public let adapter: Adapter

    public static let identity = EmbeddingAdapter(.identity(dimension: FaceDescriptorNetwork.descriptorLength))

    /// The adapter of a model release, which validated its shape when it was made or decoded.
    public init(_ adapter: Adapter) {
        self.adapter = adapter
    }

    public init(weights: [Float], bias: [Float]? = nil, dimension: Int = FaceDescriptorNetwork.descriptorLength) throws {
        self.init(try Self.validated { try Adapter(dimension: dimension, weights: weights, bias: bias) })
    }

    /// Decoding validates like `init(weights:bias:dimension:)`, so a malformed release cannot
    /// produce an adapter that would index out of range.
    public init(from decoder: any Decoder) throws {
        self.init(try Self.validated { try Adapter(from: decoder) })
    }

    public func encode(to encoder: any Encoder) throws {
        try adapter.encode(to: encoder)
    }

    /// `W·x + b`, not yet normalised.
    public func apply(to descriptor: [Float]) throws -> [Float] {
        guard descriptor.count == adapter.dimension else {
            throw FaceVerificationError.descriptorLengthMismatch(expected: adapter.dimension, actual: descriptor.count)
        }
        return try adapter.affine(descriptor)
    }

    private static func validated(_ make: () throws -> Adapter) throws -> Adapter {
        do {
            return try make()
        } catch let error as FederationError {
            throw FaceVerificationError.invalidAdapter(reason: error.description)
        }
    }
}
