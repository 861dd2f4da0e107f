/// Exact integer counts of scores on a `ScoreGrid`: merge by addition, erase by subtraction.
///
/// Counts never go below zero: a subtraction that would is refused whole. Memory is one
/// `Int` per bin (128 KiB on `ScoreGrid.cosine`); the encoded form lists only non-empty bins.
///
/// ```swift
/// var histogram = ScoreHistogram(grid: .cosine)
/// try histogram.add(0.42)
/// try histogram.remove(0.42)   // back to empty; removing again throws
/// ```
public struct ScoreHistogram: Sendable, Hashable {
    public let grid: ScoreGrid
    /// Count per bin.
    public private(set) var counts: [Int]
    /// Scores below `grid.lowerBound`.
    public private(set) var underflow: Int
    /// Scores at or above `grid.upperBound`.
    public private(set) var overflow: Int
    /// All scores counted.
    public private(set) var total: Int

    public init(grid: ScoreGrid) {
        self.grid = grid
        counts = Array(repeating: 0, count: grid.binCount)
        underflow = 0
        overflow = 0
        total = 0
    }

    /// Counts one score; throws `.nanScore` for NaN.
    public mutating func add(_ score: Double) throws {
        guard !score.isNaN else { throw CalibrationError.nanScore }
        adjust(grid.placement(of: score), by: 1)
    }

    /// Counts one score already checked not to be NaN (the batch path).
    @inline(__always)
    mutating func addChecked(_ score: Double) {
        adjust(grid.placement(of: score), by: 1)
    }

    /// Uncounts one score; throws `.removalOfAbsentScore` if its bin is empty.
    public mutating func remove(_ score: Double) throws {
        guard !score.isNaN else { throw CalibrationError.nanScore }
        let placement = grid.placement(of: score)
        guard count(at: placement) > 0 else { throw CalibrationError.removalOfAbsentScore(score) }
        adjust(placement, by: -1)
    }

    /// Adds another histogram's counts; throws `.incompatibleStatistics` on another grid.
    public mutating func merge(_ other: ScoreHistogram) throws {
        guard other.grid == grid else { throw CalibrationError.incompatibleStatistics }
        for index in counts.indices { counts[index] += other.counts[index] }
        underflow += other.underflow
        overflow += other.overflow
        total += other.total
    }

    /// Subtracts another histogram's counts, all or nothing; throws if any count would go negative.
    public mutating func subtract(_ other: ScoreHistogram) throws {
        guard other.grid == grid else { throw CalibrationError.incompatibleStatistics }
        guard other.underflow <= underflow, other.overflow <= overflow else {
            throw CalibrationError.removalOfAbsentScore(other.underflow > underflow ? grid.lowerBound : grid.upperBound)
        }
        for index in counts.indices where other.counts[index] > counts[index] {
            throw CalibrationError.removalOfAbsentScore(grid.edge(index))
        }
        for index in counts.indices { counts[index] -= other.counts[index] }
        underflow -= other.underflow
        overflow -= other.overflow
        total -= other.total
    }

    /// Number of scores `>= grid.edge(index)`, for `index` in `0...binCount`.
    /// Adds a validated sparse histogram (ascending in-range indices, positive counts) in
    /// place: reading a window merges hundreds of stored rows into one accumulator, and neither
    /// a dense copy per row nor a copy of the accumulator per merge is affordable there.
    mutating func add(sparseIndices indices: [Int], counts sparseCounts: [Int], underflow addedUnderflow: Int, overflow addedOverflow: Int) {
        var added = addedUnderflow + addedOverflow
        counts.withUnsafeMutableBufferPointer { counts in
            for (index, count) in zip(indices, sparseCounts) {
                counts[index] += count
                added += count
            }
        }
        underflow += addedUnderflow
        overflow += addedOverflow
        total += added
    }

    /// Zeroes every count in place, keeping the storage (an accumulator reused cohort after cohort).
    mutating func removeAll() {
        counts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        underflow = 0
        overflow = 0
        total = 0
    }

    public func count(atOrAboveEdge index: Int) -> Int {
        counts[index...].reduce(overflow, +)
    }

    func count(at placement: ScoreGrid.Placement) -> Int {
        switch placement {
        case .underflow: return underflow
        case .bin(let index): return counts[index]
        case .overflow: return overflow
        }
    }

    private mutating func adjust(_ placement: ScoreGrid.Placement, by delta: Int) {
        switch placement {
        case .underflow: underflow += delta
        case .bin(let index): counts[index] += delta
        case .overflow: overflow += delta
        }
        total += delta
    }
}

extension ScoreHistogram: Codable {
    private enum CodingKeys: String, CodingKey { case grid, underflow, overflow, bins }

    /// A non-empty bin in the encoded form.
    private struct Bin: Codable {
        var index: Int
        var count: Int
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(grid, forKey: .grid)
        try container.encode(underflow, forKey: .underflow)
        try container.encode(overflow, forKey: .overflow)
        let bins = counts.indices.filter { counts[$0] != 0 }.map { Bin(index: $0, count: counts[$0]) }
        try container.encode(bins, forKey: .bins)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(grid: try container.decode(ScoreGrid.self, forKey: .grid))
        underflow = try container.decode(Int.self, forKey: .underflow)
        overflow = try container.decode(Int.self, forKey: .overflow)
        for bin in try container.decode([Bin].self, forKey: .bins) {
            guard counts.indices.contains(bin.index), bin.count > 0 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .bins, in: container, debugDescription: "bin \(bin.index) count \(bin.count) is invalid")
            }
            counts[bin.index] += bin.count
        }
        guard underflow >= 0, overflow >= 0 else {
            throw DecodingError.dataCorruptedError(
                forKey: .underflow, in: container, debugDescription: "negative underflow or overflow")
        }
        total = counts.reduce(underflow + overflow, +)
    }
}
