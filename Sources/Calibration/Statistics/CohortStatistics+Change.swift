/// Outcomes to count into, and out of, one stored statistics row.
///
/// A row's dense histograms are 2 × 16,384 bins; decoding one, adding a batch's hundred
/// scores and encoding it again spent the store's time zeroing and scanning bins the batch
/// never touched. `CohortStatistics.applying(_:toEncoded:layout:)` instead merges this
/// change's few (sorted) entries into the row's sparse binary form, so a write costs the size
/// of the row's bytes, not of its grid. The result is byte for byte what decoding, `add`ing,
/// `remove`ing and `encoded()` would give.
public struct CohortStatisticsChange: Sendable {
    struct Entry: Sendable, Equatable {
        var score: Double
        var label: ScoreLabel
        var group: UInt8
    }

    private(set) var added: [Entry] = []
    private(set) var removed: [Entry] = []

    public init() {}

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty }

    /// Counts one outcome in; throws `.nanScore` / `.nonFiniteScore` like `CohortStatistics.add`.
    public mutating func add(score: Double, label: ScoreLabel, subject: String) throws {
        try add(score: score, label: label, group: ImpostorSubjects.group(of: subject))
    }

    /// `add(score:label:subject:)` with the subject's `ImpostorSubjects.group(of:)` worked out
    /// once for all the rows an outcome is counted in.
    public mutating func add(score: Double, label: ScoreLabel, group: Int) throws {
        try ScoreStatistics.check(score)
        added.append(Entry(score: score == 0 ? 0 : score, label: label, group: UInt8(truncatingIfNeeded: group)))
    }

    /// Counts one outcome out; applying throws when the row does not hold it.
    public mutating func remove(score: Double, label: ScoreLabel, subject: String) throws {
        try remove(score: score, label: label, group: ImpostorSubjects.group(of: subject))
    }

    /// `remove(score:label:subject:)` with the subject's group worked out already.
    public mutating func remove(score: Double, label: ScoreLabel, group: Int) throws {
        try ScoreStatistics.check(score)
        removed.append(Entry(score: score == 0 ? 0 : score, label: label, group: UInt8(truncatingIfNeeded: group)))
    }

    /// Takes in another change's additions and removals. Applying the sum adds every addition
    /// before it removes anything, so changes made one after another on the same statistics sum
    /// to one change with the same result: each removal took an outcome that was held, either
    /// before the first change or since an earlier addition.
    public mutating func append(contentsOf other: CohortStatisticsChange) {
        added.append(contentsOf: other.added)
        removed.append(contentsOf: other.removed)
    }

    /// Entries counted in and out, additions and removals together.
    public var entryCount: Int { added.count + removed.count }

    /// The binary form another process reads back (`init(encoded:)`): PostgreSQL nodes log
    /// their commits' changes for each other's kept windows. Each entry is its score's bits,
    /// its label and its subject group.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(4 + entryCount * 10)
        for entries in [added, removed] {
            writer.varint(UInt64(entries.count))
            for entry in entries {
                writer.fixed64(entry.score.bitPattern)
                writer.byte(Self.labelCodes[entry.label] ?? 0)
                writer.byte(entry.group)
            }
        }
        return writer.bytes
    }

    public init(encoded bytes: [UInt8]) throws {
        var reader = ByteReader(bytes: bytes)
        for removing in [false, true] {
            let count = try reader.varint()
            guard count <= UInt64(reader.remaining / 10) else { throw ByteReader.corrupt("change of \(count) entries in \(reader.remaining) bytes") }
            var entries: [Entry] = []
            entries.reserveCapacity(Int(count))
            for _ in 0..<count {
                let score = Double(bitPattern: try reader.fixed64())
                try ScoreStatistics.check(score)
                let code = try reader.byte()
                guard Int(code) < Self.labels.count else { throw ByteReader.corrupt("label \(code)") }
                let group = try reader.byte()
                guard Int(group) < ImpostorSubjects.groupCount else { throw ByteReader.corrupt("subject group \(group)") }
                entries.append(Entry(score: score, label: Self.labels[Int(code)], group: group))
            }
            if removing { removed = entries } else { added = entries }
        }
        guard reader.remaining == 0 else { throw ByteReader.corrupt("\(reader.remaining) bytes after the change") }
    }

    private static let labels: [ScoreLabel] = [.genuine, .impostor, .unknown]
    private static let labelCodes = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, UInt8($0)) })
}

/// Exact: scores are stored without NaN and with -0 as 0.
extension CohortStatisticsChange: Equatable {}

