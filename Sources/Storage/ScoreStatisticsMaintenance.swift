import Calibration
import Compliance
import FeedbackWire
import Foundation

/// Keeps the live score statistics (`score_statistics`) and the outcome and batch counters
/// (`outcome_counts`, `batch_counts`) equal to what the stored outcomes say, in the
/// transaction that changes the outcomes. The invariant, checked by the property tests
/// against `ScoreStatisticsRebuild`:
///
///     score_statistics = Σ over stored outcomes whose subject is not restricted (latest
///                        consent decision for outcome storage is a `limit`) of the outcome,
///                        in its cohort's day row and month row (and those of its shadow
///                        cohort and of each of its shadow_scores' cohorts)
///     outcome_counts   = stored outcomes per (device, site, camera model, label), all of them
///     batch_counts     = stored batches per device
///
/// Each write path collects what it changed in a `StatisticsDelta` and flushes it once, just
/// before its transaction ends: a stored batch adds its accepted outcomes; an erasure, a
/// withdrawal and a retention sweep subtract what their `DELETE … RETURNING` removed; a
/// consent event that makes a subject restricted subtracts all of the subject's outcomes, and
/// one that lifts the restriction adds them back; a re-keying moves the subject's outcomes
/// between impostor groups.
///
/// What is shared by both back ends lives here (the delta, the statements, the plan of the
/// writes); `SQLiteStore+ScoreStatistics.swift` and `PostgresStore+ScoreStatistics.swift`
/// run them.
enum ScoreStatisticsMaintenance {
    /// The columns of an outcome the statistics and counters need, in the order
    /// `StatisticsOutcome.init(row:)` reads them by name.
    static let outcomeColumns = """
        device_id, model_version, site, camera_model, label, score, attempted_at, subject_pseudonym, shadow_model_version, shadow_score,
        shadow_scores
        """

    /// `outcomeColumns` of a table from before `shadow_scores` (v14 fills the statistics, v15
    /// adds the column): NULL in its place.
    static let outcomeColumnsBeforeShadowScores = outcomeColumns.replacingOccurrences(of: "shadow_scores", with: "NULL AS shadow_scores")

    /// Rows per statement when keys or rows are listed: well under both dialects' caps on
    /// parameters (7 a row at most).
    static let rowsPerStatement = 2_000

    /// A delta that grew past this many statistics rows is flushed before collecting more
    /// (migrations and large sweeps), so that memory stays bounded.
    static let largestDelta = 4_096

    /// An empty row's statistics, encoded once.
    static let emptyStatistics = CohortStatistics(layout: CohortStatistics.liveLayout).encoded()

    /// A consent event can change whether its subject is restricted only when it is in force
    /// and about outcome storage.
    static func watches(_ intake: ConsentEventIntake) -> Bool {
        intake.refusal == nil && intake.event.purpose == Purpose.outcomeStorage.rawValue
    }

    /// A batch with a limit in it may restrict a subject: on PostgreSQL it takes the consent
    /// lock alone, as a withdrawal does, so that no batch adds the subject's outcomes meanwhile.
    static func mayRestrict(_ batch: OutcomeBatch) -> Bool {
        batch.consentEvents.contains { $0.kind == .limit && $0.purpose == Purpose.outcomeStorage.rawValue }
    }

    /// What storing a batch's accepted outcomes changes: every outcome counted for its device,
    /// those of unrestricted subjects in the statistics, and one batch more.
    static func stored(_ accepted: [MatchOutcome], deviceID: String, restricted: Set<String>) throws -> StatisticsDelta {
        var delta = StatisticsDelta()
        // A batch's outcomes are mostly of one cohort and day (two rows); the bound keeps a
        // large batch from reserving more than a busy one touches.
        delta.reserveCapacity(rows: min(2 * accepted.count, 64), counts: min(accepted.count, 32))
        delta.countBatch(deviceID: deviceID)
        for outcome in accepted {
            let stored = StatisticsOutcome(outcome, deviceID: deviceID)
            delta.count(stored, by: 1)
            if !restricted.contains(outcome.subject.pseudonym) { try delta.add(stored.outcome) }
        }
        return delta
    }

