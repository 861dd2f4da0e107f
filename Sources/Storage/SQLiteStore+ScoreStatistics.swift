import Calibration
import Compliance
import FeedbackWire
import Foundation
import GRDB

/// The live score statistics on SQLite (`ScoreStatisticsMaintenance`): kept in the writer's
/// transactions, read in one snapshot.
extension SQLiteStore {
    /// A window kept in memory and brought up to date (`SQLiteStatisticsWindows`) when it can
    /// be; read from the rows otherwise, and kept.
    public func scoreStatistics(firstDay: Int?, lastDay: Int?) async throws -> LiveStatistics {
        let window = SQLiteStatisticsWindows.Window(firstDay: firstDay, lastDay: lastDay)
        let (revision, days) = try await pool.read { db in
            (try Self.statisticsRevision(in: db), try Self.statisticsDays(firstDay: firstDay, lastDay: lastDay, in: db))
        }
        if let cohorts = statisticsWindows.cohorts(of: window, at: revision) {
            return LiveStatistics(cohorts: cohorts, firstDay: days.first, lastDay: days.last)
        }
        statisticsWindows.beginRead()
        defer { statisticsWindows.endRead() }
        let (readAt, live) = try await pool.read { db in
            var builder = PackedWindowBuilder()
            let statement = Self.sql.statisticsWindow(firstDay: firstDay, lastDay: lastDay)
            let rows = try Row.fetchCursor(db, sql: statement.sql, arguments: statement.sqliteArguments)
            while let row = try rows.next() {
                let key = CohortKey(modelVersion: try row.text("model_version"), cameraModel: try row.text("camera_model"),
                                    cohort: try row.text("site"))
                try builder.add(key, encoded: try row.bytes("statistics"))
            }
            let days = try Self.statisticsDays(firstDay: firstDay, lastDay: lastDay, in: db)
            return (try Self.statisticsRevision(in: db),
                    LiveStatistics(cohorts: try builder.finish(), firstDay: days.first, lastDay: days.last))
        }
        statisticsWindows.keep(live.cohorts, of: window, at: readAt)
        return live
    }

    public var keepsStatisticsWindows: Bool { true }

    public func bringStatisticsWindowsUpToDate() async throws {
        let revision = try await pool.read { db in try Self.statisticsRevision(in: db) }
        statisticsWindows.bringKeptWindowsUpToDate(at: revision)
    }

