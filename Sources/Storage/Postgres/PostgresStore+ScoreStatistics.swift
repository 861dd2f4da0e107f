import Calibration
import Compliance
import FeedbackWire
import Foundation

/// The live score statistics on PostgreSQL (`ScoreStatisticsMaintenance`). Several nodes
/// write the same cohort's rows: each transaction locks the rows it changes in one order
/// (`StatisticsRowKey.lockOrder`, text by bytes), writes them with one upsert, and does so
/// last, after its advisory locks and just before the audit log's, so nothing waits in a
/// cycle. Which subjects are restricted cannot change under a transaction that counts
/// outcomes: a change takes the consent lock alone (`RestrictionChangeNeedsExclusiveLock`).
extension PostgresStore {
    /// A window kept in memory and brought up to date with the changes every node logged since
    /// (`PostgresStatisticsWindows`) when it can be; read from the rows otherwise, and kept.
    public func scoreStatistics(firstDay: Int?, lastDay: Int?) async throws -> LiveStatistics {
        let window = StatisticsWindow(firstDay: firstDay, lastDay: lastDay)
        let kept = statisticsWindows.kept(window)
        let (read, cohorts, applied, days) = try await self.read { db in
            let read = try await Self.startRead(in: db)
            var cohorts: [CohortKey: PackedCohortStatistics]?
            if let kept { cohorts = try await Self.bringUpToDate(kept, of: window, to: read, in: db) }
            let applied = cohorts != nil
            if cohorts == nil {
                var builder = PackedWindowBuilder()
                try await db.forEachRow(Self.sql.statisticsWindow(firstDay: firstDay, lastDay: lastDay)) { row in
                    let key = CohortKey(modelVersion: try row.text("model_version"), cameraModel: try row.text("camera_model"),
                                        cohort: try row.text("site"))
                    try builder.add(key, encoded: try row.bytes("statistics"))
                }
                cohorts = try builder.finish()
            }
            let days = try await db.fetchOne(Self.sql.statisticsDays(firstDay: firstDay, lastDay: lastDay))
            return (read, cohorts ?? [:], applied, (try days?.optionalInteger("first"), try days?.optionalInteger("last")))
        }
        statisticsWindows.keep(cohorts, of: window, read: read, applied: applied)
        return LiveStatistics(cohorts: cohorts, firstDay: days.0, lastDay: days.1)
    }

    public var keepsStatisticsWindows: Bool { true }

    /// Brings every kept window to one snapshot, then prunes the change log.
    public func bringStatisticsWindowsUpToDate() async throws {
        let kept = statisticsWindows.keptWindows
        if !kept.isEmpty {
            let (read, updated) = try await self.read { db in
                let read = try await Self.startRead(in: db)
                var updated: [(StatisticsWindow, [CohortKey: PackedCohortStatistics]?)] = []
                for (window, kept) in kept { updated.append((window, try await Self.bringUpToDate(kept, of: window, to: read, in: db))) }
                return (read, updated)
            }
            for (window, cohorts) in updated {
                if let cohorts {
                    statisticsWindows.keep(cohorts, of: window, read: read, applied: true)
                } else {
                    statisticsWindows.forget(window)
                }
            }
        }
        try await pruneStatisticsChanges()
    }

    /// Notes this moment's snapshot and drops the changes that the one noted two minutes ago saw.
    func pruneStatisticsChanges() async throws {
        try await write { db in
            try await db.execute(StatisticsChangesSQL.noteSnapshot)
            guard let pruning = try await db.fetchOne(StatisticsChangesSQL.pruningSnapshot) else { return }
            for statement in StatisticsChangesSQL.prune(try pruning.text("snapshot"), takenAt: try pruning.real("taken_at")) {
                try await db.execute(statement)
            }
        }
    }

