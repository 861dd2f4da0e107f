import Dispatch
import Foundation

/// Shared machinery of the coordinate-wise aggregators (median, trimmed mean): visit the
/// update matrix in blocks of columns, each column's values contiguous.
///
/// The matrix is row-major, so a column is strided by `columnCount`; reading it directly
/// would touch one cache line per value. Instead blocks of `blockWidth` columns are
/// transposed into a scratch buffer first, which reads each row's slice contiguously.
/// Columns are independent, so contiguous runs of blocks go to `workers` threads, each with
/// its own scratch buffer. `body` gets the worker's index (0..<workers), the block's column
/// range, the transposed block (column `c` of the range at
/// `block[(c − range.lowerBound) · rowCount ..< … + rowCount]`, free to permute) and the
/// untouched row-major source; it must write only to what belongs to its columns or worker.
func forEachColumnBlock(of matrix: UpdateMatrix, blockWidth: Int = 64, workers: Int,
                        _ body: @Sendable (_ worker: Int, _ columns: Range<Int>, _ block: UnsafeMutableBufferPointer<Float>,
                                           _ source: UnsafeBufferPointer<Float>) -> Void) {
    let rows = matrix.rowCount, columns = matrix.columnCount
    let blocks = (columns + blockWidth - 1) / blockWidth
    matrix.values.withUnsafeBufferPointer { values in
        let source = SharedBuffer(values)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var scratch = [Float](repeating: 0, count: rows * blockWidth)
            scratch.withUnsafeMutableBufferPointer { block in
                for blockIndex in (worker * blocks / workers)..<((worker + 1) * blocks / workers) {
                    let blockStart = blockIndex * blockWidth
                    let width = min(blockWidth, columns - blockStart)
                    for row in 0..<rows {
                        let base = row * columns + blockStart
                        for offset in 0..<width {
                            block[offset * rows + row] = source.buffer[base + offset]
                        }
                    }
                    body(worker, blockStart..<(blockStart + width), block, source.buffer)
                }
            }
        }
    }
}

/// How many threads a coordinate-wise aggregation uses: one per core, but none idle.
func columnWorkers(for matrix: UpdateMatrix, blockWidth: Int = 64) -> Int {
    let blocks = (matrix.columnCount + blockWidth - 1) / blockWidth
    return max(1, min(activeProcessors, blocks))
}

private let activeProcessors = max(1, ProcessInfo.processInfo.activeProcessorCount)

/// A buffer that several threads read, or write at disjoint indices only.
struct SharedBuffer<Element>: @unchecked Sendable {
    let buffer: UnsafeBufferPointer<Element>
    init(_ buffer: UnsafeBufferPointer<Element>) { self.buffer = buffer }
}

struct SharedMutableBuffer<Element>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Element>
    init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
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
