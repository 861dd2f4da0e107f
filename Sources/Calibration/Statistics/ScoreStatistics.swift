/// Mergeable, erasable score statistics for one (model version, cohort): genuine and
/// impostor histograms, the exact impostor tail, and the count of unknown outcomes.
///
/// Built incrementally from batches, merged across kiosks or time windows by addition, and
/// decremented exactly when a subject's outcomes are erased. Every mutation is all or
/// nothing: a batch with a NaN or an infinity, or an erasure of outcomes that were never
/// added, throws and leaves the statistics unchanged. Statistics built from shuffled chunks
/// and merged are equal (`==`) to statistics built in one pass. Decoding checks that the
/// parts agree with the layout and with each other, so stored statistics cannot break the
/// invariants the threshold walk relies on.
///
/// ```swift
/// var statistics = ScoreStatistics(layout: layout)
/// try statistics.add(contentsOf: [(0.81, .genuine), (0.12, .impostor), (0.4, .unknown)])
/// try statistics.remove(contentsOf: [(0.12, .impostor)])   // erasure
/// let fmr3 = try statistics.falseMatchThreshold(target: 1e-3)
/// ```
public struct ScoreStatistics: Sendable, Hashable, Codable {
    public let layout: StatisticsLayout
    public private(set) var genuine: ScoreHistogram
    public private(set) var impostor: ScoreHistogram
    public private(set) var impostorTail: ExactTail
    public private(set) var unknownCount: Int

    public init(layout: StatisticsLayout) {
        self.layout = layout
        genuine = ScoreHistogram(grid: layout.grid)
        impostor = ScoreHistogram(grid: layout.grid)
        impostorTail = ExactTail(floor: layout.tailFloor)
        unknownCount = 0
    }