    /// The distinct pseudonyms of outcomes, for `StoreSQL.restrictedSubjects(among:)`.
    static func subjects(of outcomes: [MatchOutcome]) -> [String] {
        Array(Set(outcomes.map(\.subject.pseudonym))).sorted()
    }

    /// What deleting one subject's `outcomes` changes; `restricted` when the subject's
    /// outcomes are not in the statistics.
    static func deleted(_ outcomes: [StatisticsOutcome], restricted: Bool, into delta: inout StatisticsDelta) throws {
        for outcome in outcomes {
            delta.count(outcome, by: -1)
            if !restricted { try delta.remove(outcome.outcome) }
        }
    }

    /// What clearing the `shadow_scores` of one subject's `outcomes` changes (a
    /// model-improvement erasure): each entry leaves its candidate's rows; the outcomes stay.
    static func shadowScoresCleared(_ outcomes: [StatisticsOutcome], restricted: Bool, into delta: inout StatisticsDelta) throws {
        guard !restricted else { return }
        for outcome in outcomes { try delta.removeShadowScores(of: outcome.outcome) }
    }

    /// A subject's outcomes entering (`adding`) or leaving the statistics, stored rows unchanged.
    static func recounted(_ outcomes: [StatisticsOutcome], adding: Bool, into delta: inout StatisticsDelta) throws {
        for outcome in outcomes {
            if adding { try delta.add(outcome.outcome) } else { try delta.remove(outcome.outcome) }
        }
    }
}

/// A change of a subject's restriction that the transaction may not make under the shared
/// consent lock (PostgreSQL): the batch is stored again with the lock taken alone.
struct RestrictionChangeNeedsExclusiveLock: Error {}

/// Live statistics or counters that disagree with the change being applied to them: a bug,
/// or a store edited by hand. The transaction rolls back.
public struct ScoreStatisticsInconsistency: Error, CustomStringConvertible {
    public var row: String
    public var underlying: String

    public var description: String {
        "the live score statistics of \(row) do not hold outcomes being removed (\(underlying)); "
            + "nothing was changed (a store edited by hand: restore it from a backup)"
    }
}

/// One outcome as the maintenance reads it: the calibration columns and the device.
struct StatisticsOutcome: Sendable {
    var deviceID: String
    var outcome: CalibrationOutcome

    init(deviceID: String, outcome: CalibrationOutcome) {
        self.deviceID = deviceID
        self.outcome = outcome
    }

    /// A row of `ScoreStatisticsMaintenance.outcomeColumns`. The time goes through `Date` as
    /// `calibrationOutcomes` reads it, so that the bucket is the one the rebuild computes.
    init(row: some StoreRow) throws {
        deviceID = try row.text("device_id")
        outcome = CalibrationOutcome(modelVersion: try row.text("model_version"), site: try row.text("site"),
                                     cameraModel: try row.text("camera_model"), label: try row.text("label"),
                                     score: try row.real("score"), attemptedAt: try row.date("attempted_at"),
                                     subjectPseudonym: try row.text("subject_pseudonym"),
                                     shadowModelVersion: try row.optionalText("shadow_model_version"),
                                     shadowScore: try row.optionalReal("shadow_score"),
                                     shadowScores: try ShadowScoresColumn.decode(try row.optionalText("shadow_scores")))
    }

