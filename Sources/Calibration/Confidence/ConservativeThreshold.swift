extension ClopperPearson {
    /// The lowest threshold on raw impostor scores whose upper bound on FMR is <= target
    /// (whole tie groups only; `nextafter` above the top score when even one group is too many).
    ///
    /// - Throws: `.insufficientImpostorsForConfidence` with the number needed when no
    ///   threshold can qualify; `.targetOutOfRange` unless 0 < target < 1.
    public func conservativeThreshold(impostors: SortedScores, targetFMR: Double) throws -> ThresholdEstimate {
        guard let allowed = try largestFalseMatchCount(comparisons: impostors.count, targetFMR: targetFMR) else {
            throw CalibrationError.insufficientImpostorsForConfidence(
                have: impostors.count,
                required: max(try impostorsNeeded(targetFMR: targetFMR), impostors.count + 1),
                targetFMR: targetFMR,
                confidence: confidence
            )
        }
        let walk = ErrorRates.walkDown(impostors.descendingTieGroups) { $0 <= allowed }
        return ThresholdEstimate(
            threshold: walk.threshold, falseMatches: walk.countAtOrAbove,
            impostorCount: impostors.count, precision: .exact)
    }
}
