extension ScoreStatistics {
    /// `ErrorRates.farThreshold` (bob.measure `far_threshold`) computed from statistics.
    ///
    /// Exact — bit-identical to the raw-score answer — whenever the walk from the top stops
    /// inside the exact tail, i.e. when more than `target × N` impostors score at or above the
    /// tail floor. Otherwise the walk continues on the grid and the result is `.binned`.
    ///
    /// - Throws: like `farThreshold`: `.targetOutOfRange`, `.tooFewImpostors` (fewer than 2).
    public func falseMatchThreshold(target: Double) throws -> ThresholdEstimate {
        try ErrorRates.checkTarget(target)
        guard impostorCount >= 2 else {
            throw CalibrationError.tooFewImpostors(count: impostorCount, required: 2)
        }
        if target >= ErrorRates.oneMinusEpsilon {
            return acceptingEveryImpostor()
        }
        let total = Double(impostorCount)
        return walkDown { Double($0) / total <= target }
    }

    /// The lowest threshold accepting at most `limit` impostors (whole tie groups only).
    /// Used by the conservative policy, whose limit comes from the Clopper–Pearson bound.
    public func threshold(acceptingAtMost limit: Int) -> ThresholdEstimate {
        walkDown { $0 <= limit }
    }

    /// Impostors with `score >= threshold`: exact at or above the tail floor and on grid
    /// edges, otherwise bounded by the edges around `threshold`.
    public func falseMatches(atOrAbove threshold: Double) -> CountBounds {
        if impostorTail.keeps(threshold) {
            let count = impostorTail.count(atLeast: threshold)
            return CountBounds(lower: count, upper: count)
        }
        let below = Self.countBelow(threshold, in: impostor)
        return CountBounds(lower: impostorCount - below.upper, upper: impostorCount - below.lower)
    }

    /// Genuine comparisons with `score < threshold`: exact on grid edges, otherwise bounded.
    public func falseNonMatches(below threshold: Double) -> CountBounds {
        Self.countBelow(threshold, in: genuine)
    }

    /// FMR and FNMR at `threshold` as bounds (exact where the counts are).
    ///
    /// - Throws: `.nanScore` for a NaN threshold, `.tooFewImpostors` / `.tooFewGenuine` when a side is empty.
    public func rates(at threshold: Double) throws -> (falseMatch: RateBounds, falseNonMatch: RateBounds) {
        guard !threshold.isNaN else { throw CalibrationError.nanScore }
        guard impostorCount > 0 else { throw CalibrationError.tooFewImpostors(count: 0, required: 1) }
        guard genuineCount > 0 else { throw CalibrationError.tooFewGenuine(count: 0, required: 1) }
        return (
            RateBounds(falseMatches(atOrAbove: threshold), total: impostorCount),
            RateBounds(falseNonMatches(below: threshold), total: genuineCount)
        )
    }

    /// The grid edge where FMR and FNMR (both exact at edges) are closest; on equal gaps the
    /// higher edge wins, as in bob.measure. Binned: bob's midpoint threshold lies within about
    /// one bin of it.
    public func equalErrorRateOnGrid() throws -> (threshold: Double, falseMatchRate: Double, falseNonMatchRate: Double) {
        guard impostorCount > 0 else { throw CalibrationError.tooFewImpostors(count: 0, required: 1) }
        guard genuineCount > 0 else { throw CalibrationError.tooFewGenuine(count: 0, required: 1) }
        let grid = layout.grid
        var impostorsAtOrAbove = impostorCount - impostor.underflow
        var genuineBelow = genuine.underflow
        var best = (threshold: grid.edge(0), falseMatchRate: 0.0, falseNonMatchRate: 0.0)
        var smallestGap = Double.infinity
        for index in 0...grid.binCount {
            let falseMatchRate = Double(impostorsAtOrAbove) / Double(impostorCount)
            let falseNonMatchRate = Double(genuineBelow) / Double(genuineCount)
            let gap = abs(falseMatchRate - falseNonMatchRate)
            if gap <= smallestGap {
                smallestGap = gap
                best = (grid.edge(index), falseMatchRate, falseNonMatchRate)
            }
            if index < grid.binCount {
                impostorsAtOrAbove -= impostor.counts[index]
                genuineBelow += genuine.counts[index]
            }
        }
        return best
    }

