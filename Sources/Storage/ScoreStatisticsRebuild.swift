import Calibration
import Foundation
import Synchronization

/// The live score statistics of a window of UTC days, merged per cohort: what threshold
/// computation, drift and the calibration page read instead of outcome rows.
public struct LiveStatistics: Sendable, Equatable {
    /// Per (model version, camera model, site), the window's statistics merged, packed: a
    /// window over thousands of cohorts stays small, and each cohort is unpacked only while it
    /// is computed on.
    public var cohorts: [CohortKey: PackedCohortStatistics]
    /// The first and last day index (`StatisticsBuckets.day(of:)`) that hold an outcome in the
    /// window; nil when none does.
    public var firstDay: Int?
    public var lastDay: Int?

    public init(cohorts: [CohortKey: PackedCohortStatistics], firstDay: Int?, lastDay: Int?) {
        self.cohorts = cohorts
        self.firstDay = firstDay
        self.lastDay = lastDay
    }
}

/// Merges a window's stored rows into packed per-cohort statistics. Rows come in whatever order
/// reads the store fastest (SQLite: table order) and are kept as they are, grouped by cohort,
/// until they hold `pendingLimit` bytes; then (and at the end) each cohort's rows are added
/// into a dense accumulator with what was packed for it before and packed again, on every
/// core. Memory is at most `pendingLimit` of stored bytes plus the packed window.
struct PackedWindowBuilder {
    /// 16 MB: a whole-history read on 100 M outcomes is about 80 MB of stored rows.
    var pendingLimit = 16 << 20

    private var rows: [CohortKey: [[UInt8]]] = [:]
    private var pendingBytes = 0
    private var packed: [CohortKey: PackedCohortStatistics] = [:]

    /// Takes one stored row's binary form (validated when merged).
    mutating func add(_ key: CohortKey, encoded bytes: [UInt8]) throws {
        rows[key, default: []].append(bytes)
        pendingBytes += bytes.count
        if pendingBytes >= pendingLimit { try pack() }
    }

    /// The window, every cohort packed. Throws the first invalid row's error, in cohort order.
    mutating func finish() throws -> [CohortKey: PackedCohortStatistics] {
        try pack()
        return packed
    }

    /// Packs the pending rows of each cohort into its packed statistics.
    private mutating func pack() throws {
        let keys = rows.keys.sorted()
        let rows = rows
        let earlier = packed
        self.rows = [:]
        pendingBytes = 0
        let workers = min(keys.count, max(1, ProcessInfo.processInfo.activeProcessorCount))
        guard workers > 0 else { return }
        let results = Mutex([Int: Result<PackedCohortStatistics, any Error>]())
        // Each worker packs every `workers`-th cohort with its own accumulator.
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var accumulator = PackedCohortAccumulator(layout: CohortStatistics.liveLayout)
            var done: [Int: Result<PackedCohortStatistics, any Error>] = [:]
            for index in stride(from: worker, to: keys.count, by: workers) {
                done[index] = Result {
                    if let before = earlier[keys[index]] { try accumulator.merge(before) }
                    for row in rows[keys[index]] ?? [] { try accumulator.merge(encoded: row) }
                    return accumulator.pack()
                }
                if case .failure = done[index] { accumulator = PackedCohortAccumulator(layout: CohortStatistics.liveLayout) }
            }
            results.withLock { $0.merge(done) { first, _ in first } }
        }
        try results.withLock { results in
            for (index, key) in keys.enumerated() {
                guard let result = results[index] else { throw CalibrationError.invalidParameter("cohort \(key) was not packed") }
                packed[key] = try result.get()
            }
        }
    }
}

/// The time buckets statistics are kept in: UTC days, and UTC months named by their first day.
public enum StatisticsBuckets {
    public static let secondsPerDay = 86_400

    /// The day index of a time: whole UTC days since 1970-01-01 (negative before it).
    public static func day(of time: Date) -> Int {
        Int((time.timeIntervalSince1970 / Double(secondsPerDay)).rounded(.down))
    }

    /// The first second of a day index.
    public static func start(ofDay day: Int) -> Date {
        Date(timeIntervalSince1970: TimeInterval(day) * TimeInterval(secondsPerDay))
    }

    /// The day index of the first day of the UTC month holding `day` (the proleptic Gregorian
    /// calendar; H. Hinnant's days-from-civil algorithms, exact for every Int32 day).
    public static func monthStart(ofDay day: Int) -> Int {
        day - (civil(fromDay: day).day - 1)
    }

    /// The day index of the first day of the month after the one holding `day`.
    public static func nextMonthStart(ofDay day: Int) -> Int {
        let (year, month, _) = civil(fromDay: day)
        return month == 12 ? self.day(year: year + 1, month: 1, day: 1) : self.day(year: year, month: month + 1, day: 1)
    }

