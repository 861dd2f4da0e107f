/// The live statistics of one (model version, camera model, site) over one time bucket: the
/// score statistics thresholds and drift are computed from, and the impostor attempts' subject
/// groups the subject-level bound resamples.
///
/// This is what the server keeps per cohort and day (and month), updated with every stored
/// batch and decremented exactly on erasure, so that a threshold computation reads a few rows
/// per cohort instead of every outcome. Merging buckets is addition; every mutation is all or
/// nothing, so statistics built from shuffled chunks and merged are `==` to one pass, and
/// removing outcomes gives `==` the statistics that never had them.
///
/// ```swift
/// var day = CohortStatistics(layout: CohortStatistics.liveLayout)
/// try day.add(score: 0.93, label: .impostor, subject: "p-17")
/// let bytes = day.encoded()                         // what the store keeps
/// let back = try CohortStatistics(encoded: bytes, layout: CohortStatistics.liveLayout)
/// back == day                                       // true
/// ```
public struct CohortStatistics: Sendable, Hashable {
    /// The layout every live statistic of a deployment shares: the cosine grid, with the exact
    /// tail from 0.888671875 (7280 × 2^-13) up. On dlib descriptors the impostor FMR there is
    /// 5.5 % (310 LFW people, all 3.4 M cross-person pairs; docs/calibration.md), so thresholds
    /// at targets up to about 5e-2 are bob.measure-exact and the tail keeps about one impostor
    /// in eighteen.
    public static let liveLayout: StatisticsLayout = {
        do {
            return try StatisticsLayout(grid: .cosine, tailFloor: 0x1.C7p-1)
        } catch {
            fatalError("0.888671875 is an edge of the cosine grid: \(error)")
        }
    }()

    public private(set) var scores: ScoreStatistics
    public private(set) var impostorSubjects: ImpostorSubjects

    public init(layout: StatisticsLayout) {
        scores = ScoreStatistics(layout: layout)
        impostorSubjects = ImpostorSubjects(layout: layout)
    }

    public var layout: StatisticsLayout { scores.layout }

    /// No outcome of any label.
    public var isEmpty: Bool { outcomeCount == 0 }

    /// Outcomes of every label, unknown included.
    public var outcomeCount: Int { scores.genuineCount + scores.impostorCount + scores.unknownCount }

    /// Counts one outcome of `subject`; throws `.nanScore` / `.nonFiniteScore`, changing nothing.
    public mutating func add(score: Double, label: ScoreLabel, subject: String) throws {
        try ScoreStatistics.check(score)
        // −0.0 and 0.0 are one score; one bit pattern keeps the encoding canonical.
        let score = score == 0 ? 0 : score
        try scores.add(score: score, label: label)
        if label == .impostor {
            impostorSubjects.add(checkedScore: score, group: ImpostorSubjects.group(of: subject))
        }
    }

    /// Uncounts one outcome that was counted before with the same score, label and subject;
    /// throws `.removalOfAbsentScore` (or `.removalOfAbsentUnknownOutcomes`), changing nothing,
    /// when there is none.
    public mutating func remove(score: Double, label: ScoreLabel, subject: String) throws {
        try ScoreStatistics.check(score)
        let score = score == 0 ? 0 : score
        var reduced = self
        if label == .impostor {
            try reduced.impostorSubjects.remove(checkedScore: score, group: ImpostorSubjects.group(of: subject))
        }
        try reduced.scores.remove(score: score, label: label)
        self = reduced
    }

    /// Adds a stored row's binary form, validated as `init(encoded:layout:)` validates it,
    /// without building the row's dense histograms or copying these: the read path of a window.
    public mutating func merge(encoded bytes: [UInt8]) throws {
        try add(SparseRow(encoded: bytes, layout: layout))
    }

    /// Adds a validated row in place.
    private mutating func add(_ row: SparseRow) throws {
        try scores.add(genuine: row.genuine, impostor: row.impostor, tail: row.tailScores, unknown: row.unknown)
        try impostorSubjects.merge(ImpostorSubjects(layout: layout, tailScores: row.tailScores, tailGroups: row.tailGroups,
                                                    coarseKeys: row.cellKeys.map { UInt32($0) }, coarseCounts: row.cellCounts))
    }

    /// Empties these statistics and keeps their storage, so that an accumulator merging one
    /// cohort after another reuses its two histograms instead of allocating (and faulting in)
    /// 256 KiB per cohort.
    public mutating func removeAll() {
        scores.removeAll()
        impostorSubjects = ImpostorSubjects(layout: layout)
    }

    /// Adds another bucket's or cohort's statistics (same layout).
    public mutating func merge(_ other: CohortStatistics) throws {
        guard other.layout == layout else { throw CalibrationError.incompatibleStatistics }
        try scores.merge(other.scores)
        try impostorSubjects.merge(other.impostorSubjects)
    }

    /// Subtracts statistics that were counted here, all or nothing.
    public mutating func subtract(_ other: CohortStatistics) throws {
        guard other.layout == layout else { throw CalibrationError.incompatibleStatistics }
        var reduced = self
        try reduced.scores.subtract(other.scores)
        try reduced.impostorSubjects.subtract(other.impostorSubjects)
        self = reduced
    }

    /// The sum of several statistics with one layout.
    public static func merged(_ parts: some Sequence<CohortStatistics>, layout: StatisticsLayout) throws -> CohortStatistics {
        var total = CohortStatistics(layout: layout)
        for part in parts { try total.merge(part) }
        return total
    }
}

// MARK: - Binary form

extension CohortStatistics {
    /// The current version of the binary form (its first byte).
    static let encodingVersion: UInt8 = 1

