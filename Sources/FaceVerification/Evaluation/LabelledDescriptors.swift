/// Descriptors with identity labels, and the genuine and impostor scores of all their pairs.
///
/// ```swift
/// let set = LabelledDescriptors(entries: [("alice", d1), ("alice", d2), ("bob", d3)])
/// let rates = try set.errorRates(metric: .cosineSimilarity)
/// ```
public struct LabelledDescriptors: Sendable {
    public var entries: [(identity: String, descriptor: [Float])]

    public init(entries: [(identity: String, descriptor: [Float])]) {
        self.entries = entries
    }

    /// Scores of every unordered pair, as similarities (distances are negated).
    public func pairScores(metric: ComparisonMetric, adapter: EmbeddingAdapter = .identity) throws -> (genuine: [Double], impostor: [Double]) {
        let adapted = try entries.map { (identity: $0.identity, descriptor: try adapter.apply(to: $0.descriptor)) }
        var genuine: [Double] = [], impostor: [Double] = []
        for first in adapted.indices {
            for second in adapted.index(after: first)..<adapted.endIndex {
                let score = try metric.score(adapted[first].descriptor, adapted[second].descriptor)
                let similarity = metric == .euclideanDistance ? -score : score
                if adapted[first].identity == adapted[second].identity {
                    genuine.append(similarity)
                } else {
                    impostor.append(similarity)
                }
            }
        }
        return (genuine, impostor)
    }

    public func errorRates(metric: ComparisonMetric, adapter: EmbeddingAdapter = .identity) throws -> VerificationErrorRates {
        let scores = try pairScores(metric: metric, adapter: adapter)
        return try VerificationErrorRates(genuine: scores.genuine, impostor: scores.impostor)
    }
}
