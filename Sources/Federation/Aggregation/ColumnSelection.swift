/// Shared machinery of the coordinate-wise aggregators (median, trimmed mean): visit the
/// update matrix one column at a time with the column's values contiguous.
///
/// The matrix is row-major, so a column is strided by `columnCount`; reading it directly
/// would touch one cache line per value. Instead blocks of `blockWidth` columns are
/// transposed into a scratch buffer first, which reads each row's slice contiguously.
func forEachColumn(of matrix: UpdateMatrix, blockWidth: Int = 64,
                   _ body: (_ column: Int, _ values: UnsafeMutableBufferPointer<Float>) -> Void) {
    let rows = matrix.rowCount, columns = matrix.columnCount
    var scratch = [Float](repeating: 0, count: rows * blockWidth)
    matrix.values.withUnsafeBufferPointer { source in
        scratch.withUnsafeMutableBufferPointer { block in
            for blockStart in stride(from: 0, to: columns, by: blockWidth) {
                let width = min(blockWidth, columns - blockStart)
                for row in 0..<rows {
                    let base = row * columns + blockStart
                    for offset in 0..<width {
                        block[offset * rows + row] = source[base + offset]
                    }
                }
                for offset in 0..<width {
                    let column = UnsafeMutableBufferPointer(rebasing: block[offset * rows..<(offset + 1) * rows])
                    body(blockStart + offset, column)
                }
            }
        }
    }
}

/// Rearranges `values[range]` so that the element at `k` is the one that would be there
/// if the range were sorted ascending, everything before it is ≤ it and everything after
/// is ≥ it (Hoare's quickselect with a median-of-three pivot; expected linear time).
func select<Value: Comparable>(_ k: Int, in values: UnsafeMutableBufferPointer<Value>, range: Range<Int>) {
    var low = range.lowerBound, high = range.upperBound - 1
    while high > low {
        let middle = low + (high - low) / 2
        // Median of three, left in `middle`.
        if values[middle] < values[low] { values.swapAt(middle, low) }
        if values[high] < values[low] { values.swapAt(high, low) }
        if values[high] < values[middle] { values.swapAt(high, middle) }
        let pivot = values[middle]
        var i = low, j = high
        while i <= j {
            while values[i] < pivot { i += 1 }
            while values[j] > pivot { j -= 1 }
            if i <= j {
                values.swapAt(i, j)
                i += 1
                j -= 1
            }
        }
        if k <= j {
            high = j
        } else if k >= i {
            low = i
        } else {
            return
        }
    }
}
