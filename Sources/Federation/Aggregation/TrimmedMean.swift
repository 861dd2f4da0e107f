import FederationCore
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
/// unweighted. β must be in [0, 0.5). `countingTrimmed` also finds who was cut (the
/// `trimmedShare` of the result; empty without it), at the cost of a second pass over the rows.
public func trimmedMean(of matrix: UpdateMatrix, beta: Double, countingTrimmed: Bool = true) throws -> TrimmedMeanResult {
    guard beta >= 0, beta < 0.5 else {
        throw FederationError.invalidParameter(name: "trim beta", value: beta, requirement: "must be in [0, 0.5)")
    }
    let n = matrix.rowCount
    let cut = Int(beta * Double(n))
    let kept = n - 2 * cut
    let workers = columnWorkers(for: matrix)
    let counting = countingTrimmed && cut > 0
    var result = [Float](repeating: 0, count: matrix.columnCount)
    // Each worker counts into its own row of `trimmedCounts`; the rows are summed at the end.
    var trimmedCounts = [Int](repeating: 0, count: counting ? n * workers : 0)
    result.withUnsafeMutableBufferPointer { output in
        trimmedCounts.withUnsafeMutableBufferPointer { countsStorage in
            let result = SharedMutableBuffer(output), allCounts = SharedMutableBuffer(countsStorage)
            let columnCount = matrix.columnCount
            forEachColumnBlock(of: matrix, blockWidth: 64, workers: workers) { worker, columns, block, source in
                // The kept range of each column of this block.
                var lowest = [Float](repeating: 0, count: 64), highest = [Float](repeating: 0, count: 64)
                for column in columns {
                    let offset = column - columns.lowerBound
                    let values = UnsafeMutableBufferPointer(rebasing: block[(offset * n)..<(offset * n + n)])
                    if cut > 0 {
                        select(cut, in: values, range: 0..<n)
                        select(n - cut - 1, in: values, range: cut..<n)
                    }
                    result.buffer[column] = Float(sumInDouble(values, cut..<(n - cut)) / Double(kept))
                    lowest[offset] = values[cut]
                    highest[offset] = values[n - cut - 1]
                }
                guard counting else { return }
                // Who was cut: one contiguous pass over the block's slice of each client's row.
                let counts = UnsafeMutableBufferPointer(rebasing: allCounts.buffer[(worker * n)..<(worker * n + n)])
                lowest.withUnsafeBufferPointer { low in
                    highest.withUnsafeBufferPointer { high in
                        for row in 0..<n {
                            let base = row * columnCount + columns.lowerBound
                            var cutHere = 0
                            for offset in 0..<columns.count {
                                let value = source[base + offset]
                                // Two 0/1 selects, not `||`, so this stays free of branches.
                                cutHere += (value < low[offset] ? 1 : 0) + (value > high[offset] ? 1 : 0)
                            }
                            counts[row] += cutHere
                        }
                    }
                }
            }
        }
    }
    var share: [Double] = []
    if counting {
        let columns = Double(matrix.columnCount)
        share = (0..<n).map { row in Double((0..<workers).reduce(0) { $0 + trimmedCounts[$1 * n + row] }) / columns }
    } else if countingTrimmed {
        share = [Double](repeating: 0, count: n)
    }
    return TrimmedMeanResult(values: result, cutPerSide: cut, trimmedShare: share)
}

/// Σ values[range] accumulated in Double with four independent sums, so the additions
/// overlap instead of waiting on each other.
@inline(__always)
private func sumInDouble(_ values: UnsafeMutableBufferPointer<Float>, _ range: Range<Int>) -> Double {
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    var index = range.lowerBound
    while index &+ 4 <= range.upperBound {
        s0 += Double(values[index])
        s1 += Double(values[index &+ 1])
        s2 += Double(values[index &+ 2])
        s3 += Double(values[index &+ 3])
        index &+= 4
    }
    while index < range.upperBound {
        s0 += Double(values[index])
        index &+= 1
    }
    return (s0 + s1) + (s2 + s3)
}
