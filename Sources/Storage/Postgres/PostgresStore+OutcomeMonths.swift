import Compliance
import Foundation

/// `outcomes` partitioned by month (`OutcomeMonth`, migration v15-outcomes-by-month): every
/// start and every retention sweep make sure this month and the next two have their
/// partitions, and a sweep drops a month whole once every outcome in it is due, instead of
/// deleting its rows one by one.
extension PostgresStore {
    /// The months that have a partition, oldest first.
    public func outcomeMonths() async throws -> [Date] {
        try await read { db in try await Self.partitionedMonths(in: db).map { StatisticsBuckets.start(ofDay: $0.firstDay) } }
    }

    /// The months with rows in the default partition, this month and the next two (by `now`),
    /// and those of `covering` (a bulk load about to come) get a partition each; the rows move
    /// out of the default partition into theirs.
    public func organizeOutcomeMonths(now: Date, covering days: ClosedRange<Int>? = nil) async throws {
        let current = OutcomeMonth(containing: now)
        try await write { db in
            try await db.execute("SELECT pg_advisory_xact_lock(?)", AdvisoryLock.outcomeMonths)
            let existing = Set(try await Self.partitionedMonths(in: db))
            var wanted: Set<OutcomeMonth> = [current, current.next, current.next.next]
            if let days {
                var month = OutcomeMonth(containingDay: days.lowerBound)
                while month.firstDay <= days.upperBound {
                    wanted.insert(month)
                    month = month.next
                }
            }
            for day in try await db.column(Int.self, OutcomeMonthsSQL.attemptDays(in: OutcomeMonth.defaultPartition)) {
                wanted.insert(OutcomeMonth(containingDay: day))
            }
            for month in wanted.subtracting(existing).sorted() where month.isNameable {
                for statement in OutcomeMonthsSQL.create(month) { try await db.execute(statement) }
            }
        }
    }

    /// Drops each month all of whose outcomes are due under their jurisdictions' retention at
    /// `now`, oldest first, each in a transaction of its own: one erasure record per
    /// jurisdiction and subject with outcomes in it, the batches that held them redacted, the
    /// kiosks' counters lowered and the statistics rows of its days and of the month deleted
    /// (they count only its outcomes). A month that cannot go is found first by a read that
    /// blocks nothing. The month's outcomes are read and its batches redacted under a lock of
    /// its partition alone, which uploads of other months never take; only the short rest
    /// (counters, statistics rows, the `DROP` and, at the commit, the audit entries) holds the
    /// whole table, as dropping a partition needs. (Erasures wait for the consent lock before
    /// they touch a table. A late upload into the month waits for the partition while holding
    /// the table, and the drop then waits for the upload: PostgreSQL aborts one of the two as a
    /// deadlock, and `write` runs it again.)
    func dropDueOutcomeMonths(now: Date) async throws -> [ErasureRecord] {
        let (retentions, months) = try await read { db in
            (try await db.fetchAll(Self.sql.retentionOfOutcomes).map { try RetentionCutoff($0, now: now) },
             try await Self.partitionedMonths(in: db))
        }
        var records: [ErasureRecord] = []
        for month in months {
            let expired = retentions.filter { $0.cutoff >= month.end }
            // Later months end later: none of them is due either.
            guard !expired.isEmpty else { break }
            let jurisdictions = expired.map(\.jurisdiction)
            guard try await read({ db in try await !db.exists(OutcomeMonthsSQL.heldOutside(month, jurisdictions: jurisdictions)) }) else {
                continue
            }
            records += try await write { db in
                try await AdvisoryLock.consent(exclusive: false, in: db)
                guard try await Self.partitionedMonths(in: db).contains(month) else { return [] }
                try await db.execute("LOCK TABLE \(month.partitionName) IN SHARE MODE")
                guard try await !db.exists(OutcomeMonthsSQL.heldOutside(month, jurisdictions: jurisdictions)) else { return [] }
                return try await Self.drop(month, retentions: expired, now: now, in: db)
            }
        }
        return records
    }

