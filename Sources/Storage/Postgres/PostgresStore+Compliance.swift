import AuditLog
import Compliance
import FeedbackWire
import Foundation
import StrictJSON

extension PostgresStore: ComplianceStore {
    // MARK: Reference data

    public func upsertJurisdiction(_ jurisdiction: JurisdictionRecord, actor: String, at time: Date) async throws {
        try await commit(StoreChange.upsertJurisdiction(jurisdiction, actor: actor, at: time, sql: Self.sql))
    }

    public func jurisdictions() async throws -> [JurisdictionRecord] {
        try await read { db in try await db.fetchAll(Self.sql.jurisdictions).map(StoreRows.jurisdiction) }
    }

    public func upsertSite(_ site: SiteRecord, actor: String, at time: Date) async throws -> Bool {
        try await commit(StoreChange.upsertSite(site, actor: actor, at: time, sql: Self.sql), ifJurisdictionExists: site.jurisdiction)
    }

    /// Sites and retention rules refer to a jurisdiction: false, and nothing changed, without it.
    private func commit(_ change: StoreChange, ifJurisdictionExists name: String) async throws -> Bool {
        try await write { db in
            guard try await db.exists(Self.sql.jurisdictionExists(name: name)) else { return false }
            try await db.apply(change)
            return true
        }
    }

    public func sites() async throws -> [SiteRecord] {
        try await read { db in try await db.fetchAll(Self.sql.sites).map(StoreRows.site) }
    }

    public func jurisdiction(ofSite site: String) async throws -> JurisdictionRecord? {
        try await read { db in try await db.fetchOne(Self.sql.jurisdiction(ofSite: site)).map(StoreRows.jurisdiction) }
    }

    public func setRetention(_ rule: RetentionRule, actor: String, at time: Date) async throws -> Bool {
        try await commit(StoreChange.setRetention(rule, actor: actor, at: time, sql: Self.sql), ifJurisdictionExists: rule.jurisdiction)
    }

    public func retentionRules() async throws -> [RetentionRule] {
        try await read { db in try await db.fetchAll(Self.sql.retentionRules).compactMap(StoreRows.retentionRule) }
    }

    public func addConsentText(_ text: ConsentText, actor: String, at time: Date) async throws -> Bool {
        let audit = try PendingAuditEntry(.consentTextAdded, actor: actor, details: StoreAuditDetails.consentText(text), at: time)
        return try await write { db in
            guard try await db.changes(Self.sql.insertConsentText(text)) == 1 else { return false }
            try await db.apply(StoreChange([], audit: [audit]))
            return true
        }
    }

    public func consentTexts() async throws -> [ConsentText] {
        try await read { db in try await db.fetchAll(Self.sql.consentTexts(purpose: nil)).compactMap(StoreRows.consentText) }
    }

    // MARK: Consent events

    /// The registered hashes of the text the event cites, read once per transaction: a batch
    /// of many consent events mostly cites one text.
    static func consentTextHashes(of event: ConsentEvent, in db: SQLConnection) async throws -> [String] {
        let key = event.purpose + "\u{0}" + event.textVersion
        if let known = db.memo.consentTextHashes[key] { return known }
        let hashes = try await db.column(String.self, sql.consentTextHashes(purpose: event.purpose, version: event.textVersion))
        db.memo.consentTextHashes[key] = hashes
        return hashes
    }

    /// Records an uploaded consent event in its batch's transaction; a withdrawal erases at once.
    /// A limit takes the subject's outcomes out of the live statistics, a later decision that
    /// lifts it puts them back (`ScoreStatisticsMaintenance`).
    static func record(_ intake: ConsentEventIntake, in db: SQLConnection) async throws -> BatchReceipt.RefusedEvent? {
        let pseudonym = intake.event.pseudonym
        let watched = ScoreStatisticsMaintenance.watches(intake)
        let wasRestricted = watched ? try await isRestricted(pseudonym, in: db) : false
        guard try await db.changes(intake.insert) == 1 else { throw intake.duplicate }
        try await db.apply(StoreChange([], audit: [intake.audit]))
        var statistics = StatisticsDelta()
        // Only a limit can restrict; only a subject restricted before can be lifted.
        if watched, wasRestricted || intake.event.kind == .limit {
            try await restrictionMayHaveChanged(pseudonym, wasRestricted: wasRestricted, into: &statistics, in: db)
        }
        if let erasure = intake.erasure { _ = try await erase(erasure, statistics: &statistics, in: db) }
        try await flush(statistics, in: db)
        return intake.refusal
    }

    public func consentEvents(_ filter: ConsentEventFilter) async throws -> [StoredConsentEvent] {
        try await read { db in try await db.fetchAll(Self.sql.consentEvents(filter)).compactMap(StoreRows.consentEvent) }
    }

    public func consentDecisions(pseudonyms: [String], purpose: Purpose, at moment: Date,
                                 askedBy deviceID: String) async throws -> [String: ConsentRefusal?] {
        try await read { db in
            let answerable = Set(try await db.column(String.self, Self.sql.subjectsAtKioskSites(pseudonyms: pseudonyms, deviceID: deviceID)))
            var consent = ConsentCache()
            try await db.prepare(&consent, for: Array(answerable), purpose: purpose)
            return consent.decisions(pseudonyms, purpose: purpose, at: moment, answerable: answerable)
        }
    }