    /// The compact binary form the store keeps, little-endian throughout:
    ///
    ///     version (1 byte, 1)
    ///     layout: grid lower bound, bin width (IEEE-754 bits, 8 bytes each), bin count (varint),
    ///             tail floor (IEEE-754 bits, 8 bytes)
    ///     unknown count (varint)
    ///     genuine histogram, impostor histogram: underflow, overflow, number of non-empty bins
    ///             (varints), then per non-empty bin ascending: index gap from the previous
    ///             non-empty bin (the first from −1), count (varints)
    ///     tail: length (varint), then per entry ascending by (score, group): score (IEEE-754
    ///             bits, 8 bytes), group (1 byte)
    ///     below the tail: number of non-empty (coarse bin, group) cells (varint), then per cell
    ///             ascending by key (coarse bin × 256 + group): key gap from the previous key
    ///             (the first from −1), count (varints)
    ///
    /// Varints are unsigned LEB128. The tail's scores are the exact tail of `scores` and of
    /// `impostorSubjects` at once (both hold the same sorted scores), so each is written once.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(64 + impostorSubjects.tailScores.count * 9)
        writer.header(layout: layout, unknown: scores.unknownCount)
        for histogram in [scores.genuine, scores.impostor] {
            writer.varint(UInt64(histogram.underflow))
            writer.varint(UInt64(histogram.overflow))
            writer.sparse(histogram.counts)
        }
        writer.varint(UInt64(impostorSubjects.tailScores.count))
        for (score, group) in zip(impostorSubjects.tailScores, impostorSubjects.tailGroups) {
            writer.fixed64(score.bitPattern)
            writer.byte(group)
        }
        writer.varint(UInt64(impostorSubjects.coarseKeys.count))
        var previous: Int64 = -1
        for (key, count) in zip(impostorSubjects.coarseKeys, impostorSubjects.coarseCounts) {
            writer.varint(UInt64(Int64(key) - previous))
            writer.varint(UInt64(count))
            previous = Int64(key)
        }
        return writer.bytes
    }

    /// Decodes the binary form, checking every invariant the computations rely on: the layout
    /// matches, counts are non-negative, the tail is sorted by (score, group), finite, at or above
    /// the floor, and per bin agrees with the impostor histogram, and the coarse cells below the
    /// floor are ascending, positive, and per coarse bin add up to the impostor histogram's
    /// count there. Throws
    /// `.invalidParameter("statistics encoding: …")` otherwise.
    public init(encoded bytes: [UInt8], layout: StatisticsLayout) throws {
        self.init(layout: layout)
        try add(SparseRow(encoded: bytes, layout: layout))
    }

    /// Decodes bytes this process encoded (`PackedCohortStatistics`), skipping the agreement check.
    init(ownEncoding bytes: [UInt8], layout: StatisticsLayout) throws {
        self.init(layout: layout)
        try add(SparseRow(encoded: bytes, layout: layout, checkingAgreement: false))
    }
}

/// Appends the binary form's fields.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    /// What every encoded cohort starts with: the version, the layout and the unknown count.
    mutating func header(layout: StatisticsLayout, unknown: Int) {
        byte(CohortStatistics.encodingVersion)
        let grid = layout.grid
        fixed64(grid.lowerBound.bitPattern)
        fixed64(grid.binWidth.bitPattern)
        varint(UInt64(grid.binCount))
        fixed64(layout.tailFloor.bitPattern)
        varint(UInt64(unknown))
    }

    mutating func fixed64(_ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// The non-zero entries of `counts` as (index gap, count) pairs after their number. Two
    /// passes over the dense counts and no index array: packing a window encodes one
    /// 16,384-bin histogram pair per cohort.
    mutating func sparse(_ counts: [Int]) {
        counts.withUnsafeBufferPointer { counts in
            var nonzero = 0
            for count in counts where count != 0 { nonzero += 1 }
            varint(UInt64(nonzero))
            var previous = -1
            for index in counts.indices where counts[index] != 0 {
                varint(UInt64(index - previous))
                varint(UInt64(counts[index]))
                previous = index
            }
        }
    }
}

/// Reads the binary form's fields, refusing truncated or out-of-range input.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0

    var remaining: Int { bytes.count - offset }

    static func corrupt(_ why: String) -> CalibrationError {
        .invalidParameter("statistics encoding: \(why)")
    }

    mutating func byte() throws -> UInt8 {
        guard offset < bytes.count else { throw Self.corrupt("truncated") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func fixed64() throws -> UInt64 {
        guard remaining >= 8 else { throw Self.corrupt("truncated") }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << UInt64(8 * index) }
        offset += 8
        return value
    }

    mutating func varint() throws -> UInt64 {
        // Most varints of the form (bin gaps, small counts) are one byte.
        if offset < bytes.count, bytes[offset] < 0x80 {
            offset += 1
            return UInt64(bytes[offset - 1])
        }
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let next = try byte()
            guard shift < 64, shift < 63 || next <= 1 else { throw Self.corrupt("varint overflows 64 bits") }
            value |= UInt64(next & 0x7F) << shift
            if next & 0x80 == 0 {
                // One canonical form per value: no trailing zero groups.
                guard next != 0 || shift == 0 else { throw Self.corrupt("varint is not minimal") }
                return value
            }
            shift += 7
        }
    }

    /// A varint that is a count: at most 2^40, so sums over a histogram stay far from overflow.
    mutating func count() throws -> Int {
        let value = try varint()
        guard value <= 1 << 40 else { throw Self.corrupt("count \(value) is out of range") }
        return Int(value)
    }
}
