/// A cohort's merged statistics kept in their binary form (`CohortStatistics.encoded()`): what a
/// window read holds per cohort until a computation needs the cohort.
///
/// The working form of `CohortStatistics` is two dense 16,384-bin histograms, about 260 KiB
/// per cohort whatever it holds; a window over 2,000 cohorts held that way is over 500 MB,
/// and drift holds two. The binary form lists only non-empty bins and cells (a few KiB at
/// 1,000 outcomes per cohort, tens of KiB at 100,000), so a window is held packed and each
/// cohort is unpacked only while it is being computed on, one per worker.
///
/// The binary form is canonical (ascending entries, no zero counts, minimal varints), so two
/// packed statistics are `==` exactly when their unpacked forms are.
///
/// ```swift
/// let packed = PackedCohortStatistics(merged)      // merged: a CohortStatistics
/// packed.impostorCount                             // without unpacking
/// try packed.unpacked() == merged                  // true
/// ```
public struct PackedCohortStatistics: Sendable, Hashable {
    public let layout: StatisticsLayout
    /// The binary form.
    public let bytes: [UInt8]
    public let genuineCount: Int
    public let impostorCount: Int
    public let unknownCount: Int

    public init(_ statistics: CohortStatistics) {
        layout = statistics.layout
        bytes = statistics.encoded()
        genuineCount = statistics.scores.genuineCount
        impostorCount = statistics.scores.impostorCount
        unknownCount = statistics.scores.unknownCount
    }

    /// Bytes written by `PackedCohortAccumulator.pack()`, with the counts it added up.
    init(layout: StatisticsLayout, bytes: [UInt8], genuineCount: Int, impostorCount: Int, unknownCount: Int) {
        self.layout = layout
        self.bytes = bytes
        self.genuineCount = genuineCount
        self.impostorCount = impostorCount
        self.unknownCount = unknownCount
    }

    /// Outcomes of every label, unknown included.
    public var outcomeCount: Int { genuineCount + impostorCount + unknownCount }

    /// No outcome of any label.
    public var isEmpty: Bool { outcomeCount == 0 }

    /// The working form. The bytes are always this type's own encoding (they are not settable),
    /// so the per-bin agreement `CohortStatistics(encoded:layout:)` checks on stored rows is not
    /// checked again; the structure still is.
    public func unpacked() throws -> CohortStatistics {
        try CohortStatistics(ownEncoding: bytes, layout: layout)
    }

    /// Only the score statistics (histograms and exact tail), without the impostor subject
    /// groups: what drift and the charts read.
    public func unpackedScores() throws -> ScoreStatistics {
        let row = try SparseRow(encoded: bytes, layout: layout, checkingAgreement: false, readingCells: false)
        var scores = ScoreStatistics(layout: layout)
        try scores.add(genuine: row.genuine, impostor: row.impostor, tail: row.tailScores, unknown: row.unknown)
        return scores
    }
}
