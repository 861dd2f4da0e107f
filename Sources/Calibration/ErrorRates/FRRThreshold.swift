extension ErrorRates {
    /// The highest threshold whose FNMR is at most `target` (bob.measure `frr_threshold`).
    ///
    /// The mirror image of `farThreshold`, walking genuine tie groups from the lowest score
    /// up, with bob's conservative quirk kept: the FNMR tested at a group is
    /// `index_of_last_tie_member / N`, which counts the group's other members as rejected
    /// although `score >= t` accepts them. The walk starts from `nextafter(min, min + 1)`.
    /// A target `>= 1 - eps` gives `nextafter(max, max + 1)`.
    ///
    /// - Throws: `.targetOutOfRange` outside [0, 1] (NaN included), `.tooFewGenuine`
    ///   with fewer than 2 genuine scores.
    public static func frrThreshold(genuine: SortedScores, target: Double) throws -> Double {
        try checkTarget(target)
        guard genuine.count >= 2 else {
            throw CalibrationError.tooFewGenuine(count: genuine.count, required: 2)
        }
        let values = genuine.values
        let total = values.count
        if target >= oneMinusEpsilon {
            return numpyNextAfter(values[total - 1], towards: values[total - 1] + 1)
        }
        var valid = numpyNextAfter(values[0], towards: values[0] + 1)
        var position = 0
        while position < total {
            let current = values[position]
            while position < total - 1 && values[position + 1] == current { position += 1 }
            if Double(position) / Double(total) > target { break }
            valid = current
            position += 1
        }
        return valid
    }

    /// `frrThreshold` on unsorted scores (sorts a copy).
    public static func frrThreshold(genuine: [Double], target: Double) throws -> Double {
        try frrThreshold(genuine: SortedScores(genuine), target: target)
    }
}
