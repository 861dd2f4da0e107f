/// Flower's `aggregate_median` (numpy's `median` along the client axis): for every
/// coordinate, the middle value of the clients' values; with an even number of clients the
/// mean of the two middle values. Unweighted: example counts are ignored, so a client
/// cannot buy influence by claiming more examples.
public func coordinateMedian(of matrix: UpdateMatrix) -> [Float] {
    var result = [Float](repeating: 0, count: matrix.columnCount)
    let n = matrix.rowCount
    let upper = n / 2
    result.withUnsafeMutableBufferPointer { output in
        let result = SharedMutableBuffer(output)
        forEachColumnBlock(of: matrix, workers: columnWorkers(for: matrix)) { _, columns, block, _ in
            for column in columns {
                let start = (column - columns.lowerBound) * n
                let values = UnsafeMutableBufferPointer(rebasing: block[start..<(start + n)])
                select(upper, in: values, range: 0..<n)
                if n % 2 == 1 {
                    result.buffer[column] = values[upper]
                } else {
                    // The lower middle is the largest of the lower half after the selection.
                    var lowerMiddle = values[0]
                    for index in 1..<upper where values[index] > lowerMiddle { lowerMiddle = values[index] }
                    result.buffer[column] = Float((Double(lowerMiddle) + Double(values[upper])) / 2)
                }
            }
        }
    }
    return result
}