    /// An outcome being stored, as it will read back (`Date` → seconds since 1970 → `Date`).
    init(_ outcome: MatchOutcome, deviceID: String) {
        self.deviceID = deviceID
        self.outcome = CalibrationOutcome(modelVersion: outcome.modelVersion, site: outcome.cohort.site,
                                          cameraModel: outcome.cohort.cameraModel, label: outcome.label.rawValue,
                                          score: outcome.score,
                                          attemptedAt: Date(timeIntervalSince1970: outcome.attemptedAt.timeIntervalSince1970),
                                          subjectPseudonym: outcome.subject.pseudonym,
                                          shadowModelVersion: outcome.shadow?.modelVersion, shadowScore: outcome.shadow?.score,
                                          shadowScores: outcome.shadowScores)
    }
}

/// The key of one `score_statistics` row.
struct StatisticsRowKey: Hashable, Sendable {
    enum Granularity: String, Sendable {
        case day, month
    }

    var cohort: CohortKey
    var granularity: Granularity
    var bucket: Int

    /// The order rows are locked in: text by bytes (PostgreSQL's `COLLATE "C"`), then
    /// granularity, then bucket. Every transaction locks in this order, so none waits in a cycle.
    static func lockOrder(_ lhs: Self, _ rhs: Self) -> Bool {
        // Field by field: two arrays of the fields for each comparison were a tenth of a
        // group's statistics flush.
        func precedes(_ a: String, _ b: String) -> Bool? { a == b ? nil : a.utf8.lexicographicallyPrecedes(b.utf8) }
        return precedes(lhs.cohort.modelVersion, rhs.cohort.modelVersion)
            ?? precedes(lhs.cohort.cameraModel, rhs.cohort.cameraModel)
            ?? precedes(lhs.cohort.cohort, rhs.cohort.cohort)
            ?? precedes(lhs.granularity.rawValue, rhs.granularity.rawValue)
            ?? (lhs.bucket < rhs.bucket)
    }

    init(cohort: CohortKey, granularity: Granularity, bucket: Int) {
        self.cohort = cohort
        self.granularity = granularity
        self.bucket = bucket
    }

    init(row: some StoreRow) throws {
        guard let granularity = Granularity(rawValue: try row.text("granularity")) else {
            throw ScoreStatisticsInconsistency(row: "a row", underlying: "granularity \(try row.text("granularity"))")
        }
        cohort = CohortKey(modelVersion: try row.text("model_version"), cameraModel: try row.text("camera_model"),
                           cohort: try row.text("site"))
        self.granularity = granularity
        bucket = try row.integer("bucket")
    }

    var arguments: [any SQLArgumentConvertible] {
        [cohort.modelVersion, cohort.cameraModel, cohort.cohort, granularity.rawValue, bucket]
    }

    var description: String { "\(cohort) \(granularity.rawValue) \(bucket)" }
}

/// The key of one `outcome_counts` row.
struct OutcomeCountKey: Hashable, Sendable, Comparable {
    var deviceID: String
    var site: String
    var cameraModel: String
    var label: String

    /// By bytes, field by field. A flush sorts a few hundred keys (kiosks × sites × cameras ×
    /// labels); pairing the fields in arrays cost two allocations per comparison.
    static func < (lhs: Self, rhs: Self) -> Bool {
        if lhs.deviceID != rhs.deviceID { return lhs.deviceID.utf8.lexicographicallyPrecedes(rhs.deviceID.utf8) }
        if lhs.site != rhs.site { return lhs.site.utf8.lexicographicallyPrecedes(rhs.site.utf8) }
        if lhs.cameraModel != rhs.cameraModel { return lhs.cameraModel.utf8.lexicographicallyPrecedes(rhs.cameraModel.utf8) }
        return lhs.label.utf8.lexicographicallyPrecedes(rhs.label.utf8)
    }
}