    private enum CodingKeys: String, CodingKey { case layout, genuine, impostor, impostorTail, unknownCount }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        layout = try container.decode(StatisticsLayout.self, forKey: .layout)
        genuine = try container.decode(ScoreHistogram.self, forKey: .genuine)
        impostor = try container.decode(ScoreHistogram.self, forKey: .impostor)
        impostorTail = try container.decode(ExactTail.self, forKey: .impostorTail)
        unknownCount = try container.decode(Int.self, forKey: .unknownCount)
        let consistent = genuine.grid == layout.grid && impostor.grid == layout.grid
            && impostorTail.floor == layout.tailFloor && unknownCount >= 0
            && impostorTail.count == impostor.count(atOrAboveEdge: layout.tailFloorEdgeIndex)
        guard consistent else {
            throw DecodingError.dataCorruptedError(
                forKey: .impostorTail, in: container,
                debugDescription: "histograms, tail and layout disagree")
        }
    }

    public var genuineCount: Int { genuine.total }
    public var impostorCount: Int { impostor.total }

    /// Adds one outcome; throws `.nanScore` for NaN, `.nonFiniteScore` for ±∞, whatever the label.
    public mutating func add(score: Double, label: ScoreLabel) throws {
        try Self.check(score)
        switch label {
        case .genuine:
            try genuine.add(score)
        case .impostor:
            try impostor.add(score)
            impostorTail.insert(score)
        case .unknown:
            unknownCount += 1
        }
    }

    /// Adds a batch, all or nothing: one NaN rejects the whole batch.
    public mutating func add(contentsOf outcomes: some Sequence<(score: Double, label: ScoreLabel)>) throws {
        let batch = try ScoreStatistics(layout: layout, outcomes: outcomes)
        try merge(batch)
    }

    /// Adds a batch of scores with one label, all or nothing (the fast path for large batches).
    public mutating func add(_ scores: [Double], label: ScoreLabel) throws {
        try merge(ScoreStatistics(layout: layout, scores: scores, label: label))
    }

    /// Removes a batch of scores with one label (an erasure), all or nothing.
    public mutating func remove(_ scores: [Double], label: ScoreLabel) throws {
        try subtract(ScoreStatistics(layout: layout, scores: scores, label: label))
    }

    /// Removes one outcome that was added before; throws `.removalOfAbsentScore` otherwise,
    /// changing nothing.
    public mutating func remove(score: Double, label: ScoreLabel) throws {
        try Self.check(score)
        switch label {
        case .genuine:
            try genuine.remove(score)
        case .impostor:
            // The tail first: if the score is absent there, nothing has changed yet.
            try impostorTail.remove(score)
            do {
                try impostor.remove(score)
            } catch {
                impostorTail.insert(score)
                throw error
            }
        case .unknown:
            guard unknownCount > 0 else { throw CalibrationError.removalOfAbsentUnknownOutcomes(have: 0, removing: 1) }
            unknownCount -= 1
        }
    }

    /// Removes a batch of outcomes (an erasure), all or nothing.
    public mutating func remove(contentsOf outcomes: some Sequence<(score: Double, label: ScoreLabel)>) throws {
        let batch = try ScoreStatistics(layout: layout, outcomes: outcomes)
        try subtract(batch)
    }

    /// Adds another statistic with the same layout (another kiosk, another day).
    public mutating func merge(_ other: ScoreStatistics) throws {
        guard other.layout == layout else { throw CalibrationError.incompatibleStatistics }
        var merged = self
        try merged.genuine.merge(other.genuine)
        try merged.impostor.merge(other.impostor)
        try merged.impostorTail.merge(other.impostorTail)
        merged.unknownCount += other.unknownCount
        self = merged
    }

    /// Adds a stored row's validated parts in place (see `CohortStatistics.merge(encoded:)`).
    mutating func add(genuine sparseGenuine: SparseHistogram, impostor sparseImpostor: SparseHistogram, tail: [Double], unknown: Int) throws {
        genuine.add(sparseIndices: sparseGenuine.indices, counts: sparseGenuine.counts, underflow: sparseGenuine.underflow,
                    overflow: sparseGenuine.overflow)
        impostor.add(sparseIndices: sparseImpostor.indices, counts: sparseImpostor.counts, underflow: sparseImpostor.underflow,
                     overflow: sparseImpostor.overflow)
        try impostorTail.merge(ExactTail(floor: layout.tailFloor, sortedScores: tail))
        unknownCount += unknown
    }

    /// Empties the statistics in place, keeping the histograms' storage.
    mutating func removeAll() {
        genuine.removeAll()
        impostor.removeAll()
        impostorTail = ExactTail(floor: layout.tailFloor)
        unknownCount = 0
    }

    /// Subtracts statistics that were part of these, all or nothing.
    public mutating func subtract(_ other: ScoreStatistics) throws {
        guard other.layout == layout else { throw CalibrationError.incompatibleStatistics }
        guard other.unknownCount <= unknownCount else {
            throw CalibrationError.removalOfAbsentUnknownOutcomes(have: unknownCount, removing: other.unknownCount)
        }
        var reduced = self
        try reduced.genuine.subtract(other.genuine)
        try reduced.impostor.subtract(other.impostor)
        try reduced.impostorTail.subtract(other.impostorTail)
        reduced.unknownCount -= other.unknownCount
        self = reduced
    }

    /// The sum of several statistics with one layout.
    public static func merged(_ parts: some Sequence<ScoreStatistics>, layout: StatisticsLayout) throws -> ScoreStatistics {
        var total = ScoreStatistics(layout: layout)
        for part in parts { try total.merge(part) }
        return total
    }

    /// Statistics of scores that share one label; throws `.nanScore` / `.nonFiniteScore` before counting anything.
    public init(layout: StatisticsLayout, scores: [Double], label: ScoreLabel) throws {
        self.init(layout: layout)
        for score in scores where !score.isFinite { try Self.check(score) }
        switch label {
        case .genuine:
            for score in scores { genuine.addChecked(score) }
        case .impostor:
            for score in scores { impostor.addChecked(score) }
            impostorTail.insert(contentsOf: scores)
        case .unknown:
            unknownCount = scores.count
        }
    }

    /// Refuses NaN and infinities.
    static func check(_ score: Double) throws {
        guard !score.isNaN else { throw CalibrationError.nanScore }
        guard score.isFinite else { throw CalibrationError.nonFiniteScore(score) }
    }

    /// Statistics of a batch of outcomes; throws `.nanScore` / `.nonFiniteScore` before counting anything.
    public init(layout: StatisticsLayout, outcomes: some Sequence<(score: Double, label: ScoreLabel)>) throws {
        self.init(layout: layout)
        var tailScores: [Double] = []
        for outcome in outcomes {
            if !outcome.score.isFinite { try Self.check(outcome.score) }
            switch outcome.label {
            case .genuine:
                genuine.addChecked(outcome.score)
            case .impostor:
                impostor.addChecked(outcome.score)
                if impostorTail.keeps(outcome.score) { tailScores.append(outcome.score) }
            case .unknown:
                unknownCount += 1
            }
        }
        impostorTail.insert(contentsOf: tailScores)
    }
}
