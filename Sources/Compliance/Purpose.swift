/// What personal data is processed for. Consent, retention and erasure are all per purpose,
/// never bundled.
public enum Purpose: String, Sendable, CaseIterable, Codable, Comparable {
    /// Match outcomes stored on the server and turned into threshold releases.
    case thresholdCalibration = "threshold-calibration"
    /// Labelled pairs a kiosk trains its federated update on (they never leave the kiosk).
    case modelImprovement = "model-improvement"
    /// Capture-quality figures for fleet health.
    case qualityMonitoring = "quality-monitoring"

    /// The purpose under which the server stores an uploaded match outcome.
    public static let outcomeStorage = Purpose.thresholdCalibration

    public static func < (lhs: Purpose, rhs: Purpose) -> Bool { lhs.rawValue < rhs.rawValue }
}