/// What one transaction changes in the statistics and counters, applied once at its end.
/// The outcomes are kept as a `CohortStatisticsChange` per row, not as statistics: a row's
/// histograms are dense (16,384 bins each), so each row touched is decoded once, changed
/// entry by entry, and encoded once. Each entry is made (its score checked, its subject's
/// group hashed) where the outcome is collected: for a batch that is the uploading task, not
/// SQLite's one writer, which only merges the batches' changes. Additions are applied before
/// removals: a removal is always of an outcome the row plus the additions holds, so the result
/// is exact whatever order they came in.
struct StatisticsDelta: Sendable {
    private(set) var changes: [StatisticsRowKey: CohortStatisticsChange] = [:]
    private(set) var outcomeCounts: [OutcomeCountKey: Int] = [:]
    private(set) var batchCounts: [String: Int] = [:]
    /// Entries collected, additions and removals: with `rowCount`, what `largestDelta` bounds.
    private(set) var entryCount = 0

    var isEmpty: Bool { changes.isEmpty && outcomeCounts.isEmpty && batchCounts.isEmpty }

    /// The statistics rows touched, in lock order.
    var rowKeys: [StatisticsRowKey] {
        changes.keys.sorted(by: StatisticsRowKey.lockOrder)
    }

    /// Counts the outcome into the statistics of its cohorts' day and month rows.
    mutating func add(_ outcome: CalibrationOutcome) throws {
        // Nearly every outcome has its own score only: its one entry without a list of entries.
        if outcome.shadowModelVersion == nil, outcome.shadowScores.isEmpty {
            guard let label = ScoreLabel(rawValue: outcome.label) else { return }
            let cohort = CohortKey(modelVersion: outcome.modelVersion, cameraModel: outcome.cameraModel, cohort: outcome.site)
            return try collect(outcome, entries: CollectionOfOne((cohort: cohort, label: label, score: outcome.score)), removing: false)
        }
        try collect(outcome, entries: ScoreStatisticsRebuild.entries(of: outcome)[...], removing: false)
    }

    /// Room for `rows` statistics rows and `counts` outcome counters, so that collecting a
    /// batch does not grow the tables again and again (every key rehashed at each growth).
    mutating func reserveCapacity(rows: Int, counts: Int) {
        changes.reserveCapacity(rows)
        outcomeCounts.reserveCapacity(counts)
    }

    /// Uncounts the outcome (it was counted before).
    mutating func remove(_ outcome: CalibrationOutcome) throws {
        try collect(outcome, entries: ScoreStatisticsRebuild.entries(of: outcome)[...], removing: true)
    }

    /// Uncounts only the outcome's `shadow_scores` entries (they were counted before).
    mutating func removeShadowScores(of outcome: CalibrationOutcome) throws {
        let counted = ScoreStatisticsRebuild.entries(of: outcome)
        // `entries` lists the shadow_scores' entries last, one each.
        try collect(outcome, entries: counted.suffix(min(outcome.shadowScores.count, counted.count)), removing: true)
    }

    private mutating func collect(_ outcome: CalibrationOutcome, entries: some Collection<(cohort: CohortKey, label: ScoreLabel, score: Double)>,
                                  removing: Bool) throws {
        let day = StatisticsBuckets.day(of: outcome.attemptedAt)
        let month = StatisticsBuckets.monthStart(ofDay: day)
        // Hashed once for every row the outcome is counted in.
        let group = ImpostorSubjects.group(of: outcome.subjectPseudonym)
        for entry in entries {
            // The two keys one after the other, not in a list: a list was an allocation per outcome.
            try collect(entry, key: StatisticsRowKey(cohort: entry.cohort, granularity: .day, bucket: day), group: group, removing: removing)
            try collect(entry, key: StatisticsRowKey(cohort: entry.cohort, granularity: .month, bucket: month), group: group, removing: removing)
            entryCount += 2
        }
    }

    private mutating func collect(_ entry: (cohort: CohortKey, label: ScoreLabel, score: Double), key: StatisticsRowKey, group: Int,
                                  removing: Bool) throws {
        if removing {
            try changes[key, default: CohortStatisticsChange()].remove(score: entry.score, label: entry.label, group: group)
        } else {
            try changes[key, default: CohortStatisticsChange()].add(score: entry.score, label: entry.label, group: group)
        }
    }