extension PackedCohortStatistics {
    /// These statistics with `change` applied (`CohortStatistics.applying`), without unpacking
    /// them; nil when nothing is left. Throws as `applying` does, changing nothing.
    public func applying(_ change: CohortStatisticsChange) throws -> PackedCohortStatistics? {
        try Self.applying(change, to: bytes, layout: layout)
    }

    /// Statistics that hold nothing but `change`'s additions (and no removal); nil when it has none.
    public init?(counting change: CohortStatisticsChange, layout: StatisticsLayout) throws {
        guard let counted = try Self.applying(change, to: nil, layout: layout) else { return nil }
        self = counted
    }

    private static func applying(_ change: CohortStatisticsChange, to bytes: [UInt8]?,
                                 layout: StatisticsLayout) throws -> PackedCohortStatistics? {
        var row = try bytes.map { try SparseRow(encoded: $0, layout: layout, checkingAgreement: false) } ?? SparseRow(layout: layout)
        try row.apply(change)
        guard row.outcomeCount > 0 else { return nil }
        return PackedCohortStatistics(layout: layout, bytes: row.encoded(), genuineCount: row.genuine.total,
                                      impostorCount: row.impostor.total, unknownCount: row.unknown)
    }
}

extension CohortStatistics {
    /// The binary form of the row `encoded` (nil: no row yet) with `change`'s additions counted
    /// and then its removals uncounted, and the row's outcome count; nil when nothing is left.
    /// Validates the stored bytes as `init(encoded:layout:)` does. All or nothing: throws
    /// `.removalOfAbsentScore` / `.removalOfAbsentUnknownOutcomes` when a removal is not held.
    public static func applying(_ change: CohortStatisticsChange, toEncoded encoded: [UInt8]?,
                                layout: StatisticsLayout) throws -> (encoded: [UInt8], outcomeCount: Int)? {
        var row = try encoded.map { try SparseRow(encoded: $0, layout: layout) } ?? SparseRow(layout: layout)
        try row.apply(change)
        let count = row.outcomeCount
        return count == 0 ? nil : (row.encoded(), count)
    }
}

/// A histogram as the binary form holds it: the non-empty bins ascending.
struct SparseHistogram {
    var underflow = 0
    var overflow = 0
    var indices: [Int] = []
    var counts: [Int] = []

    var total: Int { counts.reduce(underflow + overflow, +) }

    init() {}

    init(reader: inout ByteReader, binCount: Int) throws {
        underflow = try reader.count()
        overflow = try reader.count()
        let entries = try reader.count()
        guard entries <= binCount, entries <= reader.remaining / 2 else {
            throw ByteReader.corrupt("\(entries) entries for \(binCount) slots")
        }
        indices.reserveCapacity(entries)
        counts.reserveCapacity(entries)
        var index = -1
        for _ in 0..<entries {
            let gap = try reader.count()
            guard gap >= 1, gap <= binCount - 1 - index else { throw ByteReader.corrupt("index out of range") }
            index += gap
            let value = try reader.count()
            guard value > 0 else { throw ByteReader.corrupt("zero count listed") }
            indices.append(index)
            counts.append(value)
        }
    }

    func write(to writer: inout ByteWriter) {
        writer.varint(UInt64(underflow))
        writer.varint(UInt64(overflow))
        writer.varint(UInt64(indices.count))
        var previous = -1
        for (index, count) in zip(indices, counts) {
            writer.varint(UInt64(index - previous))
            writer.varint(UInt64(count))
            previous = index
        }
    }

    /// Adds signed per-bin changes (ascending, distinct indices); a bin going below zero throws.
    mutating func apply(_ changes: [(index: Int, delta: Int)], underflow underflowChange: Int, overflow overflowChange: Int,
                        absent: (Int) -> CalibrationError) throws {
        guard underflow + underflowChange >= 0 else { throw absent(-1) }
        guard overflow + overflowChange >= 0 else { throw absent(Int.max) }
        underflow += underflowChange
        overflow += overflowChange
        guard !changes.isEmpty else { return }
        (indices, counts) = try SparseMerge.merge(keys: indices, counts: counts, changes: changes, absent: absent)
    }
}

