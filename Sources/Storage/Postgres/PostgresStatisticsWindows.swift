import Calibration
import Synchronization

/// The windows of live statistics this node has read, kept packed with the snapshot they were
/// read in, and brought up to date with what every node's commits logged since, so that
/// reading a window again costs what arrived (and was erased) since, not the history behind it.
///
/// Every write of the statistics (`PostgresStore.flush`) logs its day rows' changes in
/// `statistics_changes`, each row with its transaction's id. A window read in snapshot S1 and
/// read again in S2 applies the rows S2 sees and S1 did not (`pg_visible_in_snapshot`): exactly
/// the commits between the two, whichever node made them. Two things make a kept window stale,
/// both in `statistics_changes_horizon`, read in the window's own snapshot:
/// - the log is pruned of the rows visible in a snapshot taken two minutes before
///   (`statistics_changes_snapshots`), and `pruned_before` is that snapshot's time: a window
///   read after it saw every pruned row (times are the database's: the window's is its first
///   statement's start, before its snapshot; the pruning snapshot's is taken after it);
/// - a write that changes statistics rows without logging (a month of outcomes dropped whole)
///   increments `generation`.
final class PostgresStatisticsWindows: Sendable {
    struct Kept: Sendable {
        var cohorts: [CohortKey: PackedCohortStatistics]
        var read: Read
        var lastRead: UInt64
    }

    /// When and how a window was read: what bringing it up to date starts from.
    struct Read: Sendable {
        /// `pg_current_snapshot()`, as text.
        var snapshot: String
        /// The start of the read's first statement, in seconds since 1970 by the database's clock.
        var at: Double
        var generation: Int
        var prunedBefore: Double

        init(row: SQLRow) throws {
            snapshot = try row.text("snapshot")
            at = try row.real("read_at")
            generation = try row.integer("generation")
            prunedBefore = try row.real("pruned_before")
        }

        /// Whether every change committed between `self` and `later` is still logged.
        func canBeBroughtUp(to later: Read) -> Bool {
            later.generation == generation && at >= later.prunedBefore
        }
    }

    private struct Windows {
        var kept: [StatisticsWindow: Kept] = [:]
        var reads: UInt64 = 0
        var updates = 0
    }

    /// As on SQLite (`SQLiteStatisticsWindows.largestWindowCount`).
    static let largestWindowCount = 8
    /// How long logged changes are kept at least: every node brings its windows up to date every 10 s.
    static let changesKeptSeconds = 120

    private let windows = Mutex(Windows())

    func kept(_ window: StatisticsWindow) -> Kept? {
        windows.withLock { $0.kept[window] }
    }

    var keptWindows: [StatisticsWindow: Kept] {
        windows.withLock { $0.kept }
    }

    /// Keeps a window as read in `snapshot`; `applied` when it was brought up to date rather than read.
    func keep(_ cohorts: [CohortKey: PackedCohortStatistics], of window: StatisticsWindow, read: Read, applied: Bool) {
        windows.withLock { windows in
            windows.reads += 1
            if applied { windows.updates += 1 }
            windows.kept[window] = Kept(cohorts: cohorts, read: read, lastRead: windows.reads)
            if windows.kept.count > Self.largestWindowCount,
               let oldest = windows.kept.min(by: { $0.value.lastRead < $1.value.lastRead })?.key {
                windows.kept[oldest] = nil
            }
        }
    }

    func forget(_ window: StatisticsWindow) {
        windows.withLock { $0.kept[window] = nil }
    }

    /// How many reads were answered by applying changes to a kept window (for tests).
    var updatesApplied: Int { windows.withLock { $0.updates } }
}

/// The statements of the change log.
enum StatisticsChangesSQL {
    /// A read's first statement: its snapshot, and the horizon in it.
    static let read = StoreStatement("""
        SELECT pg_current_snapshot()::text AS snapshot, CAST(extract(epoch FROM statement_timestamp()) AS DOUBLE PRECISION) AS read_at,
               pruned_before, generation
        FROM statistics_changes_horizon WHERE id = 1
        """)

    /// The changes committed after the snapshot that this transaction sees.
    static func changes(since snapshot: String) -> StoreStatement {
        StoreStatement("""
            SELECT model_version, camera_model, site, day, change FROM statistics_changes
            WHERE xid >= pg_snapshot_xmin(CAST(? AS pg_snapshot))::text::bigint
              AND NOT pg_visible_in_snapshot(xid::text::xid8, CAST(? AS pg_snapshot))
            """, snapshot, snapshot)
    }

    static func log(_ days: ArraySlice<(key: StatisticsRowKey, value: CohortStatisticsChange)>) -> StoreStatement {
        StoreStatement("""
            INSERT INTO statistics_changes (model_version, camera_model, site, day, change)
            VALUES \(Array(repeating: "(?, ?, ?, ?, ?)", count: days.count).joined(separator: ", "))
            """, arguments: days.flatMap { day -> [any SQLArgumentConvertible] in
                [day.key.cohort.modelVersion, day.key.cohort.cameraModel, day.key.cohort.cohort, day.key.bucket, day.value.encoded()]
            })
    }

    /// Statistics rows rewritten without logging: every window read before this transaction
    /// commits is read again.
    static let forgetEarlierReads = StoreStatement("UPDATE statistics_changes_horizon SET generation = generation + 1 WHERE id = 1")

    /// Notes this moment's snapshot (its time taken after it), for a prune two minutes on.
    static let noteSnapshot = StoreStatement("""
        INSERT INTO statistics_changes_snapshots (taken_at, snapshot)
        SELECT extract(epoch FROM clock_timestamp()), pg_current_snapshot()::text
        """)

    /// The newest snapshot noted more than `changesKeptSeconds` ago.
    static let pruningSnapshot = StoreStatement("""
        SELECT taken_at, snapshot FROM statistics_changes_snapshots
        WHERE taken_at < extract(epoch FROM clock_timestamp()) - \(PostgresStatisticsWindows.changesKeptSeconds)
        ORDER BY taken_at DESC LIMIT 1
        """)

    /// Drops the changes `snapshot` saw, and the snapshots noted up to it.
    static func prune(_ snapshot: String, takenAt: Double) -> [StoreStatement] {
        [
            StoreStatement("""
                DELETE FROM statistics_changes
                WHERE xid < pg_snapshot_xmax(CAST(? AS pg_snapshot))::text::bigint
                  AND pg_visible_in_snapshot(xid::text::xid8, CAST(? AS pg_snapshot))
                """, snapshot, snapshot),
            StoreStatement("UPDATE statistics_changes_horizon SET pruned_before = GREATEST(pruned_before, ?) WHERE id = 1", takenAt),
            StoreStatement("DELETE FROM statistics_changes_snapshots WHERE taken_at <= ?", takenAt),
        ]
    }
}