    /// One outcome more (`by: 1`) or fewer (`by: -1`) stored by its device.
    mutating func count(_ outcome: StatisticsOutcome, by change: Int) {
        count(OutcomeCountKey(deviceID: outcome.deviceID, site: outcome.outcome.site, cameraModel: outcome.outcome.cameraModel,
                              label: outcome.outcome.label), by: change)
    }

    /// `change` outcomes more or fewer under one key (a partition of outcomes dropped whole).
    mutating func count(_ key: OutcomeCountKey, by change: Int) {
        // One look-up in the common case (the count does not reach zero), not two.
        var emptied = false
        Self.add(change, to: &outcomeCounts[key, default: 0], emptied: &emptied)
        if emptied { outcomeCounts[key] = nil }
    }

    private static func add(_ change: Int, to count: inout Int, emptied: inout Bool) {
        count += change
        emptied = count == 0
    }

    mutating func countBatch(deviceID: String) {
        batchCounts[deviceID, default: 0] += 1
    }

    /// Takes in what another delta of the same transaction collected (SQLite's group commit
    /// writes its batches' statistics once).
    mutating func merge(_ other: StatisticsDelta) {
        // A batch's delta goes into an empty one twice on SQLite's writer (the batch's, then
        // the group's first): a copy, without a lookup per row.
        if isEmpty && entryCount == 0 {
            self = other
            return
        }
        for (key, change) in other.changes { changes[key, default: CohortStatisticsChange()].append(contentsOf: change) }
        for (key, change) in other.outcomeCounts {
            outcomeCounts[key, default: 0] += change
            if outcomeCounts[key] == 0 { outcomeCounts[key] = nil }
        }
        for (deviceID, batches) in other.batchCounts { batchCounts[deviceID, default: 0] += batches }
        entryCount += other.entryCount
    }

    /// How many statistics rows the delta touches.
    var rowCount: Int { changes.count }

    /// Whether to flush before collecting more (migrations, large sweeps): memory stays bounded.
    var isLarge: Bool { rowCount >= ScoreStatisticsMaintenance.largestDelta || entryCount >= 1 << 20 }

    /// What to write, given the rows as stored (`existing`, encoded; a key without a row has
    /// none yet): each row to write with its new binary form and outcome count, and the rows
    /// that became empty. The change is merged into each row's sparse binary form, never into
    /// dense histograms: a batch costs the size of the rows it touches, not of their grids.
    /// `keys` are `rowKeys`, which the caller sorted already to read the rows.
    func plan(existing: [StatisticsRowKey: [UInt8]], keys: [StatisticsRowKey]) throws -> StatisticsWritePlan {
        var write: [(StatisticsRowKey, StatisticsRowValue)] = []
        var delete: [StatisticsRowKey] = []
        var dayChanges: [StatisticsRowKey: CohortStatisticsChange] = [:]
        for key in keys {
            let change = changes[key] ?? CohortStatisticsChange()
            if key.granularity == .day { dayChanges[key] = change }
            let updated: (encoded: [UInt8], outcomeCount: Int)?
            do {
                updated = try CohortStatistics.applying(change, toEncoded: existing[key], layout: CohortStatistics.liveLayout)
            } catch {
                throw ScoreStatisticsInconsistency(row: key.description, underlying: "\(error)")
            }
            if let updated {
                write.append((key, StatisticsRowValue(encoded: updated.encoded, outcomeCount: updated.outcomeCount)))
            } else if existing[key] != nil {
                delete.append(key)
            }
        }
        return StatisticsWritePlan(write: write, delete: delete, dayChanges: dayChanges)
    }
}

/// What writing a `StatisticsDelta` does to the rows, and the change of each day row (which a
/// process keeping windows of statistics in memory applies to them).
struct StatisticsWritePlan {
    var write: [(StatisticsRowKey, StatisticsRowValue)]
    var delete: [StatisticsRowKey]
    var dayChanges: [StatisticsRowKey: CohortStatisticsChange]
}