    private static func drop(_ month: OutcomeMonth, retentions: [RetentionCutoff], now: Date,
                             in db: SQLConnection) async throws -> [ErasureRecord] {
        struct Subject: Hashable {
            var jurisdiction: String
            var pseudonym: String
        }
        var batches: [Subject: Int] = [:]
        for row in try await db.fetchAll(OutcomeMonthsSQL.batchesToRedact(month)) {
            batches[Subject(jurisdiction: try row.text("jurisdiction"), pseudonym: try row.text("subject_pseudonym")), default: 0] += 1
        }
        try await db.execute(OutcomeMonthsSQL.redactBatches(month, at: now))
        var delta = StatisticsDelta()
        for row in try await db.fetchAll(OutcomeMonthsSQL.outcomeCounts(month)) {
            delta.count(OutcomeCountKey(deviceID: try row.text("device_id"), site: try row.text("site"),
                                        cameraModel: try row.text("camera_model"), label: try row.text("label")),
                        by: -(try row.integer("outcomes")))
        }
        let cutoffs = Dictionary(retentions.map { ($0.jurisdiction, $0) }, uniquingKeysWith: { first, _ in first })
        var records: [ErasureRecord] = [], audit: [PendingAuditEntry] = []
        for row in try await db.fetchAll(OutcomeMonthsSQL.subjects(month)) {
            let subject = Subject(jurisdiction: try row.text("jurisdiction"), pseudonym: try row.text("subject_pseudonym"))
            guard let retention = cutoffs[subject.jurisdiction] else {
                throw ScoreStatisticsInconsistency(row: month.partitionName,
                                                   underlying: "outcomes of \(subject.jurisdiction), whose cutoff has not passed")
            }
            let (record, entry) = try retention.erasure(of: subject.pseudonym, now: now)
                .completion(batchesRedacted: batches[subject] ?? 0, outcomesErased: try row.integer("outcomes"))
            records.append(record)
            audit.append(entry)
        }
        // Uploads read erasure records but never write them, so they go in before the table is
        // held (2 s for 272,000 subjects). Their audit entries are written at the commit, under
        // the audit log's lock, which an upload with consent events takes while it holds the
        // table: taken any earlier, the two would wait for each other.
        try await db.apply(StoreChange(sql.insertErasures(records), audit: audit + RetentionCutoff.sweepAudit(records, at: now)))
        // The whole table from here on, taken before the counter and statistics rows that uploads
        // write while they hold it, so that neither side then waits for the other in turn.
        try await db.execute("LOCK TABLE ONLY outcomes IN ACCESS EXCLUSIVE MODE")
        try await flush(delta, in: db)
        try await db.execute(OutcomeMonthsSQL.deleteStatistics(month))
        try await db.execute(StatisticsChangesSQL.forgetEarlierReads)
        try await db.execute(OutcomeMonthsSQL.drop(month))
        return records
    }

    /// Migration v15-outcomes-by-month: a partition for each month the outcomes were attempted
    /// in, the rows copied from the table as it was, then the indexes.
    static func moveOutcomesIntoMonths(in db: SQLConnection) async throws {
        var months = Set<OutcomeMonth>()
        for day in try await db.column(Int.self, OutcomeMonthsSQL.attemptDays(in: "outcomes_unpartitioned")) {
            months.insert(OutcomeMonth(containingDay: day))
        }
        for month in months.sorted() where month.isNameable {
            try await db.execute("CREATE TABLE \(month.partitionName) PARTITION OF outcomes FOR VALUES \(month.bounds)")
        }
        let columns = StoreTables.outcomes.columns.map(\.name).joined(separator: ", ")
        try await db.execute("INSERT INTO outcomes (\(columns)) SELECT \(columns) FROM outcomes_unpartitioned")
        try await db.execute("DROP TABLE outcomes_unpartitioned")
        for index in StoreTables.outcomes.indexes { try await db.execute(StoreTables.outcomes.createIndex(index.name)) }
    }

    static func partitionedMonths(in db: SQLConnection) async throws -> [OutcomeMonth] {
        try await db.column(String.self, OutcomeMonthsSQL.partitions).compactMap(OutcomeMonth.init(partitionName:)).sorted()
    }
}
