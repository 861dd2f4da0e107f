/// The adjudicated truth of one comparison, as a kiosk reports it.
///
/// `genuine` means the face and the enrolled template belong to the same person,
/// `impostor` that they do not, and `unknown` that nobody settled it (the customer left,
/// the operator skipped the review). Unknown outcomes are counted so that reports can say
/// how many there were, but they never enter an error rate.
///
/// ```swift
/// let label = ScoreLabel(rawValue: "impostor")   // .impostor
/// ```
public enum ScoreLabel: String, Sendable, Hashable, Codable, CaseIterable {
    case genuine
    case impostor
    case unknown
}