/// Two-pointer merges of ascending sparse lists.
private enum SparseMerge {
    static func merge<Key: Comparable>(keys: [Key], counts: [Int], changes: [(index: Key, delta: Int)],
                                       absent: (Key) -> CalibrationError) throws -> ([Key], [Int]) {
        var mergedKeys: [Key] = []
        var mergedCounts: [Int] = []
        mergedKeys.reserveCapacity(keys.count + changes.count)
        mergedCounts.reserveCapacity(keys.count + changes.count)
        var position = 0
        for change in changes {
            while position < keys.count && keys[position] < change.index {
                mergedKeys.append(keys[position])
                mergedCounts.append(counts[position])
                position += 1
            }
            var value = change.delta
            if position < keys.count && keys[position] == change.index {
                value += counts[position]
                position += 1
            }
            guard value >= 0 else { throw absent(change.index) }
            if value > 0 {
                mergedKeys.append(change.index)
                mergedCounts.append(value)
            }
        }
        mergedKeys.append(contentsOf: keys[position...])
        mergedCounts.append(contentsOf: counts[position...])
        return (mergedKeys, mergedCounts)
    }

    /// Signed changes per key, ascending, zero sums left out.
    static func folded<Key: Comparable>(_ entries: [(Key, Int)]) -> [(index: Key, delta: Int)] {
        var folded: [(index: Key, delta: Int)] = []
        for (key, delta) in entries.sorted(by: { $0.0 < $1.0 }) {
            if let last = folded.last, last.index == key {
                folded[folded.count - 1].delta += delta
            } else {
                folded.append((key, delta))
            }
        }
        return folded.filter { $0.delta != 0 }
    }
}

/// One row in its binary form's terms, validated as `CohortStatistics.init(encoded:layout:)` validates.
struct SparseRow {
    let layout: StatisticsLayout
    var unknown = 0
    var genuine = SparseHistogram()
    var impostor = SparseHistogram()
    var tailScores: [Double] = []
    var tailGroups: [UInt8] = []
    var cellKeys: [Int] = []
    var cellCounts: [Int] = []

    /// Geometry of the coarse cells below the tail, as `ImpostorSubjects` lays them out.
    private let fineBinsPerCoarseBin: Int
    private let coarseBinCount: Int

    init(layout: StatisticsLayout) {
        self.layout = layout
        // As `ImpostorSubjects` lays the cells out, without building one per row.
        fineBinsPerCoarseBin = max(1, Int(ImpostorSubjects.coarseBinWidth / layout.grid.binWidth))
        coarseBinCount = max(1, (layout.tailFloorEdgeIndex + fineBinsPerCoarseBin - 1) / fineBinsPerCoarseBin)
    }

    var outcomeCount: Int { unknown + genuine.total + impostor.total }

    /// One more than the largest cell key: coarse bins below the floor × groups.
    var cellKeyLimit: Int { coarseBinCount * ImpostorSubjects.groupCount }

    /// `checkingAgreement: false` only for bytes this process encoded itself (a
    /// `PackedCohortStatistics`): the per-bin agreement of tail, cells and histogram holds by
    /// construction there, and checking it again was an eighth of a computation's time.
    /// `readingCells: false` (own bytes only) stops after the tail: what score statistics need.
    init(encoded bytes: [UInt8], layout: StatisticsLayout, checkingAgreement: Bool = true, readingCells: Bool = true) throws {
        self.init(layout: layout)
        var reader = ByteReader(bytes: bytes)
        let version = try reader.byte()
        guard version == CohortStatistics.encodingVersion else { throw ByteReader.corrupt("unknown version \(version)") }
        let grid = layout.grid
        guard try reader.fixed64() == grid.lowerBound.bitPattern, try reader.fixed64() == grid.binWidth.bitPattern,
              try reader.count() == grid.binCount, try reader.fixed64() == layout.tailFloor.bitPattern else {
            throw CalibrationError.incompatibleStatistics
        }
        unknown = try reader.count()
        genuine = try SparseHistogram(reader: &reader, binCount: grid.binCount)
        impostor = try SparseHistogram(reader: &reader, binCount: grid.binCount)
        let tailLength = try reader.count()
        guard tailLength <= reader.remaining / 9 else { throw ByteReader.corrupt("tail longer than the bytes") }
        tailScores.reserveCapacity(tailLength)
        tailGroups.reserveCapacity(tailLength)
        for _ in 0..<tailLength {
            let score = Double(bitPattern: try reader.fixed64())
            let group = try reader.byte()
            guard score.isFinite, score >= layout.tailFloor, score != 0 || score.sign == .plus else {
                throw ByteReader.corrupt("tail score \(score) is not a finite score at or above the floor")
            }
            if let last = tailScores.last, let lastGroup = tailGroups.last,
               !ImpostorSubjects.precedes(last, lastGroup, score, group) && !(last == score && lastGroup == group) {
                throw ByteReader.corrupt("tail is not sorted")
            }
            tailScores.append(score)
            tailGroups.append(group)
        }
        guard readingCells else { return }
        let cellCount = try reader.count()
        let keyLimit = coarseBinCount * ImpostorSubjects.groupCount
        guard cellCount <= keyLimit, cellCount <= reader.remaining / 2 else { throw ByteReader.corrupt("\(cellCount) cells below the tail") }
        var key = -1
        for _ in 0..<cellCount {
            let gap = try reader.count()
            guard gap >= 1, gap < keyLimit - key else { throw ByteReader.corrupt("cell key out of range") }
            key += gap
            let count = try reader.count()
            guard count > 0 else { throw ByteReader.corrupt("zero count listed") }
            cellKeys.append(key)
            cellCounts.append(count)
        }
        guard reader.remaining == 0 else { throw ByteReader.corrupt("\(reader.remaining) bytes after the end") }
        if checkingAgreement { try checkAgreement() }
    }

