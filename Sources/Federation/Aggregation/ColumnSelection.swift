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
/// is ≥ it. Expected linear time.
///
/// Quickselect with branch-free Lomuto partitioning: on random data the comparison
/// outcome is unpredictable, and a conditional index increment instead of a branch
/// avoids the mispredictions that dominate a classic Hoare loop (about 2× here).
/// Values equal to the pivot are gathered by a second pass when `k` lies above the
/// smaller ones, so columns full of ties (an untrained parameter is 0 in every update)
/// stay linear.
@inline(__always)
func select<Value: Comparable>(_ k: Int, in values: UnsafeMutableBufferPointer<Value>, range: Range<Int>) {
    var low = range.lowerBound, high = range.upperBound   // half-open [low, high)
    while high - low > 1 {
        let pivot = medianOfThree(values[low], values[low + (high - low) / 2], values[high - 1])
        let lessEnd = partition(values, low..<high) { $0 < pivot }
        if k < lessEnd {
            high = lessEnd
            continue
        }
        let equalEnd = partition(values, lessEnd..<high) { $0 <= pivot }
        if k < equalEnd { return }
        low = equalEnd
    }
}

/// Moves the elements satisfying `belongsFirst` to the front of `range`, branch-free;
/// returns the end of that front part.
@inline(__always)
private func partition<Value>(_ values: UnsafeMutableBufferPointer<Value>, _ range: Range<Int>,
                              _ belongsFirst: (Value) -> Bool) -> Int {
    var store = range.lowerBound
    for index in range {
        let value = values[index]
        values[index] = values[store]
        values[store] = value
        store += belongsFirst(value) ? 1 : 0
    }
    return store
}

@inline(__always)
private func medianOfThree<Value: Comparable>(_ a: Value, _ b: Value, _ c: Value) -> Value {
    max(min(a, b), min(max(a, b), c))
}
