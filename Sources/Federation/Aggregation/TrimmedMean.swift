/// The result of a coordinate-wise trimmed mean, with how often each client was cut.
public struct TrimmedMeanResult: Sendable, Equatable {
    public var values: [Float]
    /// Values cut from each end of every coordinate: ⌊β·N⌋.
    public var cutPerSide: Int
    /// For each client (row order), the share of coordinates where its value was strictly
    /// below the kept range or strictly above it. A client near 1.0 is an outlier in most
    /// coordinates; an honest client sits near 2·cutPerSide/N.
    public var trimmedShare: [Double]
}

/// Flower's `aggregate_trimmed_avg` (scipy's `trim_mean` along the client axis): for every
/// coordinate, sort the N clients' values, drop ⌊β·N⌋ from each end and average the rest,
/// unweighted. β must be in [0, 0.5).
public func trimmedMean(of matrix: UpdateMatrix, beta: Double) throws -> TrimmedMeanResult {
    guard beta >= 0, beta < 0.5 else {
        throw FederationError.invalidParameter(name: "trim beta", value: beta, requirement: "must be in [0, 0.5)")
    }
    let n = matrix.rowCount
    let cut = Int(beta * Double(n))
    let kept = n - 2 * cut
    var result = [Float](repeating: 0, count: matrix.columnCount)
    var trimmedCounts = [Int](repeating: 0, count: n)
    var original = [Float](repeating: 0, count: n)
    forEachColumn(of: matrix) { column, values in
        if cut > 0 {
            for row in 0..<n { original[row] = values[row] }
            select(cut, in: values, range: 0..<n)
            select(n - cut - 1, in: values, range: cut..<n)
        }
        var sum = 0.0
        for index in cut..<(n - cut) { sum += Double(values[index]) }
        result[column] = Float(sum / Double(kept))
        if cut > 0 {
            let lowest = values[cut], highest = values[n - cut - 1]
            for row in 0..<n where original[row] < lowest || original[row] > highest {
                trimmedCounts[row] += 1
            }
        }
    }
    let columns = Double(matrix.columnCount)
    return TrimmedMeanResult(values: result, cutPerSide: cut, trimmedShare: trimmedCounts.map { Double($0) / columns })
}