    /// The first statement of a read that may bring a kept window up to date.
    private static func startRead(in db: SQLConnection) async throws -> PostgresStatisticsWindows.Read {
        guard let row = try await db.fetchOne(StatisticsChangesSQL.read) else {
            throw ScoreStatisticsInconsistency(row: "statistics_changes_horizon", underlying: "missing")
        }
        return try PostgresStatisticsWindows.Read(row: row)
    }

    /// The kept window with the changes committed since its snapshot that this transaction
    /// sees; nil when some of them may no longer be logged.
    private static func bringUpToDate(_ kept: PostgresStatisticsWindows.Kept, of window: StatisticsWindow,
                                      to read: PostgresStatisticsWindows.Read,
                                      in db: SQLConnection) async throws -> [CohortKey: PackedCohortStatistics]? {
        guard kept.read.canBeBroughtUp(to: read) else { return nil }
        var changes: [StatisticsRowKey: CohortStatisticsChange] = [:]
        try await db.forEachRow(StatisticsChangesSQL.changes(since: kept.read.snapshot)) { row in
            let day = try row.integer("day")
            guard window.holds(day: day) else { return }
            let key = StatisticsRowKey(cohort: CohortKey(modelVersion: try row.text("model_version"), cameraModel: try row.text("camera_model"),
                                                         cohort: try row.text("site")),
                                       granularity: .day, bucket: day)
            changes[key, default: CohortStatisticsChange()].append(contentsOf: try CohortStatisticsChange(encoded: try row.bytes("change")))
        }
        return changes.isEmpty ? kept.cohorts : try window.applying([changes], to: kept.cohorts)
    }

    public func outcomeStats() async throws -> OutcomeStats {
        try await read { db in
            let total = try await db.scalar(Int.self, Self.sql.countedOutcomes) ?? 0
            let batches = try await db.scalar(Int.self, Self.sql.countedBatches) ?? 0
            let byDevice = try await db.fetchAll(Self.sql.countedOutcomesByDevice)
            let byCohort = try await db.fetchAll(Self.sql.countedOutcomesByCohort)
            return try StoreRows.outcomeStats(total: total, batches: batches, byDevice: byDevice, byCohort: byCohort,
                                              byLabel: await db.fetchAll(Self.sql.countedOutcomesByLabel))
        }
    }

    /// The batch path's one call, after its outcomes are inserted.
    static func countStored(_ accepted: [MatchOutcome], deviceID: String, in db: SQLConnection) async throws {
        let restricted = accepted.isEmpty ? []
            : Set(try await db.column(String.self, sql.restrictedSubjects(among: ScoreStatisticsMaintenance.subjects(of: accepted))))
        try await flush(try ScoreStatisticsMaintenance.stored(accepted, deviceID: deviceID, restricted: restricted), in: db)
    }

    static func isRestricted(_ pseudonym: String, in db: SQLConnection) async throws -> Bool {
        try await db.exists(sql.restrictedSubjects(among: [pseudonym]))
    }

    static func statisticsOutcomes(ofSubject pseudonym: String, in db: SQLConnection) async throws -> [StatisticsOutcome] {
        try await db.fetchAll(sql.statisticsOutcomes(ofSubject: pseudonym)).map(StatisticsOutcome.init(row:))
    }

    /// After a consent event of the subject was recorded: its outcomes leave the statistics
    /// when it became restricted, and come back when it no longer is. Under the shared consent
    /// lock another batch may be counting the subject's outcomes as it was: the batch is then
    /// stored again with the lock taken alone.
    static func restrictionMayHaveChanged(_ pseudonym: String, wasRestricted: Bool, into delta: inout StatisticsDelta,
                                          in db: SQLConnection) async throws {
        let restricted = try await isRestricted(pseudonym, in: db)
        guard restricted != wasRestricted else { return }
        guard db.memo.consentLockExclusive else { throw RestrictionChangeNeedsExclusiveLock() }
        try ScoreStatisticsMaintenance.recounted(try await statisticsOutcomes(ofSubject: pseudonym, in: db), adding: !restricted, into: &delta)
    }