/// A statistics row's new content: `CohortStatistics`' binary form and its outcome count.
struct StatisticsRowValue: Sendable {
    var encoded: [UInt8]
    var outcomeCount: Int
}

// MARK: Statements

extension StoreSQL {
    private static let statisticsKey = "model_version, camera_model, site, granularity, bucket"

    private func keyList(_ keys: ArraySlice<StatisticsRowKey>) -> (String, [any SQLArgumentConvertible]) {
        ("(\(Self.statisticsKey)) IN (VALUES " + Array(repeating: "(?, ?, ?, ?, ?)", count: keys.count).joined(separator: ", ") + ")",
         keys.flatMap(\.arguments))
    }

    /// The stored rows of `keys`, locked in `StatisticsRowKey.lockOrder` until the transaction ends.
    func statisticsRows(_ keys: ArraySlice<StatisticsRowKey>) -> StoreStatement {
        let (condition, arguments) = keyList(keys)
        let order = dialect == .sqlite ? "" : """
             ORDER BY model_version COLLATE "C", camera_model COLLATE "C", site COLLATE "C", granularity COLLATE "C", bucket
            """
        return StoreStatement("SELECT \(Self.statisticsKey), statistics FROM score_statistics WHERE \(condition)\(order)\(forUpdate)",
                              arguments: arguments)
    }

    /// PostgreSQL: an empty row for each key that has none, in lock order, so that the next
    /// statement can lock every row of the delta.
    func insertEmptyStatistics(_ keys: ArraySlice<StatisticsRowKey>) -> StoreStatement {
        let empty = ScoreStatisticsMaintenance.emptyStatistics
        return StoreStatement("""
            INSERT INTO score_statistics (\(Self.statisticsKey), outcome_count, statistics)
            VALUES \(Array(repeating: "(?, ?, ?, ?, ?, 0, ?)", count: keys.count).joined(separator: ", ")) ON CONFLICT DO NOTHING
            """, arguments: keys.flatMap { $0.arguments + [empty] })
    }

    /// One upsert for the rows of a delta: each row's statistics as merged in memory.
    func writeStatistics(_ rows: ArraySlice<(StatisticsRowKey, StatisticsRowValue)>) -> StoreStatement {
        StoreStatement("""
            INSERT INTO score_statistics (\(Self.statisticsKey), outcome_count, statistics)
            VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?)", count: rows.count).joined(separator: ", "))
            ON CONFLICT (\(Self.statisticsKey)) DO UPDATE SET outcome_count = excluded.outcome_count, statistics = excluded.statistics
            """, arguments: rows.flatMap { $0.0.arguments + [$0.1.outcomeCount, $0.1.encoded] })
    }

    func deleteStatistics(_ keys: ArraySlice<StatisticsRowKey>) -> StoreStatement {
        let (condition, arguments) = keyList(keys)
        return StoreStatement("DELETE FROM score_statistics WHERE \(condition)", arguments: arguments)
    }

    /// Adds (or takes) outcomes to each device's counters, keys in order.
    func addOutcomeCounts(_ counts: ArraySlice<(key: OutcomeCountKey, value: Int)>) -> StoreStatement {
        StoreStatement("""
            INSERT INTO outcome_counts (device_id, site, camera_model, label, outcomes)
            VALUES \(Array(repeating: "(?, ?, ?, ?, ?)", count: counts.count).joined(separator: ", "))
            ON CONFLICT (device_id, site, camera_model, label) DO UPDATE SET outcomes = outcome_counts.outcomes + excluded.outcomes
            """, arguments: counts.flatMap { [$0.key.deviceID, $0.key.site, $0.key.cameraModel, $0.key.label, $0.value] as [any SQLArgumentConvertible] })
    }

