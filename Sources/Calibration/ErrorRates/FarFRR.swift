/// False match and false non-match rates at one threshold.
public struct ErrorRatePair: Sendable, Hashable, Codable {
    /// FMR: impostors accepted (`score >= threshold`) over all impostors.
    public var falseMatchRate: Double
    /// FNMR: genuine comparisons rejected (`score < threshold`) over all genuine ones.
    public var falseNonMatchRate: Double

    public init(falseMatchRate: Double, falseNonMatchRate: Double) {
        self.falseMatchRate = falseMatchRate
        self.falseNonMatchRate = falseNonMatchRate
    }
}

extension ErrorRates {
    /// FMR and FNMR at `threshold` (bob.measure `farfrr`): impostors on the threshold count
    /// as false matches, genuine scores on it as correctly accepted.
    ///
    /// - Throws: `.nanScore` for a NaN threshold (bob prints and returns (1, 1));
    ///   `.tooFewImpostors` / `.tooFewGenuine` when a side is empty.
    public static func farFRR(impostors: SortedScores, genuine: SortedScores, threshold: Double) throws -> ErrorRatePair {
        guard !threshold.isNaN else { throw CalibrationError.nanScore }
        guard !impostors.isEmpty else { throw CalibrationError.tooFewImpostors(count: 0, required: 1) }
        guard !genuine.isEmpty else { throw CalibrationError.tooFewGenuine(count: 0, required: 1) }
        return ErrorRatePair(
            falseMatchRate: Double(impostors.count(atLeast: threshold)) / Double(impostors.count),
            falseNonMatchRate: Double(genuine.count(below: threshold)) / Double(genuine.count)
        )
    }
}
