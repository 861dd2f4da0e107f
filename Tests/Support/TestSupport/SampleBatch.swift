import FeedbackWire
import Foundation

/// Outcomes and batches that the published schema accepts, for tests that need some: every
/// field holds a plausible kiosk value, and a test names the fields its assertions are about.
public enum SampleBatch {
    /// When `outcome(0)` was attempted; `outcome(n)` a second later per `n`.
    public static let attemptedAt = Date(timeIntervalSince1970: 1_790_000_000)

    public static func outcome(
        _ index: Int = 0, label: MatchOutcome.Label = .genuine, score: Double = 0.8125, decision: MatchOutcome.Decision = .accept,
        attemptedAt: Date? = nil, modelVersion: String = "dlib-resnet-v1", thresholdVersion: String = "t-0001",
        cohort: MatchOutcome.Cohort = .init(site: "branch-042", cameraModel: "cam-x1", tags: ["lobby"]),
        subject: MatchOutcome.SubjectReference = .init(pseudonym: String(repeating: "ab", count: 32), consentRef: "consent-7")
    ) -> MatchOutcome {
        MatchOutcome(
            eventID: UUID(), attemptedAt: attemptedAt ?? Self.attemptedAt.addingTimeInterval(Double(index)),
            modelVersion: modelVersion, thresholdVersion: thresholdVersion, cohort: cohort,
            score: score, decision: decision, label: label, labelSource: .fallbackIDCheck,
            quality: .init(faceSizePx: 180, sharpness: 143.5, brightness: 0.52), livenessScore: 0.97, subject: subject)
    }

    /// Kiosk 001's first batch: `count` outcomes, no consent events.
    public static func batch(count: Int = 2) -> OutcomeBatch {
        OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: attemptedAt.addingTimeInterval(100),
                     outcomes: (0..<count).map { outcome($0) })
    }
}