    /// The tail holds exactly the impostor histogram's scores at and above the floor, and the
    /// cells exactly its scores below, per coarse bin.
    private func checkAgreement() throws {
        let floorIndex = layout.tailFloorEdgeIndex
        let grid = layout.grid
        // Tail scores are ascending, so their bins are too: compare run by run with the bins at and above the floor.
        var binPosition = impostor.indices.firstIndex { $0 >= floorIndex } ?? impostor.indices.count
        var tailPosition = 0
        var overflowSeen = 0
        // One placement per score: the run of a slot ends at the first score placed elsewhere.
        var nextSlot = tailScores.isEmpty ? -1 : Self.slot(of: tailScores[0], grid: grid)
        while tailPosition < tailScores.count {
            let slot = nextSlot
            guard slot >= 0 else { throw ByteReader.corrupt("tail score below the grid") }
            var run = 0
            while tailPosition < tailScores.count {
                run += 1
                tailPosition += 1
                nextSlot = tailPosition < tailScores.count ? Self.slot(of: tailScores[tailPosition], grid: grid) : -1
                if nextSlot != slot { break }
            }
            if slot == Int.max {
                overflowSeen = run
            } else {
                guard binPosition < impostor.indices.count, impostor.indices[binPosition] == slot, impostor.counts[binPosition] == run else {
                    throw ByteReader.corrupt("tail and impostor histogram disagree")
                }
                binPosition += 1
            }
        }
        guard binPosition == impostor.indices.count, overflowSeen == impostor.overflow else {
            throw ByteReader.corrupt("tail and impostor histogram disagree")
        }
        // Per coarse bin, ascending on both sides (bins and cell keys are both sorted): the
        // impostors below the floor (underflow in bin 0) against the cells, without a dense array.
        var bin = 0
        var cell = 0
        var coarse = 0
        var binsSum = impostor.underflow
        while true {
            while bin < impostor.indices.count, impostor.indices[bin] < floorIndex, impostor.indices[bin] / fineBinsPerCoarseBin == coarse {
                binsSum += impostor.counts[bin]
                bin += 1
            }
            var cellsSum = 0
            while cell < cellKeys.count, cellKeys[cell] / ImpostorSubjects.groupCount == coarse {
                cellsSum += cellCounts[cell]
                cell += 1
            }
            guard binsSum == cellsSum else { throw ByteReader.corrupt("cells below the tail and impostor histogram disagree") }
            let nextBin = bin < impostor.indices.count && impostor.indices[bin] < floorIndex ? impostor.indices[bin] / fineBinsPerCoarseBin : Int.max
            let nextCell = cell < cellKeys.count ? cellKeys[cell] / ImpostorSubjects.groupCount : Int.max
            coarse = min(nextBin, nextCell)
            guard coarse != Int.max else { return }
            binsSum = 0
        }
    }

    private static func slot(of score: Double, grid: ScoreGrid) -> Int {
        switch grid.placement(of: score) {
        case .bin(let index): return index
        case .overflow: return Int.max
        case .underflow: return -1
        }
    }