    static func recount(_ pseudonyms: [String], adding: Bool, into delta: inout StatisticsDelta, in db: SQLConnection) async throws {
        for pseudonym in pseudonyms {
            guard try await !isRestricted(pseudonym, in: db) else { continue }
            try ScoreStatisticsMaintenance.recounted(try await statisticsOutcomes(ofSubject: pseudonym, in: db), adding: adding, into: &delta)
        }
    }

    /// Writes the delta: an empty row for each key that has none (in lock order), every row
    /// locked in that order, merged in memory, written back with one upsert (emptied rows
    /// deleted), then the counters, also in key order.
    static func flush(_ delta: StatisticsDelta, in db: SQLConnection) async throws {
        guard !delta.isEmpty else { return }
        let keys = delta.rowKeys
        let slices = keys[...].slices(of: ScoreStatisticsMaintenance.rowsPerStatement)
        for slice in slices { try await db.execute(sql.insertEmptyStatistics(slice)) }
        var existing: [StatisticsRowKey: [UInt8]] = [:]
        for slice in slices {
            for row in try await db.fetchAll(sql.statisticsRows(slice)) {
                existing[try StatisticsRowKey(row: row)] = try row.bytes("statistics")
            }
        }
        let plan = try delta.plan(existing: existing, keys: keys)
        let rows = ScoreStatisticsMaintenance.rowsPerStatement
        let logged = Array(plan.dayChanges)
        let counts = delta.outcomeCounts.sorted { $0.key < $1.key }
        // Sent together: the transaction holds the rows read above locked until it commits, and
        // each round trip before the commit, on a machine busy with uploads, kept every other
        // batch of the same cohorts waiting. The parts touch different rows.
        var writes: [StoreStatement] = plan.write[...].slices(of: rows).map(sql.writeStatistics)
        writes += logged[...].slices(of: rows).map(StatisticsChangesSQL.log)
        writes += plan.delete[...].slices(of: rows).map(sql.deleteStatistics)
        writes += counts[...].slices(of: rows).map(sql.addOutcomeCounts)
        for (deviceID, batches) in delta.batchCounts.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            writes.append(sql.addBatchCount(deviceID: deviceID, batches: batches))
        }
        for statement in StoreStatement.combined(writes, argumentLimit: Self.argumentsPerStatement) { try await db.execute(statement) }
        // After the counts were added: these read what the adds wrote.
        let emptied = counts.filter { $0.value < 0 }.map(\.key)
        for slice in emptied[...].slices(of: rows) {
            try await db.execute(sql.deleteEmptyOutcomeCounts(slice))
        }
    }

    /// Well under PostgreSQL's 65,535 parameters a statement.
    static let argumentsPerStatement = 30_000

    /// Fills the statistics from the stored outcomes (migration v11-score-statistics), through
    /// a cursor, flushing every `largestDelta` rows so that memory stays bounded.
    static func fillScoreStatistics(in db: SQLConnection) async throws {
        let restricted = Set(try await db.column(String.self, sql.restrictedSubjects))
        let outcomes = sql.allStatisticsOutcomes(withShadowScores: try await db.exists(sql.outcomesHaveShadowScores))
        try await db.execute("DECLARE statistics_fill NO SCROLL CURSOR FOR \(outcomes.sql)")
        var delta = StatisticsDelta()
        while true {
            let rows = try await db.fetchAll("FETCH 10000 FROM statistics_fill")
            if rows.isEmpty { break }
            for row in rows {
                let outcome = try StatisticsOutcome(row: row)
                if !restricted.contains(outcome.outcome.subjectPseudonym) { try delta.add(outcome.outcome) }
            }
            if delta.isLarge {
                try await flush(delta, in: db)
                delta = StatisticsDelta()
            }
        }
        try await db.execute("CLOSE statistics_fill")
        try await flush(delta, in: db)
    }
}