    // MARK: Erasure

    public func eraseSubject(pseudonym: String, purposes: [Purpose], cause: ErasureRecord.Cause, trigger: String?,
                             requestedAt: Date, actor: String, at time: Date) async throws -> [ErasureRecord] {
        try await write { db in
            try await AdvisoryLock.consent(exclusive: true, in: db)
            var records: [ErasureRecord] = []
            var statistics = StatisticsDelta()
            for purpose in purposes {
                records.append(try await Self.erase(SubjectErasure(pseudonym: pseudonym, purpose: purpose, cause: cause, trigger: trigger,
                                                                   requestedAt: requestedAt, actor: actor, time: time),
                                                    statistics: &statistics, in: db))
            }
            try await Self.flush(statistics, in: db)
            return records
        }
    }

    /// Runs the erasure and keeps its record, in the caller's transaction.
    /// What it deleted is collected in `statistics`, for the caller to flush: the rows the
    /// DELETE returned, so an outcome committed meanwhile is not subtracted unless deleted.
    static func erase(_ erasure: SubjectErasure, statistics: inout StatisticsDelta, in db: SQLConnection) async throws -> ErasureRecord {
        var batches = 0, outcomes = 0
        if let (redactBatches, _) = erasure.statements(sql) {
            batches = try await db.changes(redactBatches)
            let deleted = try await db.fetchAll(sql.deleteOutcomesReturning(of: erasure)).map(StatisticsOutcome.init(row:))
            outcomes = deleted.count
            if !deleted.isEmpty {
                try ScoreStatisticsMaintenance.deleted(deleted, restricted: try await isRestricted(erasure.pseudonym, in: db),
                                                       into: &statistics)
            }
        } else if erasure.clearsShadowScores {
            // Locked by the SELECT: exactly these rows are cleared and uncounted.
            let held = try await db.fetchAll(sql.shadowScoreOutcomes(of: erasure))
            let eventIDs = try held.map { try $0.text("event_id") }
            if !eventIDs.isEmpty {
                batches = try await db.changes(sql.redactBatches(holdingOutcomes: eventIDs, at: erasure.time))
                try await db.execute(sql.clearShadowScores(eventIDs: eventIDs))
                outcomes = eventIDs.count
                try ScoreStatisticsMaintenance.shadowScoresCleared(try held.map(StatisticsOutcome.init(row:)),
                                                              restricted: try await isRestricted(erasure.pseudonym, in: db),
                                                              into: &statistics)
            }
        }
        let (record, change) = try erasure.completion(batchesRedacted: batches, outcomesErased: outcomes, sql: sql)
        try await db.apply(change)
        return record
    }

    public func erasures() async throws -> [ErasureRecord] {
        try await read { db in try await db.fetchAll(Self.sql.erasures).compactMap(StoreRows.erasure) }
    }

    public func erasure(id: String) async throws -> ErasureRecord? {
        try await read { db in try await db.fetchOne(Self.sql.erasure(id: id)).flatMap(StoreRows.erasure) }
    }

    // MARK: Retention

    public func sweepRetention(now: Date) async throws -> [ErasureRecord] {
        try await organizeOutcomeMonths(now: now)
        // Whole months first; then, row by row, what is due in the months that stay.
        let droppedMonths = try await dropDueOutcomeMonths(now: now)
        // The consent lock shared, as uploads take it: an outcome committed meanwhile with an
        // attempt past its retention (a kiosk long offline) is not missed for good, only until
        // the next sweep, and uploads go on; but no subject's restriction changes under the
        // sweep, so what it subtracts from the live statistics is what they hold.
        return try await droppedMonths + write { db in
            try await AdvisoryLock.consent(exclusive: false, in: db)
            var records: [ErasureRecord] = []
            var statistics = StatisticsDelta()
            for retention in try await db.fetchAll(Self.sql.retentionOfOutcomes).map({ try RetentionCutoff($0, now: now) }) {
                let due = try await db.column(String.self, Self.sql.subjectsHeldBefore(retention.cutoff, jurisdiction: retention.jurisdiction))
                var idle: [String] = []
                if let idleBefore = retention.idleBefore {
                    idle = try await db.column(String.self, Self.sql.subjectsIdleSince(idleBefore, jurisdiction: retention.jurisdiction))
                }
                for erasure in retention.erasures(due: due, idle: idle, now: now) {
                    let record = try await Self.erase(erasure, statistics: &statistics, in: db)
                    if record.outcomesErased > 0 { records.append(record) }
                    if statistics.isLarge {
                        try await Self.flush(statistics, in: db)
                        statistics = StatisticsDelta()
                    }
                }
            }
            // Day rows whose outcomes all went are deleted here, month rows likewise.
            try await Self.flush(statistics, in: db)
            try await db.apply(StoreChange([], audit: RetentionCutoff.sweepAudit(records, at: now)))
            return records
        }
    }

