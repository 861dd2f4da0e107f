/// Compares a probe descriptor with an enrolled or reference descriptor and decides,
/// under a threshold, whether they show the same person. Both descriptors go through the
/// adapter first, so enrolled templates stay raw dlib descriptors and a new adapter release
/// applies without re-enrolment.
///
/// ```swift
/// let verifier = FaceVerifier(metric: .cosineSimilarity, threshold: 0.925)
/// let result = try verifier.verify(reference: enrolled, probe: probeFace.descriptor, probeQuality: probeFace.quality)
/// if result.decision == .match { openGate() }
/// ```
public struct FaceVerifier: Sendable {
    /// Version string of the backbone without an adapter.
    public static let baseModelVersion = "dlib_face_recognition_resnet_model_v1"

    public var adapter: EmbeddingAdapter
    public var metric: ComparisonMetric
    public var threshold: Double
    /// Names the backbone and adapter release that produced the score, for the outcome record.
    public var modelVersion: String

    public init(
        metric: ComparisonMetric = .cosineSimilarity, threshold: Double? = nil,
        adapter: EmbeddingAdapter = .identity, modelVersion: String = FaceVerifier.baseModelVersion
    ) {
        self.metric = metric
        self.threshold = threshold ?? metric.defaultThreshold
        self.adapter = adapter
        self.modelVersion = modelVersion
    }

    public func verify(reference: [Float], probe: [Float], probeQuality: CaptureQuality?) throws -> VerificationResult {
        let score = try metric.score(adapter.apply(to: reference), adapter.apply(to: probe))
        return VerificationResult(
            score: score, metric: metric, threshold: threshold,
            decision: metric.isMatch(score: score, threshold: threshold) ? .match : .nonMatch,
            probeQuality: probeQuality, modelVersion: modelVersion
        )
    }
}

/// The outcome of one comparison: what an outcome record needs (score, decision, threshold,
/// capture quality, model version) and nothing that identifies the face.
public struct VerificationResult: Sendable, Equatable, Codable {
    public enum Decision: String, Sendable, Codable {
        case match
        case nonMatch = "non-match"
    }

    public var score: Double
    public var metric: ComparisonMetric
    public var threshold: Double
    public var decision: Decision
    public var probeQuality: CaptureQuality?
    public var modelVersion: String

    public init(score: Double, metric: ComparisonMetric, threshold: Double, decision: Decision,
                probeQuality: CaptureQuality?, modelVersion: String) {
        self.score = score
        self.metric = metric
        self.threshold = threshold
        self.decision = decision
        self.probeQuality = probeQuality
        self.modelVersion = modelVersion
    }
}
