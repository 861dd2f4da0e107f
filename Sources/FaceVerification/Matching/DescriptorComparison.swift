/// How two face descriptors are compared, and which way the score points.
///
/// ```swift
/// let score = try ComparisonMetric.cosineSimilarity.score(a, b)
/// let match = ComparisonMetric.cosineSimilarity.isMatch(score: score, threshold: 0.93)
/// ```
public enum ComparisonMetric: String, Sendable, Codable, CaseIterable {
    /// Cosine of the angle between the (adapted) descriptors, −1…1; higher means more alike.
    case cosineSimilarity = "cosine-similarity"
    /// Euclidean distance between the (adapted) descriptors; lower means more alike. dlib's
    /// customary same-person threshold is 0.6.
    case euclideanDistance = "euclidean-distance"

    public var defaultThreshold: Double {
        switch self {
        case .cosineSimilarity: return 0.925
        case .euclideanDistance: return 0.6
        }
    }

    public func score(_ a: [Float], _ b: [Float]) throws -> Double {
        guard a.count == b.count else {
            throw FaceVerificationError.descriptorLengthMismatch(expected: a.count, actual: b.count)
        }
        switch self {
        case .cosineSimilarity: return FaceVerification.cosineSimilarity(a, b)
        case .euclideanDistance: return FaceVerification.euclideanDistance(a, b)
        }
    }

    /// A match is a score at or beyond the threshold in the metric's direction.
    public func isMatch(score: Double, threshold: Double) -> Bool {
        switch self {
        case .cosineSimilarity: return score >= threshold
        case .euclideanDistance: return score <= threshold
        }
    }
}

/// Cosine similarity in double precision; 0 if either vector is zero.
public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, normA = 0.0, normB = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        normA += Double(x) * Double(x)
        normB += Double(y) * Double(y)
    }
    guard normA > 0, normB > 0 else { return 0 }
    return dot / (normA.squareRoot() * normB.squareRoot())
}

/// Euclidean distance in double precision.
public func euclideanDistance(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { sum, pair in
        let difference = Double(pair.0) - Double(pair.1)
        return sum + difference * difference
    }.squareRoot()
}