    public func overdueRetention(now: Date) async throws -> [OverdueRetention] {
        try await read { db in
            var overdue: [OverdueRetention] = []
            for retention in try await db.fetchAll(Self.sql.retentionOfOutcomes).map({ try RetentionCutoff($0, now: now) }) {
                let row = try await db.fetchOne(Self.sql.overdueOutcomes(jurisdiction: retention.jurisdiction, heldBefore: retention.cutoff))
                if let late = try row.flatMap({ try StoreRows.overdueRetention($0, jurisdiction: retention.jurisdiction) }) {
                    overdue.append(late)
                }
            }
            return overdue
        }
    }

    // MARK: Reports

    public func withdrawalReport() async throws -> [WithdrawalReportRow] {
        try await read { db in try await db.fetchAll(Self.sql.withdrawals).compactMap(StoreRows.withdrawal) }
    }

    public func reconsentCoverage() async throws -> [ReconsentCoverage] {
        try await read { db in
            var coverage: [ReconsentCoverage] = []
            for version in try await db.fetchAll(Self.sql.materialTextVersions) {
                let counts = try await db.fetchOne(Self.sql.reconsentCounts(purpose: version.text("purpose"), version: version.text("version")))
                if let covered = try StoreRows.reconsentCoverage(version, counts: counts) { coverage.append(covered) }
            }
            return coverage
        }
    }

    // MARK: Data-subject requests

    public func subjectExport(pseudonym: String) async throws -> SubjectExport {
        try await read { db in
            let events = try await db.fetchAll(Self.sql.subjectConsentEvents(pseudonym)).compactMap(StoreRows.consentEvent)
            let outcomes = try await db.fetchAll(Self.sql.subjectOutcomes(pseudonym)).map(StoreRows.exportedOutcome)
            let erasures = try await db.fetchAll(Self.sql.subjectErasures(pseudonym)).compactMap(StoreRows.erasure)
            let requests = try await db.fetchAll(Self.sql.subjectRequests(pseudonym)).compactMap(StoreRows.subjectRequest)
            return SubjectExport(pseudonym: pseudonym, consentEvents: events, outcomes: outcomes, erasures: erasures, requests: requests)
        }
    }

    public func addSubjectRequest(_ request: SubjectRequestRecord, actor: String) async throws {
        try await commit(StoreChange.addSubjectRequest(request, actor: actor, sql: Self.sql))
    }

    public func completeSubjectRequest(id: String, at time: Date, resultSHA256: String) async throws -> SubjectRequestRecord? {
        try await write { db in
            try await db.execute(Self.sql.completeSubjectRequest(id: id, at: time, resultSHA256: resultSHA256))
            return try await db.fetchOne(Self.sql.subjectRequest(id: id)).flatMap(StoreRows.subjectRequest)
        }
    }

    public func subjectRequests() async throws -> [SubjectRequestRecord] {
        try await read { db in try await db.fetchAll(Self.sql.subjectRequests).compactMap(StoreRows.subjectRequest) }
    }

    // MARK: Audit log

    /// Writes the transaction's audit entries under the log's lock, which makes every node's
    /// appends one gap-free sequence: the next index is read only once the previous appender
    /// has committed or rolled back, and the lock is held until this transaction commits.
    static func flushAudit(in db: SQLConnection) async throws {
        let pending = db.memo.pendingAudit
        guard !pending.isEmpty else { return }
        db.memo.pendingAudit = []
        try await db.execute("SELECT pg_advisory_xact_lock(?)", AdvisoryLock.auditLog)
        let first = try await db.scalar(Int.self, sql.nextAuditIndex) ?? 0
        for statement in try sql.insertAuditEntries(pending, firstIndex: first) { try await db.execute(statement) }
    }

    public func appendAudit(kind: String, actor: String, details: JSONValue, at time: Date) async throws {
        guard let kind = AuditEntry.Kind(rawValue: kind) else { throw ComplianceStoreError.unknownAuditKind(kind) }
        try await commit(StoreChange([], audit: [PendingAuditEntry(kind, actor: actor, details: details, at: time)]))
    }

    public func auditTreeSize() async throws -> Int {
        try await read { db in try await db.scalar(Int.self, Self.sql.auditTreeSize) ?? 0 }
    }

    public func auditEntries(from: Int, to: Int) async throws -> [[UInt8]] {
        try await read { db in try await db.fetchAll(Self.sql.auditEntries(from: from, to: to)).map { try $0.bytes("entry") } }
    }

    public func auditLeafHashes(count: Int) async throws -> [[UInt8]] {
        try await read { db in try await db.fetchAll(Self.sql.auditLeafHashes(count: count)).map { try $0.bytes("leaf_hash") } }
    }

    public func addAuditCheckpoint(treeSize: Int, checkpoint: [UInt8]) async throws {
        try await commit(StoreChange([Self.sql.upsertAuditCheckpoint(treeSize: treeSize, checkpoint: checkpoint)]))
    }

    public func auditCheckpoints() async throws -> [StoredAuditCheckpoint] {
        try await read { db in try await db.fetchAll(Self.sql.auditCheckpoints).map(StoreRows.auditCheckpoint) }
    }
}