    /// Counters that came down to nothing go, as their outcomes did.
    func deleteEmptyOutcomeCounts(_ keys: ArraySlice<OutcomeCountKey>) -> StoreStatement {
        StoreStatement("""
            DELETE FROM outcome_counts WHERE outcomes = 0 AND (device_id, site, camera_model, label) IN (VALUES
            \(Array(repeating: "(?, ?, ?, ?)", count: keys.count).joined(separator: ", ")))
            """, arguments: keys.flatMap { [$0.deviceID, $0.site, $0.cameraModel, $0.label] as [any SQLArgumentConvertible] })
    }

    func addBatchCount(deviceID: String, batches: Int) -> StoreStatement {
        StoreStatement("""
            INSERT INTO batch_counts (device_id, batches) VALUES (?, ?)
            ON CONFLICT (device_id) DO UPDATE SET batches = batch_counts.batches + excluded.batches
            """, deviceID, batches)
    }

    /// Those of the subjects whose latest consent decision for outcome storage is a limit
    /// (`restrictedSubjects`, for a few subjects through the subject index).
    func restrictedSubjects(among pseudonyms: [String]) -> StoreStatement {
        StoreStatement("""
            SELECT DISTINCT c.subject_pseudonym FROM consent_events c
            WHERE \(inList("c.subject_pseudonym")) AND c.purpose = ? AND c.refusal IS NULL AND c.kind = 'limit' AND NOT EXISTS (
                SELECT 1 FROM consent_events later WHERE later.subject_pseudonym = c.subject_pseudonym AND later.purpose = c.purpose
                AND later.refusal IS NULL AND (later.occurred_at > c.occurred_at OR (later.occurred_at = c.occurred_at AND later.arrival > c.arrival)))
            """, SQLArgument.textList(pseudonyms), Purpose.outcomeStorage.rawValue)
    }

    func statisticsOutcomes(ofSubject pseudonym: String) -> StoreStatement {
        StoreStatement("SELECT \(ScoreStatisticsMaintenance.outcomeColumns) FROM outcomes WHERE subject_pseudonym = ?", pseudonym)
    }

    /// `deleteOutcomes`, returning what it deleted: exactly what the statistics lose, even
    /// when another transaction committed outcomes of the subject meanwhile.
    func deleteOutcomesReturning(of erasure: SubjectErasure) -> StoreStatement {
        let delete = deleteOutcomes(of: erasure)
        return StoreStatement(delete.sql + " RETURNING \(ScoreStatisticsMaintenance.outcomeColumns)", arguments: delete.arguments)
    }

    /// Every outcome, for the migration step that fills the statistics. That step runs before
    /// `shadow_scores` exists on a store being upgraded, and again after it in tests that
    /// rebuild the statistics of a current store: `withShadowScores` says which.
    func allStatisticsOutcomes(withShadowScores: Bool) -> StoreStatement {
        StoreStatement("SELECT \(withShadowScores ? ScoreStatisticsMaintenance.outcomeColumns : ScoreStatisticsMaintenance.outcomeColumnsBeforeShadowScores) FROM outcomes")
    }

    /// Whether `outcomes` has the column `shadow_scores` yet (one row when it has).
    var outcomesHaveShadowScores: StoreStatement {
        dialect == .sqlite
            ? StoreStatement("SELECT 1 FROM pragma_table_info('outcomes') WHERE name = 'shadow_scores'")
            : StoreStatement("""
                SELECT 1 FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'outcomes' AND column_name = 'shadow_scores'
                """)
    }

