/// Adds stored rows' binary forms for one cohort after another and packs each cohort's sum:
/// how a window read turns hundreds of thousands of day and month rows into packed cohorts.
///
/// `CohortStatistics.merge(encoded:)` keeps the subject cells and the tail as sorted lists,
/// so each row costs the size of the whole sum so far; a cohort's 30 day rows at 100,000
/// outcomes a year each re-copied its few thousand cells. Here every count is dense (both
/// histograms, and the cells as coarse bin × group), so a row costs its own size; only the
/// exact tail, a few hundred entries, is merged as a list. Packing writes the binary form
/// straight from the dense counts, over the range of bins the cohort touched, and clears
/// that range for the next cohort. The bytes are exactly `CohortStatistics.encoded()` of the
/// same rows merged, and every row is validated as `CohortStatistics(encoded:layout:)` does.
///
/// ```swift
/// var accumulator = PackedCohortAccumulator(layout: CohortStatistics.liveLayout)
/// for row in rowsOfOneCohort { try accumulator.merge(encoded: row) }
/// let packed = accumulator.pack()          // and the accumulator is empty again
/// ```
public struct PackedCohortAccumulator: Sendable {
    public let layout: StatisticsLayout
    private var unknown = 0
    private var genuine: DenseCounts
    private var impostor: DenseCounts
    private var genuineEnds = (underflow: 0, overflow: 0)
    private var impostorEnds = (underflow: 0, overflow: 0)
    /// Coarse bin × `ImpostorSubjects.groupCount` + group, below the tail floor.
    private var cells: DenseCounts
    /// Each added row's tail, sorted by (score, group); merged pairwise when packed, so that
    /// k tails of n entries in all cost n log k (a pool adds a thousand cohorts' tails).
    private var tails: [(scores: [Double], groups: [UInt8])] = []

    public init(layout: StatisticsLayout) {
        self.layout = layout
        genuine = DenseCounts(count: layout.grid.binCount)
        impostor = DenseCounts(count: layout.grid.binCount)
        let geometry = SparseRow(layout: layout)
        cells = DenseCounts(count: geometry.cellKeyLimit)
    }

    /// Nothing added since the last `pack()`.
    public var isEmpty: Bool {
        unknown == 0 && genuine.isEmpty && impostor.isEmpty && cells.isEmpty && tails.isEmpty
            && genuineEnds == (0, 0) && impostorEnds == (0, 0)
    }

    /// Adds a stored row's binary form; throws (changing nothing) as `CohortStatistics(encoded:layout:)` would.
    public mutating func merge(encoded bytes: [UInt8]) throws {
        add(try SparseRow(encoded: bytes, layout: layout))
    }

    /// Adds a packed cohort (same layout).
    public mutating func merge(_ packed: PackedCohortStatistics) throws {
        guard packed.layout == layout else { throw CalibrationError.incompatibleStatistics }
        add(try SparseRow(encoded: packed.bytes, layout: layout, checkingAgreement: false))
    }

    /// Adds a validated row.
    mutating func add(_ row: SparseRow) {
        unknown += row.unknown
        genuine.add(row.genuine.indices, row.genuine.counts)
        impostor.add(row.impostor.indices, row.impostor.counts)
        genuineEnds.underflow += row.genuine.underflow
        genuineEnds.overflow += row.genuine.overflow
        impostorEnds.underflow += row.impostor.underflow
        impostorEnds.overflow += row.impostor.overflow
        cells.add(row.cellKeys, row.cellCounts)
        if !row.tailScores.isEmpty { tails.append((row.tailScores, row.tailGroups)) }
    }

    /// Every added tail as one list sorted by (score, group).
    private func mergedTail() -> (scores: [Double], groups: [UInt8]) {
        var runs = tails
        while runs.count > 1 {
            var next: [(scores: [Double], groups: [UInt8])] = []
            next.reserveCapacity((runs.count + 1) / 2)
            for pair in stride(from: 0, to: runs.count, by: 2) {
                next.append(pair + 1 < runs.count ? Self.merge(runs[pair], runs[pair + 1]) : runs[pair])
            }
            runs = next
        }
        return runs.first ?? ([], [])
    }

