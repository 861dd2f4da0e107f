import Compliance
import Foundation

/// One UTC month of PostgreSQL's `outcomes`: the rows attempted in it are a partition of their
/// own (`outcomes_2026_12`), so that retention drops the month whole once every row in it is
/// due, with the statistics' day and month rows of it. A day's outcomes all fall in the
/// partition of its month, as the statistics bucket them (`StatisticsBuckets`): the bounds
/// are the seconds since 1970 `attempted_at` holds, at whole days.
///
/// Rows of a month with no partition land in `outcomes_default` (an attempt far in the past
/// or future); `PostgresStore.organizeOutcomeMonths` gives each such month its partition.
struct OutcomeMonth: Hashable, Comparable, Sendable {
    /// The day index of the month's first day.
    let firstDay: Int

    static let defaultPartition = "outcomes_default"
    /// Four-digit years only, so that a partition's name gives its month back.
    static let years = 1000...9999

    init(containingDay day: Int) {
        firstDay = StatisticsBuckets.monthStart(ofDay: day)
    }

    init(containing time: Date) {
        self.init(containingDay: StatisticsBuckets.day(of: time))
    }

    /// The month a partition holds, by its name; nil for any other table.
    init?(partitionName name: String) {
        let prefix = "outcomes_"
        guard name.hasPrefix(prefix) else { return nil }
        let parts = name.dropFirst(prefix.count).split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let year = Int(parts[0]), let month = Int(parts[1]),
              Self.years.contains(year), (1...12).contains(month) else { return nil }
        firstDay = StatisticsBuckets.day(year: year, month: month, day: 1)
    }

    var isNameable: Bool { Self.years.contains(StatisticsBuckets.civil(fromDay: firstDay).year) }

    var partitionName: String {
        let (year, month, _) = StatisticsBuckets.civil(fromDay: firstDay)
        return "outcomes_" + String(format: "%04d_%02d", year, month)
    }

    /// The first day of the next month: the end of this one's day buckets.
    var endDay: Int { StatisticsBuckets.nextMonthStart(ofDay: firstDay) }
    var next: OutcomeMonth { OutcomeMonth(containingDay: endDay) }
    /// Every outcome of the month was attempted before this.
    var end: Date { StatisticsBuckets.start(ofDay: endDay) }

    /// The month's first second and the next month's, as `attempted_at` counts them: whole
    /// seconds, exact in double precision.
    var firstSecond: Int { firstDay * StatisticsBuckets.secondsPerDay }
    var endSecond: Int { endDay * StatisticsBuckets.secondsPerDay }

    /// `FOR VALUES FROM (…) TO (…)`.
    var bounds: String { "FROM (\(firstSecond)) TO (\(endSecond))" }

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.firstDay < rhs.firstDay }
}

/// The statements of the month partitions. Partition names come from `OutcomeMonth`, never
/// from input, so they are spelled into the text.
enum OutcomeMonthsSQL {
    /// The partitions of `outcomes`, default included.
    static let partitions = StoreStatement("""
        SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'outcomes'::regclass ORDER BY c.relname
        """)

    /// The days a table of outcomes holds attempts of (the default partition; the flat table
    /// migration v15 partitions).
    static func attemptDays(in table: String) -> StoreStatement {
        StoreStatement("SELECT DISTINCT floor(attempted_at / \(StatisticsBuckets.secondsPerDay))::bigint AS day FROM \(table)")
    }

    /// A month's partition, with the rows of it the default partition held moved into it. The
    /// default partition is locked against inserts first, so that none of the month's lands
    /// there between the move and the attachment (which checks that none is left).
    static func create(_ month: OutcomeMonth) -> [StoreStatement] {
        let name = month.partitionName, range = inMonth(month)
        return [
            StoreStatement("LOCK TABLE \(OutcomeMonth.defaultPartition) IN SHARE ROW EXCLUSIVE MODE"),
            StoreStatement("CREATE TABLE \(name) (LIKE outcomes INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
            StoreStatement("INSERT INTO \(name) SELECT * FROM \(OutcomeMonth.defaultPartition) WHERE \(range)"),
            StoreStatement("DELETE FROM \(OutcomeMonth.defaultPartition) WHERE \(range)"),
            StoreStatement("ALTER TABLE outcomes ATTACH PARTITION \(name) FOR VALUES \(month.bounds)"),
        ]
    }

    private static func inMonth(_ month: OutcomeMonth) -> String {
        "attempted_at >= \(month.firstSecond) AND attempted_at < \(month.endSecond)"
    }

    /// The jurisdiction of a row joined to its site as `s`.
    private static let jurisdiction = "COALESCE(s.jurisdiction, '\(JurisdictionRecord.defaultName)')"

    /// A row of the month captured outside `jurisdictions` (which are those whose cutoff has
    /// passed the month's end): the month cannot go whole.
    static func heldOutside(_ month: OutcomeMonth, jurisdictions: [String]) -> StoreStatement {
        StoreStatement("""
            SELECT 1 FROM \(month.partitionName) o LEFT JOIN sites s ON s.site = o.site
            WHERE \(jurisdiction) <> ALL(?) LIMIT 1
            """, SQLArgument.textList(jurisdictions))
    }

    /// The month's outcomes per jurisdiction and subject: its erasure records.
    static func subjects(_ month: OutcomeMonth) -> StoreStatement {
        StoreStatement("""
            SELECT \(jurisdiction) AS jurisdiction, o.subject_pseudonym, COUNT(*) AS outcomes
            FROM \(month.partitionName) o LEFT JOIN sites s ON s.site = o.site
            GROUP BY 1, 2 ORDER BY 1, 2
            """)
    }

    /// Each batch not yet redacted that holds an outcome of the month, with the jurisdiction
    /// and subject it is counted under: the first in that order, as a sweep row by row would
    /// redact it with the first subject's erasure that reaches it.
    static func batchesToRedact(_ month: OutcomeMonth) -> StoreStatement {
        StoreStatement("""
            SELECT DISTINCT ON (o.batch_id) o.batch_id, \(jurisdiction) AS jurisdiction, o.subject_pseudonym
            FROM \(month.partitionName) o LEFT JOIN sites s ON s.site = o.site JOIN batches b ON b.batch_id = o.batch_id
            WHERE b.redacted_at IS NULL
            ORDER BY o.batch_id, 2, 3
            """)
    }

    static func redactBatches(_ month: OutcomeMonth, at time: Date) -> StoreStatement {
        StoreStatement("""
            UPDATE batches SET body = ''::bytea, redacted_at = ?
            WHERE redacted_at IS NULL AND batch_id IN (SELECT batch_id FROM \(month.partitionName))
            """, time)
    }

    static func outcomeCounts(_ month: OutcomeMonth) -> StoreStatement {
        StoreStatement("""
            SELECT device_id, site, camera_model, label, COUNT(*) AS outcomes FROM \(month.partitionName) GROUP BY 1, 2, 3, 4
            """)
    }

    /// The statistics rows of the month's days and of the month: only its outcomes are counted in them.
    static func deleteStatistics(_ month: OutcomeMonth) -> StoreStatement {
        StoreStatement("""
            DELETE FROM score_statistics
            WHERE (granularity = 'day' AND bucket >= ? AND bucket < ?) OR (granularity = 'month' AND bucket = ?)
            """, month.firstDay, month.endDay, month.firstDay)
    }

    static func drop(_ month: OutcomeMonth) -> StoreStatement {
        StoreStatement("DROP TABLE \(month.partitionName)")
    }
}