    /// (year, month 1…12, day 1…31) of a day index.
    public static func civil(fromDay day: Int) -> (year: Int, month: Int, day: Int) {
        let z = day + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, dayOfMonth)
    }

    /// The day index of a civil date.
    public static func day(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// Statistics rebuilt from stored outcomes: the reference the live statistics must equal, and
/// how a migration fills them from an existing store.
public enum ScoreStatisticsRebuild {
    /// One bucket of one cohort's statistics.
    public struct CohortDay: Sendable, Hashable, Comparable {
        public var cohort: CohortKey
        public var day: Int

        public init(cohort: CohortKey, day: Int) {
            self.cohort = cohort
            self.day = day
        }

        public static func < (lhs: CohortDay, rhs: CohortDay) -> Bool {
            (lhs.cohort, lhs.day) < (rhs.cohort, rhs.day)
        }
    }

    /// The (cohort, label, score) entries an outcome counts for: under its own model version,
    /// and, for each candidate that scored the same attempt in shadow (`shadow`, then every
    /// entry of `shadow_scores`), under the candidate's version with the attempt's adjudicated
    /// label. An unrecognised label counts for nothing.
    public static func entries(of outcome: CalibrationOutcome) -> [(cohort: CohortKey, label: ScoreLabel, score: Double)] {
        guard let label = ScoreLabel(rawValue: outcome.label) else { return [] }
        var entries = [(CohortKey(modelVersion: outcome.modelVersion, cameraModel: outcome.cameraModel, cohort: outcome.site),
                        label, outcome.score)]
        if let shadowVersion = outcome.shadowModelVersion, let shadowScore = outcome.shadowScore {
            entries.append((CohortKey(modelVersion: shadowVersion, cameraModel: outcome.cameraModel, cohort: outcome.site),
                            label, shadowScore))
        }
        for shadow in outcome.shadowScores {
            entries.append((CohortKey(modelVersion: shadow.modelVersion, cameraModel: outcome.cameraModel, cohort: outcome.site),
                            label, shadow.score))
        }
        return entries
    }

    /// Per (cohort, UTC day of `attemptedAt`) statistics of `outcomes`, leaving out the outcomes
    /// of `excludedSubjects` (subjects whose latest consent decision limits processing).
    /// - Throws: `CalibrationError` for a score that is not finite.
    public static func daily(
        _ outcomes: [CalibrationOutcome], excludingSubjects excludedSubjects: Set<String> = [],
        layout: StatisticsLayout = CohortStatistics.liveLayout
    ) throws -> [CohortDay: CohortStatistics] {
        var days: [CohortDay: CohortStatistics] = [:]
        for outcome in outcomes where !excludedSubjects.contains(outcome.subjectPseudonym) {
            let day = StatisticsBuckets.day(of: outcome.attemptedAt)
            for entry in entries(of: outcome) {
                try days[CohortDay(cohort: entry.cohort, day: day), default: CohortStatistics(layout: layout)]
                    .add(score: entry.score, label: entry.label, subject: outcome.subjectPseudonym)
            }
        }
        return days
    }

    /// The days of `daily` within `[firstDay, lastDay]` (either bound optional) merged per cohort.
    public static func window(
        _ daily: [CohortDay: CohortStatistics], firstDay: Int?, lastDay: Int?,
        layout: StatisticsLayout = CohortStatistics.liveLayout
    ) throws -> LiveStatistics {
        var cohorts: [CohortKey: CohortStatistics] = [:]
        var first: Int?
        var last: Int?
        for (bucket, statistics) in daily.sorted(by: { $0.key < $1.key }) where !statistics.isEmpty {
            if let firstDay, bucket.day < firstDay { continue }
            if let lastDay, bucket.day > lastDay { continue }
            try cohorts[bucket.cohort, default: CohortStatistics(layout: layout)].merge(statistics)
            first = min(first ?? bucket.day, bucket.day)
            last = max(last ?? bucket.day, bucket.day)
        }
        return LiveStatistics(cohorts: cohorts.mapValues(PackedCohortStatistics.init), firstDay: first, lastDay: last)
    }
}

extension FeedbackStore {
    public var keepsStatisticsWindows: Bool { false }

    public func bringStatisticsWindowsUpToDate() async throws {}

    /// The statistics of the outcomes attempted on UTC days `firstDay...lastDay` (either bound
    /// optional), rebuilt from the outcome rows. The reference implementation: back ends keep
    /// the statistics live and answer from them.
    public func scoreStatistics(firstDay: Int?, lastDay: Int?) async throws -> LiveStatistics {
        let outcomes = try await calibrationOutcomes(
            from: firstDay.map(StatisticsBuckets.start(ofDay:)),
            to: lastDay.map { StatisticsBuckets.start(ofDay: $0 + 1) })
        return try ScoreStatisticsRebuild.window(
            ScoreStatisticsRebuild.daily(outcomes), firstDay: firstDay, lastDay: lastDay)
    }
}
