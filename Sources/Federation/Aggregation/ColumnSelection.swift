/// Shared machinery of the coordinate-wise aggregators (median, trimmed mean): visit the
/// update matrix in blocks of columns, each column's values contiguous.
///
/// The matrix is row-major, so a column is strided by `columnCount`; reading it directly
/// would touch one cache line per value. Instead blocks of `blockWidth` columns are
/// transposed into a scratch buffer first, which reads each row's slice contiguously.
/// `body` gets the block's column range, the transposed block (column `c` of the range at
/// `block[(c − range.lowerBound) · rowCount ..< … + rowCount]`, free to permute) and the
/// untouched row-major source.
func forEachColumnBlock(of matrix: UpdateMatrix, blockWidth: Int = 64,
                        _ body: (_ columns: Range<Int>, _ block: UnsafeMutableBufferPointer<Float>,
                                 _ source: UnsafeBufferPointer<Float>) -> Void) {
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
                body(blockStart..<(blockStart + width), block, source)
            }
        }
    }
}

/// Rearranges `values[range]` so that the element at `k` is the one that would be there
/// if the range were sorted ascending, everything before it is ≤ it and everything after
/// is ≥ it. Expected linear time, O(n log n) at worst.
///
/// Quickselect with branch-free Lomuto partitioning: on random data the comparison
/// outcome is unpredictable, and a conditional index increment instead of a branch
/// avoids the mispredictions that dominate a classic Hoare loop (about 3× here; keep the
/// increment a plain `+=` of a 0/1 select, which compiles to a conditional move). The
/// pivot is the median of three (a sample at the target rank was tried and was no
/// faster). When the pivot is the range's minimum its copies are gathered by a second
/// pass, so columns full of ties (an untrained parameter is 0 in every update) stay
/// linear. Clients choose the values, so an adversarial column must not make this
/// quadratic: after a bounded number of rounds the rest is sorted.
@inline(__always)
func select<Value: Comparable>(_ k: Int, in values: UnsafeMutableBufferPointer<Value>, range: Range<Int>) {
    var low = range.lowerBound, high = range.upperBound   // half-open [low, high)
    var rounds = 0
    while high - low > 1 {
        rounds += 1
        if rounds > 48 {
            var rest = UnsafeMutableBufferPointer(rebasing: values[low..<high])
            rest.sort()
            return
        }
        let pivot = medianOfThree(values, low..<high)
        let lessEnd = partition(values, low..<high) { $0 < pivot }
        if k < lessEnd {
            high = lessEnd
        } else if lessEnd > low {
            low = lessEnd
        } else {
            // The pivot is the range's minimum: gather its copies so the range shrinks.
            let equalEnd = partition(values, lessEnd..<high) { $0 <= pivot }
            if k < equalEnd { return }
            low = equalEnd
        }
    }
}

/// The median of the first, middle and last elements of `range`.
@inline(__always)
private func medianOfThree<Value: Comparable>(_ values: UnsafeMutableBufferPointer<Value>, _ range: Range<Int>) -> Value {
    let a = values[range.lowerBound], b = values[range.lowerBound + range.count / 2], c = values[range.upperBound - 1]
    return max(min(a, b), min(max(a, b), c))
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
