extension ScoreStatistics {
    /// ROC points from statistics, at every grid edge where FMR or FNMR changes, from the
    /// lowest threshold up. Both rates are exact at grid edges, so this is the raw curve
    /// sampled at the edges (every 2^-13 on `ScoreGrid.cosine`).
    ///
    /// ```swift
    /// let points = try statistics.rocPoints()
    /// let det = points.map { ErrorRates.normalDeviate($0.falseMatchRate) }
    /// ```
    /// - Throws: `.tooFewImpostors` / `.tooFewGenuine` when a side is empty.
    public func rocPoints() throws -> [CurvePoint] {
        guard impostorCount > 0 else { throw CalibrationError.tooFewImpostors(count: 0, required: 1) }
        guard genuineCount > 0 else { throw CalibrationError.tooFewGenuine(count: 0, required: 1) }
        let grid = layout.grid
        var impostorsAtOrAbove = impostorCount - impostor.underflow
        var genuineBelow = genuine.underflow
        var points: [CurvePoint] = []
        for index in 0...grid.binCount {
            let unchanged = index > 0 && impostor.counts[index - 1] == 0 && genuine.counts[index - 1] == 0
            if !unchanged {
                points.append(CurvePoint(
                    threshold: grid.edge(index),
                    falseMatchRate: Double(impostorsAtOrAbove) / Double(impostorCount),
                    falseNonMatchRate: Double(genuineBelow) / Double(genuineCount)))
            }
            if index < grid.binCount {
                impostorsAtOrAbove -= impostor.counts[index]
                genuineBelow += genuine.counts[index]
            }
        }
        return points
    }
}
