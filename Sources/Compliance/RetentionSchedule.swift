import Foundation

/// When stored personal data must go. Retention is per purpose and jurisdiction; where the
/// Illinois Biometric Information Privacy Act applies (BIPA 15(a)), biometric data must also
/// be destroyed at the latest three years after the subject's last interaction.
public enum RetentionSchedule {
    public static let day: TimeInterval = 86_400
    /// BIPA's outer limit after the last interaction, counted generously as 3 × 365 days.
    public static let bipaLastInteractionLimit: TimeInterval = 3 * 365 * day

    /// Records attempted before the returned moment are due for deletion at `now`.
    public static func deletionCutoff(now: Date, retentionDays: Int, biometricLaw: String?) -> Date {
        var keep = TimeInterval(retentionDays) * day
        if let limit = lastInteractionLimit(biometricLaw: biometricLaw) { keep = min(keep, limit) }
        return now.addingTimeInterval(-keep)
    }

    /// The longest a subject's data may outlive their last interaction, if a law sets one.
    public static func lastInteractionLimit(biometricLaw: String?) -> TimeInterval? {
        biometricLaw == "bipa" ? bipaLastInteractionLimit : nil
    }

    /// The date a data-subject request must be answered by (GDPR art. 12(3): one month,
    /// configured per jurisdiction in days).
    public static func requestDue(receivedAt: Date, requestDays: Int) -> Date {
        receivedAt.addingTimeInterval(TimeInterval(requestDays) * day)
    }
}

/// How long one jurisdiction keeps the data of one purpose.
public struct RetentionRule: Sendable, Equatable, Codable {
    /// Days per purpose that a jurisdiction starts with.
    public static let defaults: [(Purpose, Int)] = [(.thresholdCalibration, 365), (.modelImprovement, 365), (.qualityMonitoring, 90)]

    public var jurisdiction: String
    public var purpose: Purpose
    public var days: Int

    public init(jurisdiction: String, purpose: Purpose, days: Int) {
        self.jurisdiction = jurisdiction
        self.purpose = purpose
        self.days = days
    }
}