    static func statisticsRevision(in db: Database) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT revision FROM statistics_revision WHERE id = 1")) ?? 0
    }

    private static func statisticsDays(firstDay: Int?, lastDay: Int?, in db: Database) throws -> (first: Int?, last: Int?) {
        let days = try db.fetchOne(sql.statisticsDays(firstDay: firstDay, lastDay: lastDay))
        return (try days?.optionalInteger("first"), try days?.optionalInteger("last"))
    }

    public func outcomeStats() async throws -> OutcomeStats {
        try await pool.read { db in
            try StoreRows.outcomeStats(total: db.scalar(Int.self, Self.sql.countedOutcomes) ?? 0,
                                       batches: db.scalar(Int.self, Self.sql.countedBatches) ?? 0,
                                       byDevice: db.fetchAll(Self.sql.countedOutcomesByDevice),
                                       byCohort: db.fetchAll(Self.sql.countedOutcomesByCohort),
                                       byLabel: db.fetchAll(Self.sql.countedOutcomesByLabel))
        }
    }

    /// The batch path's one call, after its outcomes are inserted: counts them and the batch,
    /// and adds those of unrestricted subjects to the statistics, into the delta that the
    /// group commit writes once for all its batches. The statistics worked out beforehand
    /// (`PreparedBatch`) are taken when every outcome was accepted and no subject is
    /// restricted. `known` holds subjects' restrictions read before (`SQLiteConsentMemo`);
    /// those it lacks are read and added.
    static func countStored(_ intake: BatchIntake, prepared: PreparedBatch, restricted known: inout [String: Bool],
                            into statistics: inout StatisticsDelta, in db: Database) throws {
        let subjects = intake.acceptsEverything ? prepared.subjects : ScoreStatisticsMaintenance.subjects(of: intake.accepted)
        // One look-up per subject: the memo holds every subject after the first batches.
        var unknown: [String] = []
        var restricted = Set<String>()
        for subject in subjects {
            switch known[subject] {
            case nil: unknown.append(subject)
            case true?: restricted.insert(subject)
            case false?: break
            }
        }
        if !unknown.isEmpty {
            let found = Set(try db.column(String.self, sql.restrictedSubjects(among: unknown)))
            for subject in unknown {
                let isRestricted = found.contains(subject)
                known[subject] = isRestricted
                if isRestricted { restricted.insert(subject) }
            }
        }
        statistics.merge(intake.acceptsEverything && restricted.isEmpty
                         ? prepared.statistics
                         : try ScoreStatisticsMaintenance.stored(intake.accepted, deviceID: prepared.incoming.batch.deviceID, restricted: restricted))
    }

    static func isRestricted(_ pseudonym: String, in db: Database) throws -> Bool {
        try db.exists(sql.restrictedSubjects(among: [pseudonym]))
    }

    static func statisticsOutcomes(ofSubject pseudonym: String, in db: Database) throws -> [StatisticsOutcome] {
        try db.fetchAll(sql.statisticsOutcomes(ofSubject: pseudonym)).map(StatisticsOutcome.init(row:))
    }

    /// After a consent event of the subject was recorded: its outcomes leave the statistics
    /// when it became restricted, and come back when it no longer is.
    static func restrictionMayHaveChanged(_ pseudonym: String, wasRestricted: Bool, into delta: inout StatisticsDelta,
                                          in db: Database) throws {
        let restricted = try isRestricted(pseudonym, in: db)
        guard restricted != wasRestricted else { return }
        try ScoreStatisticsMaintenance.recounted(try statisticsOutcomes(ofSubject: pseudonym, in: db), adding: !restricted, into: &delta)
    }

    /// Subjects' outcomes out of the statistics (`adding: false`, before their rows change)
    /// or back in (after), each as far as it is not restricted.
    static func recount(_ pseudonyms: [String], adding: Bool, into delta: inout StatisticsDelta, in db: Database) throws {
        for pseudonym in pseudonyms {
            guard try !isRestricted(pseudonym, in: db) else { continue }
            try ScoreStatisticsMaintenance.recounted(try statisticsOutcomes(ofSubject: pseudonym, in: db), adding: adding, into: &delta)
        }
    }

    /// Writes the delta: statistics rows read, merged and written (emptied ones deleted), then
    /// the counters.
    /// Each write takes the next statistics revision and hands its day rows' changes to
    /// `windows` (nil only while migrating, before any window is read).
    static func flush(_ delta: StatisticsDelta, in db: Database, windows: SQLiteStatisticsWindows?) throws {
        guard !delta.isEmpty else { return }
        let keys = delta.rowKeys
        var existing: [StatisticsRowKey: [UInt8]] = [:]
        for slice in flushSlices(keys) {
            for row in try Row.fetchAll(compiledOnce(sql.statisticsRows(slice), in: db)) {
                existing[try StatisticsRowKey(row: row)] = try row.bytes("statistics")
            }
        }
        let plan = try delta.plan(existing: existing, keys: keys)
        for slice in flushSlices(plan.write) { try compiledOnce(sql.writeStatistics(slice), in: db).execute() }
        for slice in flushSlices(plan.delete) { try compiledOnce(sql.deleteStatistics(slice), in: db).execute() }
        if let windows, !plan.dayChanges.isEmpty {
            let revision = try Int.fetchOne(db.cachedStatement(sql: "UPDATE statistics_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision")) ?? 0
            windows.stage(plan, revision: revision)
        }
        let counts = delta.outcomeCounts.sorted { $0.key < $1.key }
        for slice in flushSlices(counts) { try compiledOnce(sql.addOutcomeCounts(slice), in: db).execute() }
        let emptied = counts.filter { $0.value < 0 }.map(\.key)
        for slice in flushSlices(emptied) { try compiledOnce(sql.deleteEmptyOutcomeCounts(slice), in: db).execute() }
        for (deviceID, batches) in delta.batchCounts.sorted(by: { $0.key < $1.key }) {
            try db.execute(sql.addBatchCount(deviceID: deviceID, batches: batches))
        }
    }

    /// Rows per statement of a flush. A group commit's flush writes a few dozen statistics
    /// rows and a few hundred counters; statements of every length were compiled anew in each
    /// flush, about a third of its time. Statements of this many rows, and of one for the rows
    /// left over, are compiled once per connection.
    static let flushRowsPerStatement = 32

    private static func flushSlices<Element>(_ rows: [Element]) -> [ArraySlice<Element>] {
        let whole = rows.count - rows.count % flushRowsPerStatement
        return rows[..<whole].slices(of: flushRowsPerStatement) + rows[whole...].slices(of: 1)
    }

    private static func compiledOnce(_ statement: StoreStatement, in db: Database) throws -> Statement {
        try db.bound(statement, reusing: db.cachedStatement(sql: statement.sql))
    }

    /// Fills the statistics from the stored outcomes (migration v14-score-statistics), flushing
    /// every `largestDelta` rows so that memory stays bounded whatever the history.
    static func fillScoreStatistics(in db: Database) throws {
        let restricted = Set(try db.column(String.self, sql.restrictedSubjects))
        var delta = StatisticsDelta()
        let rows = try Row.fetchCursor(db, sql: sql.allStatisticsOutcomes(withShadowScores: db.exists(sql.outcomesHaveShadowScores)).sql)
        while let row = try rows.next() {
            let outcome = try StatisticsOutcome(row: row)
            if !restricted.contains(outcome.outcome.subjectPseudonym) { try delta.add(outcome.outcome) }
            if delta.isLarge {
                try flush(delta, in: db, windows: nil)
                delta = StatisticsDelta()
            }
        }
        try flush(delta, in: db, windows: nil)
    }
}
