/// Why a calibration computation refused to give an answer.
///
/// Every case carries what the reader needs to act on it: the offending value, or the
/// number of samples that are still missing. Calibration never guesses when it throws.
public enum CalibrationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A score was NaN; NaN has no place in an ordering, so no rate can be computed.
    case nanScore
    /// An infinite score offered to statistics, which persist scores as JSON numbers; a
    /// similarity score from a kiosk is always finite.
    case nonFiniteScore(Double)
    /// A target rate was outside [0, 1] (or NaN).
    case targetOutOfRange(Double)
    /// Fewer impostor scores than the computation needs (bob.measure asks for at least 2).
    case tooFewImpostors(count: Int, required: Int)
    /// Fewer genuine scores than the computation needs.
    case tooFewGenuine(count: Int, required: Int)
    /// Too few impostors to claim the target FMR at the requested confidence, whatever
    /// the threshold: even zero false matches would leave the upper bound above target.
    case insufficientImpostorsForConfidence(have: Int, required: Int, targetFMR: Double, confidence: Double)
    /// Removing outcomes that were never added (a count would go below zero, or an exact
    /// tail score is not present).
    case removalOfAbsentScore(Double)
    /// Removing more `unknown` outcomes than were added.
    case removalOfAbsentUnknownOutcomes(have: Int, removing: Int)
    /// Two statistics built on different grids or tail floors cannot be merged.
    case incompatibleStatistics
    /// A parameter outside its documented domain (the name says which).
    case invalidParameter(String)
    /// Fewer subjects than a subject-level bound needs (attempts of one subject are
    /// correlated, so many attempts by a few subjects do not make up for them).
    case tooFewSubjects(count: Int, required: Int)

    public var description: String {
        switch self {
        case .nanScore:
            return "a score is NaN; fix the scorer or drop the outcome"
        case .nonFiniteScore(let score):
            return "score \(score) is not finite; statistics take finite scores only"
        case .targetOutOfRange(let target):
            return "target rate \(target) is outside [0, 1]"
        case .tooFewImpostors(let count, let required):
            return "\(count) impostor score(s); at least \(required) needed"
        case .tooFewGenuine(let count, let required):
            return "\(count) genuine score(s); at least \(required) needed"
        case .insufficientImpostorsForConfidence(let have, let required, let target, let confidence):
            return "\(have) impostor comparisons cannot show FMR <= \(target) at \(confidence * 100)% confidence; "
                + "\(required) are needed (\(required - have) more)"
        case .removalOfAbsentScore(let score):
            return "cannot remove score \(score): it was never added"
        case .removalOfAbsentUnknownOutcomes(let have, let removing):
            return "cannot remove \(removing) unknown outcome(s): only \(have) were added"
        case .incompatibleStatistics:
            return "statistics use different grids or tail floors and cannot be combined"
        case .invalidParameter(let what):
            return "invalid parameter: \(what)"
        case .tooFewSubjects(let count, let required):
            return "\(count) subject(s) with impostor attempts; at least \(required) needed for a subject-level bound"
        }
    }
}