    // MARK: - The walk

    /// bob.measure's walk down the impostor tie groups: exact through the tail, then by bins.
    private func walkDown(passes: (Int) -> Bool) -> ThresholdEstimate {
        let exact = ErrorRates.walkDown(impostorTail.descendingTieGroups, passes: passes)
        if exact.stopped {
            return ThresholdEstimate(
                threshold: exact.threshold, falseMatches: exact.countAtOrAbove,
                impostorCount: impostorCount, precision: .exact)
        }
        let binned = Precision.binned(binWidth: layout.grid.binWidth)
        if impostorTail.count == impostorCount {
            // The tail holds every impostor, so every group passed on exact scores.
            return ThresholdEstimate(
                threshold: exact.threshold, falseMatches: exact.countAtOrAbove,
                impostorCount: impostorCount, precision: .exact)
        }
        var threshold: Double? = impostorTail.count > 0 ? exact.threshold : nil
        var cumulative = impostorTail.count
        for index in stride(from: layout.tailFloorEdgeIndex - 1, through: 0, by: -1) where impostor.counts[index] > 0 {
            let upperEdge = layout.grid.edge(index + 1)
            cumulative += impostor.counts[index]
            guard passes(cumulative) else {
                return ThresholdEstimate(
                    threshold: threshold ?? upperEdge, falseMatches: cumulative - impostor.counts[index],
                    impostorCount: impostorCount, precision: binned)
            }
            threshold = layout.grid.edge(index)
        }
        if impostor.underflow > 0 {
            cumulative += impostor.underflow
            guard passes(cumulative) else {
                return ThresholdEstimate(
                    threshold: threshold ?? layout.grid.lowerBound, falseMatches: cumulative - impostor.underflow,
                    impostorCount: impostorCount, precision: binned)
            }
            threshold = -.infinity
        }
        return ThresholdEstimate(
            threshold: threshold ?? -.infinity, falseMatches: cumulative,
            impostorCount: impostorCount, precision: binned)
    }

    /// bob.measure's answer for targets `>= 1 - eps`: just below the lowest impostor.
    private func acceptingEveryImpostor() -> ThresholdEstimate {
        if impostorTail.count == impostorCount, let lowest = impostorTail.scores.first {
            return ThresholdEstimate(
                threshold: numpyNextAfter(lowest, towards: lowest - 1), falseMatches: impostorCount,
                impostorCount: impostorCount, precision: .exact)
        }
        let lowestEdge = impostor.underflow > 0
            ? -Double.infinity
            : impostor.counts.firstIndex { $0 > 0 }.map(layout.grid.edge) ?? layout.tailFloor
        return ThresholdEstimate(
            threshold: lowestEdge, falseMatches: impostorCount,
            impostorCount: impostorCount, precision: .binned(binWidth: layout.grid.binWidth))
    }

    /// Scores `< threshold` in a histogram, as bounds from the grid edges around it.
    private static func countBelow(_ threshold: Double, in histogram: ScoreHistogram) -> CountBounds {
        let grid = histogram.grid
        switch grid.placement(of: threshold) {
        case .underflow:
            return threshold == -.infinity
                ? CountBounds(lower: 0, upper: 0)
                : CountBounds(lower: 0, upper: histogram.underflow)
        case .bin(let index):
            let below = histogram.total - histogram.count(atOrAboveEdge: index)
            let upper = below + histogram.counts[index]
            return threshold == grid.edge(index)
                ? CountBounds(lower: below, upper: below)
                : CountBounds(lower: below, upper: upper)
        case .overflow:
            let below = histogram.total - histogram.overflow
            return threshold == grid.upperBound || histogram.overflow == 0
                ? CountBounds(lower: below, upper: below)
                : CountBounds(lower: below, upper: histogram.total)
        }
    }
}