    private static func merge(_ left: (scores: [Double], groups: [UInt8]),
                              _ right: (scores: [Double], groups: [UInt8])) -> (scores: [Double], groups: [UInt8]) {
        var scores: [Double] = [], groups: [UInt8] = []
        scores.reserveCapacity(left.scores.count + right.scores.count)
        groups.reserveCapacity(left.scores.count + right.scores.count)
        var i = 0, j = 0
        while i < left.scores.count && j < right.scores.count {
            if ImpostorSubjects.precedes(right.scores[j], right.groups[j], left.scores[i], left.groups[i]) {
                scores.append(right.scores[j]); groups.append(right.groups[j]); j += 1
            } else {
                scores.append(left.scores[i]); groups.append(left.groups[i]); i += 1
            }
        }
        scores.append(contentsOf: left.scores[i...]); groups.append(contentsOf: left.groups[i...])
        scores.append(contentsOf: right.scores[j...]); groups.append(contentsOf: right.groups[j...])
        return (scores, groups)
    }

    /// The sum so far, packed (the layout of `CohortStatistics.encoded()`); empties the accumulator.
    public mutating func pack() -> PackedCohortStatistics {
        let (tailScores, tailGroups) = mergedTail()
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(64 + 3 * (genuine.touched + impostor.touched + cells.touched) + 9 * tailScores.count)
        writer.header(layout: layout, unknown: unknown)
        for (counts, ends) in [(genuine, genuineEnds), (impostor, impostorEnds)] {
            writer.varint(UInt64(ends.underflow))
            writer.varint(UInt64(ends.overflow))
            counts.writeSparse(to: &writer)
        }
        writer.varint(UInt64(tailScores.count))
        for (score, group) in zip(tailScores, tailGroups) {
            writer.fixed64(score.bitPattern)
            writer.byte(group)
        }
        cells.writeSparse(to: &writer)
        let packed = PackedCohortStatistics(
            layout: layout, bytes: writer.bytes, genuineCount: genuine.total + genuineEnds.underflow + genuineEnds.overflow,
            impostorCount: impostor.total + impostorEnds.underflow + impostorEnds.overflow, unknownCount: unknown)
        unknown = 0
        genuine.removeAll()
        impostor.removeAll()
        cells.removeAll()
        genuineEnds = (0, 0)
        impostorEnds = (0, 0)
        tails = []
        return packed
    }
}

/// Dense counts that remember the range of indices touched, so that writing and clearing cost
/// that range, not the whole array.
private struct DenseCounts {
    private var counts: [Int]
    private var low = Int.max
    private var high = -1
    private(set) var total = 0

    init(count: Int) {
        counts = [Int](repeating: 0, count: count)
    }

    var isEmpty: Bool { high < 0 }

    /// An upper bound on the non-empty entries (for reserving bytes).
    var touched: Int { high < 0 ? 0 : high - low + 1 }

    /// Adds validated sparse entries (ascending indices in range, positive counts).
    mutating func add(_ indices: [Int], _ values: [Int]) {
        guard let first = indices.first, let last = indices.last else { return }
        low = min(low, first)
        high = max(high, last)
        var added = 0
        counts.withUnsafeMutableBufferPointer { counts in
            for (index, value) in zip(indices, values) {
                counts[index] += value
                added += value
            }
        }
        total += added
    }

    /// The number of non-empty entries, then each as (index gap from the previous, the first
    /// from −1; count), as `ByteWriter.sparse` writes a dense array.
    func writeSparse(to writer: inout ByteWriter) {
        guard high >= 0 else {
            writer.varint(0)
            return
        }
        counts.withUnsafeBufferPointer { counts in
            var nonzero = 0
            for index in low...high where counts[index] != 0 { nonzero += 1 }
            writer.varint(UInt64(nonzero))
            var previous = -1
            for index in low...high where counts[index] != 0 {
                writer.varint(UInt64(index - previous))
                writer.varint(UInt64(counts[index]))
                previous = index
            }
        }
    }

    mutating func removeAll() {
        if high >= 0 {
            counts.withUnsafeMutableBufferPointer { counts in
                for index in low...high { counts[index] = 0 }
            }
        }
        low = Int.max
        high = -1
        total = 0
    }
}