    mutating func apply(_ change: CohortStatisticsChange) throws {
        let grid = layout.grid
        var genuineBins: [(Int, Int)] = [], impostorBins: [(Int, Int)] = [], cells: [(Int, Int)] = []
        var genuineEnds = (under: 0, over: 0), impostorEnds = (under: 0, over: 0), unknownChange = 0
        var tailAdded: [(Double, UInt8)] = [], tailRemoved: [(Double, UInt8)] = []
        for (entries, sign) in [(change.added, 1), (change.removed, -1)] {
            for entry in entries {
                switch entry.label {
                case .unknown:
                    unknownChange += sign
                case .genuine:
                    switch grid.placement(of: entry.score) {
                    case .underflow: genuineEnds.under += sign
                    case .overflow: genuineEnds.over += sign
                    case .bin(let index): genuineBins.append((index, sign))
                    }
                case .impostor:
                    switch grid.placement(of: entry.score) {
                    case .underflow: impostorEnds.under += sign
                    case .overflow: impostorEnds.over += sign
                    case .bin(let index): impostorBins.append((index, sign))
                    }
                    if entry.score >= layout.tailFloor {
                        if sign > 0 { tailAdded.append((entry.score, entry.group)) } else { tailRemoved.append((entry.score, entry.group)) }
                    } else {
                        cells.append((coarseBin(of: entry.score) * ImpostorSubjects.groupCount + Int(entry.group), sign))
                    }
                }
            }
        }
        guard unknown + unknownChange >= 0 else {
            throw CalibrationError.removalOfAbsentUnknownOutcomes(have: unknown, removing: -unknownChange)
        }
        let absent = { (index: Int) in CalibrationError.removalOfAbsentScore(index < 0 ? grid.lowerBound : index == Int.max ? grid.upperBound : grid.edge(index)) }
        try genuine.apply(SparseMerge.folded(genuineBins), underflow: genuineEnds.under, overflow: genuineEnds.over, absent: absent)
        try impostor.apply(SparseMerge.folded(impostorBins), underflow: impostorEnds.under, overflow: impostorEnds.over, absent: absent)
        let cellChanges = SparseMerge.folded(cells)
        if !cellChanges.isEmpty {
            (cellKeys, cellCounts) = try SparseMerge.merge(keys: cellKeys, counts: cellCounts, changes: cellChanges, absent: { key in
                CalibrationError.removalOfAbsentScore(grid.edge(key / ImpostorSubjects.groupCount * fineBinsPerCoarseBin))
            })
        }
        try applyToTail(added: tailAdded, removed: tailRemoved)
        unknown += unknownChange
    }

    /// The tail as a multiset: additions merged in, then each removal taking one equal entry.
    private mutating func applyToTail(added: [(Double, UInt8)], removed: [(Double, UInt8)]) throws {
        guard !added.isEmpty || !removed.isEmpty else { return }
        let precedes = { (a: (Double, UInt8), b: (Double, UInt8)) in ImpostorSubjects.precedes(a.0, a.1, b.0, b.1) }
        let additions = added.sorted(by: precedes), removals = removed.sorted(by: precedes)
        var scores: [Double] = [], groups: [UInt8] = []
        scores.reserveCapacity(tailScores.count + additions.count)
        groups.reserveCapacity(tailScores.count + additions.count)
        var stored = 0, adding = 0, removing = 0
        while stored < tailScores.count || adding < additions.count {
            let next: (Double, UInt8)
            if adding < additions.count,
               stored == tailScores.count || precedes(additions[adding], (tailScores[stored], tailGroups[stored])) {
                next = additions[adding]
                adding += 1
            } else {
                next = (tailScores[stored], tailGroups[stored])
                stored += 1
            }
            if removing < removals.count, removals[removing] == next {
                removing += 1
                continue
            }
            guard removing == removals.count || precedes(next, removals[removing]) else {
                throw CalibrationError.removalOfAbsentScore(removals[removing].0)
            }
            scores.append(next.0)
            groups.append(next.1)
        }
        guard removing == removals.count else { throw CalibrationError.removalOfAbsentScore(removals[removing].0) }
        tailScores = scores
        tailGroups = groups
    }

    private func coarseBin(of score: Double) -> Int {
        switch layout.grid.placement(of: score) {
        case .underflow: return 0
        case .bin(let index): return index / fineBinsPerCoarseBin
        case .overflow: return coarseBinCount - 1
        }
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(64 + tailScores.count * 9 + (genuine.indices.count + impostor.indices.count + cellKeys.count) * 4)
        writer.header(layout: layout, unknown: unknown)
        genuine.write(to: &writer)
        impostor.write(to: &writer)
        writer.varint(UInt64(tailScores.count))
        for (score, group) in zip(tailScores, tailGroups) {
            writer.fixed64(score.bitPattern)
            writer.byte(group)
        }
        writer.varint(UInt64(cellKeys.count))
        var previous = -1
        for (key, count) in zip(cellKeys, cellCounts) {
            writer.varint(UInt64(key - previous))
            writer.varint(UInt64(count))
            previous = key
        }
        return writer.bytes
    }
}
