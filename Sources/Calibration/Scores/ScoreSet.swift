/// Raw scores split by label: the input of the exact (bob.measure-equivalent) functions.
///
/// Building a `ScoreSet` is where NaN is refused and `unknown` outcomes are counted and
/// set aside, so every function downstream can assume clean, finite-or-infinite scores.
///
/// ```swift
/// let set = try ScoreSet(outcomes: [(0.91, .genuine), (0.12, .impostor), (0.5, .unknown)])
/// set.unknownCount   // 1
/// ```
public struct ScoreSet: Sendable, Hashable, Codable {
    /// Scores of same-person comparisons (bob.measure's `positives`).
    public private(set) var genuine: [Double]
    /// Scores of different-person comparisons (bob.measure's `negatives`).
    public private(set) var impostor: [Double]
    /// How many outcomes were labelled `unknown` and left out of every rate.
    public private(set) var unknownCount: Int

    /// Creates a set from already separated scores; throws `.nanScore` on any NaN.
    public init(genuine: [Double], impostor: [Double], unknownCount: Int = 0) throws {
        guard !genuine.contains(where: \.isNaN), !impostor.contains(where: \.isNaN) else {
            throw CalibrationError.nanScore
        }
        guard unknownCount >= 0 else {
            throw CalibrationError.invalidParameter("unknownCount must be >= 0")
        }
        self.genuine = genuine
        self.impostor = impostor
        self.unknownCount = unknownCount
    }

    /// Creates a set from labelled outcomes; throws `.nanScore` on any NaN, whatever its label.
    public init(outcomes: some Sequence<(score: Double, label: ScoreLabel)>) throws {
        var genuine: [Double] = []
        var impostor: [Double] = []
        var unknown = 0
        for outcome in outcomes {
            guard !outcome.score.isNaN else { throw CalibrationError.nanScore }
            switch outcome.label {
            case .genuine: genuine.append(outcome.score)
            case .impostor: impostor.append(outcome.score)
            case .unknown: unknown += 1
            }
        }
        try self.init(genuine: genuine, impostor: impostor, unknownCount: unknown)
    }
}
