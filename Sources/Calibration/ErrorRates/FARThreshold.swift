extension ErrorRates {
    /// The lowest threshold whose FMR is at most `target` (bob.measure `far_threshold`).
    ///
    /// Impostor tie groups are walked from the highest score down and never split; the test
    /// at each group is the float64 `count_at_or_above / N <= target`. The answer is the
    /// score of the last group that passed, or `nextafter(max, max + 1)` (FMR 0) when the
    /// top group already fails. A target `>= 1 - eps` gives `nextafter(min, min - 1)`.
    ///
    /// - Throws: `.targetOutOfRange` outside [0, 1] (NaN included), `.tooFewImpostors`
    ///   with fewer than 2 impostors.
    public static func farThreshold(impostors: SortedScores, target: Double) throws -> Double {
        try checkTarget(target)
        guard impostors.count >= 2 else {
            throw CalibrationError.tooFewImpostors(count: impostors.count, required: 2)
        }
        let values = impostors.values
        if target >= oneMinusEpsilon {
            return numpyNextAfter(values[0], towards: values[0] - 1)
        }
        let total = Double(values.count)
        return walkDown(impostors.descendingTieGroups) { Double($0) / total <= target }.threshold
    }

    /// `farThreshold` on unsorted scores; sorts only the top scores the walk can reach
    /// (see `farThresholds(impostors:targets:)`).
    public static func farThreshold(impostors: [Double], target: Double) throws -> Double {
        let thresholds = try farThresholds(impostors: impostors, targets: [target])
        guard let threshold = thresholds.first else { throw CalibrationError.targetOutOfRange(target) }
        return threshold
    }

    /// Where a walk down the tie groups stopped.
    struct WalkResult: Equatable {
        /// Score of the last group that passed, or `nextafter` above the first group.
        var threshold: Double
        /// Comparisons at or above `threshold`.
        var countAtOrAbove: Int
        /// True when a group failed the test; false when every group passed.
        var stopped: Bool
    }

    /// Walks tie groups from the top, keeping the last one whose cumulative count passes.
    static func walkDown(_ groups: some Sequence<TieGroup>, passes: (Int) -> Bool) -> WalkResult {
        var iterator = groups.makeIterator()
        guard let first = iterator.next() else {
            return WalkResult(threshold: .infinity, countAtOrAbove: 0, stopped: false)
        }
        var result = WalkResult(
            threshold: numpyNextAfter(first.score, towards: first.score + 1),
            countAtOrAbove: 0,
            stopped: false
        )
        var cumulative = 0
        var group: TieGroup? = first
        while let current = group {
            cumulative += current.count
            guard passes(cumulative) else {
                result.stopped = true
                return result
            }
            result.threshold = current.score
            result.countAtOrAbove = cumulative
            group = iterator.next()
        }
        return result
    }
}