    /// The rows of the UTC days `firstDay...lastDay` (either bound open) with the fewest rows:
    /// month rows for the months wholly inside, day rows for the days of the partial months
    /// at either end. On SQLite in table (rowid) order, so that each page is read once
    /// whichever way rows were laid out (bucket by bucket as a live store writes them, or
    /// cohort by cohort as a bulk load does); on PostgreSQL by cohort. `PackedWindowBuilder`
    /// takes either.
    func statisticsWindow(firstDay: Int?, lastDay: Int?) -> StoreStatement {
        let window = StatisticsWindowRows(firstDay: firstDay, lastDay: lastDay)
        let rows = """
            (granularity = 'month' AND bucket >= ? AND bucket < ?)
               OR (granularity = 'day' AND ((bucket >= ? AND bucket < ?) OR (bucket >= ? AND bucket <= ?)))
            """
        let sql = dialect == .sqlite
            ? """
              SELECT model_version, camera_model, site, statistics FROM score_statistics
              WHERE rowid IN (SELECT rowid FROM score_statistics WHERE \(rows)) ORDER BY rowid
              """
            : """
              SELECT model_version, camera_model, site, statistics FROM score_statistics
              WHERE \(rows) ORDER BY model_version, camera_model, site
              """
        return StoreStatement(sql, window.months.lowerBound, window.months.upperBound, window.first, window.months.lowerBound,
                              window.months.upperBound, window.last)
    }

    /// The first and last day of the window holding a counted outcome.
    func statisticsDays(firstDay: Int?, lastDay: Int?) -> StoreStatement {
        let window = StatisticsWindowRows(firstDay: firstDay, lastDay: lastDay)
        return StoreStatement("""
            SELECT MIN(bucket) AS first, MAX(bucket) AS last FROM score_statistics WHERE granularity = 'day' AND bucket >= ? AND bucket <= ?
            """, window.first, window.last)
    }

    /// `outcome_counts` summed (as BIGINT: PostgreSQL's SUM of BIGINT is NUMERIC).
    var countedOutcomes: StoreStatement { StoreStatement("SELECT CAST(COALESCE(SUM(outcomes), 0) AS BIGINT) FROM outcome_counts") }
    var countedBatches: StoreStatement { StoreStatement("SELECT CAST(COALESCE(SUM(batches), 0) AS BIGINT) FROM batch_counts") }
    var countedOutcomesByDevice: StoreStatement { StoreStatement("""
        SELECT device_id, CAST(SUM(outcomes) AS BIGINT) AS n FROM outcome_counts GROUP BY device_id ORDER BY device_id
        """) }
    var countedOutcomesByCohort: StoreStatement { StoreStatement("""
        SELECT site, camera_model, CAST(SUM(outcomes) AS BIGINT) AS n FROM outcome_counts GROUP BY site, camera_model
        ORDER BY site, camera_model
        """) }
    var countedOutcomesByLabel: StoreStatement { StoreStatement("SELECT label, CAST(SUM(outcomes) AS BIGINT) AS n FROM outcome_counts GROUP BY label") }
}

/// Which rows answer a window of days.
struct StatisticsWindowRows {
    /// Beyond any day a store holds: an open bound.
    static let unbounded = 1 << 40

    var first: Int
    var last: Int
    /// The first days of the months wholly inside the window (empty when there is none).
    var months: Range<Int>

    init(firstDay: Int?, lastDay: Int?) {
        first = firstDay ?? -Self.unbounded
        last = lastDay ?? Self.unbounded
        let from = firstDay.map { StatisticsBuckets.monthStart(ofDay: $0) == $0 ? $0 : StatisticsBuckets.nextMonthStart(ofDay: $0) }
            ?? -Self.unbounded
        // The month holding `last + 1` starts after the last whole month.
        let to = lastDay.map { StatisticsBuckets.monthStart(ofDay: $0 + 1) } ?? Self.unbounded
        // Without a whole month, the first day range alone covers the window.
        months = from < to ? from..<to : (last + 1)..<(last + 1)
    }
}

extension ArraySlice {
    /// Consecutive slices of at most `size` elements.
    func slices(of size: Int) -> [ArraySlice<Element>] {
        stride(from: startIndex, to: endIndex, by: size).map { self[$0..<Swift.min($0 + size, endIndex)] }
    }
}
