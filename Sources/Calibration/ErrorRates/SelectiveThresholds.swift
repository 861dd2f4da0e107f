extension ErrorRates {
    /// `farThreshold` at several targets on unsorted impostor scores, sorting only the top
    /// buckets that the walk can reach: the answers are identical to sorting everything.
    ///
    /// A walk from the top stops at the first tie group whose cumulative FMR exceeds the
    /// target; the buckets from the top down to the first one whose cumulative count already
    /// exceeds the loosest target contain that group, and equal scores share a bucket.
    ///
    /// ```swift
    /// let thresholds = try ErrorRates.farThresholds(impostors: scores, targets: [1e-2, 1e-3, 1e-4])
    /// ```
    /// - Throws: as `farThreshold`, plus `.nanScore` for a NaN score.
    public static func farThresholds(impostors: [Double], targets: [Double]) throws -> [Double] {
        for target in targets { try checkTarget(target) }
        guard !impostors.contains(where: \.isNaN) else { throw CalibrationError.nanScore }
        guard impostors.count >= 2 else {
            throw CalibrationError.tooFewImpostors(count: impostors.count, required: 2)
        }
        let walked = targets.filter { $0 < oneMinusEpsilon }
        let total = Double(impostors.count)
        var top: SortedScores?
        if let loosest = walked.max() {
            let buckets = ScoreBuckets(impostors)
            var cumulative = 0
            var lowest = 0
            for bucket in stride(from: ScoreBuckets.count - 1, through: 0, by: -1) {
                cumulative += buckets.counts[bucket]
                if Double(cumulative) / total > loosest {
                    lowest = bucket
                    break
                }
            }
            top = try SortedScores(alreadySorted: ScoreBuckets.sortedScores(impostors, inBuckets: lowest...(ScoreBuckets.count - 1)))
        }
        let minimum = walked.count < targets.count ? impostors.min() : nil
        return targets.map { target in
            guard target < oneMinusEpsilon, let top else {
                let lowest = minimum ?? 0
                return numpyNextAfter(lowest, towards: lowest - 1)
            }
            return walkDown(top.descendingTieGroups) { Double($0) / total <= target }.threshold
        }
    }

    /// `eerThreshold` on unsorted scores, sorting only the buckets around the crossing of
    /// FMR and FNMR when it can; identical to the sorted version.
    ///
    /// |FMR − FNMR| falls strictly until the rates cross and rises after, so bob's minimum is
    /// next to the crossing. The rates are rebuilt by bob's own repeated `-= 1/N`, `+= 1/P`
    /// up to the window, then scanned exactly inside it. When the crossing is not strictly
    /// inside the window (tiny or degenerate sets, one side exhausted), everything is sorted.
    ///
    /// - Throws: `.nanScore`; `.tooFewImpostors` / `.tooFewGenuine` when a side is empty.
    public static func eerThreshold(impostors: [Double], genuine: [Double]) throws -> Double {
        guard !impostors.contains(where: \.isNaN), !genuine.contains(where: \.isNaN) else {
            throw CalibrationError.nanScore
        }
        guard !impostors.isEmpty else { throw CalibrationError.tooFewImpostors(count: 0, required: 1) }
        guard !genuine.isEmpty else { throw CalibrationError.tooFewGenuine(count: 0, required: 1) }
        if let threshold = EqualErrorWindow(impostors: impostors, genuine: genuine)?.threshold() {
            return threshold
        }
        return try eerThreshold(impostors: SortedScores(impostors), genuine: SortedScores(genuine))
    }
}

/// The few buckets around the FMR/FNMR crossing, with everything bob's scan needs to enter
/// them mid-way: the rates as bob's repeated updates leave them and the last score below.
struct EqualErrorWindow {
    let impostors: [Double]
    let genuine: [Double]
    let buckets: ClosedRange<Int>
    let impostorsBelow: Int
    let genuineBelow: Int

    /// Nil when the window would not have both kinds of score above it.
    init?(impostors: [Double], genuine: [Double]) {
        let impostorBuckets = ScoreBuckets(impostors).counts
        let genuineBuckets = ScoreBuckets(genuine).counts
        let impostorTotal = Double(impostors.count)
        let genuineTotal = Double(genuine.count)
        // Approximate crossing: the last bucket at whose start FMR - FNMR is still > 0.
        var crossing = 0
        var impostorsBefore = 0
        var genuineBefore = 0
        for bucket in 0..<ScoreBuckets.count {
            let difference = (1 - Double(impostorsBefore) / impostorTotal) - Double(genuineBefore) / genuineTotal
            if difference <= 0 { break }
            crossing = bucket
            impostorsBefore += impostorBuckets[bucket]
            genuineBefore += genuineBuckets[bucket]
        }
        let window = max(crossing - 1, 0)...min(crossing + 1, ScoreBuckets.count - 1)
        let impostorsAbove = impostorBuckets[(window.upperBound + 1)...].reduce(0, +)
        let genuineAbove = genuineBuckets[(window.upperBound + 1)...].reduce(0, +)
        guard impostorsAbove > 0, genuineAbove > 0 else { return nil }
        self.impostors = impostors
        self.genuine = genuine
        buckets = window
        impostorsBelow = impostorBuckets[..<window.lowerBound].reduce(0, +)
        genuineBelow = genuineBuckets[..<window.lowerBound].reduce(0, +)
    }

    /// bob's scan over the window, or nil unless the crossing lies strictly inside it.
    func threshold() -> Double? {
        let windowImpostors = ScoreBuckets.sortedScores(impostors, inBuckets: buckets)
        let windowGenuine = ScoreBuckets.sortedScores(genuine, inBuckets: buckets)
        var below = -Double.infinity
        for scores in [impostors, genuine] {
            for score in scores where ScoreBuckets.bucket(of: score) < buckets.lowerBound {
                below = max(below, score)
            }
        }
        let farDecrease = 1.0 / Double(impostors.count)
        let frrIncrease = 1.0 / Double(genuine.count)
        var far = 1.0
        for _ in 0..<impostorsBelow { far -= farDecrease }
        var frr = 0.0
        for _ in 0..<genuineBelow { frr += frrIncrease }

        var negative = 0
        var positive = 0
        var previous = below
        var minimum = Double.infinity
        var best: Double?
        var firstDifference: Double?
        while negative < windowImpostors.count || positive < windowGenuine.count {
            let value = min(
                negative < windowImpostors.count ? windowImpostors[negative] : .infinity,
                positive < windowGenuine.count ? windowGenuine[positive] : .infinity)
            let current = previous == -.infinity ? value : (previous + value) / 2
            let difference = far - frr
            if firstDifference == nil { firstDifference = difference }
            if abs(difference) <= minimum {
                minimum = abs(difference)
                best = current
            }
            while negative < windowImpostors.count && windowImpostors[negative] == value {
                negative += 1
                far -= farDecrease
            }
            while positive < windowGenuine.count && windowGenuine[positive] == value {
                positive += 1
                frr += frrIncrease
            }
            previous = value
        }
        // FMR - FNMR falls strictly from one step to the next. If it is still positive on
        // entering the window, every earlier step had a larger |difference|; if it is
        // negative on leaving, every later step has a larger one than the first step after
        // the window, which must itself lose to the window's best (ties go to the later step).
        let afterDifference = far - frr
        guard let firstDifference, firstDifference > 0, afterDifference < 0, abs(afterDifference) > minimum else {
            return nil
        }
        return best
    }
}
