import AuditLog
import Compliance
import FeedbackWire
import Foundation
import GRDB
import StrictJSON

extension SQLiteStore: ComplianceStore {
    // MARK: Reference data

    public func upsertJurisdiction(_ jurisdiction: JurisdictionRecord, actor: String, at time: Date) async throws {
        try await commit(StoreChange.upsertJurisdiction(jurisdiction, actor: actor, at: time, sql: Self.sql))
    }

    public func jurisdictions() async throws -> [JurisdictionRecord] {
        try await pool.read { db in try db.fetchAll(Self.sql.jurisdictions).map(StoreRows.jurisdiction) }
    }

    public func upsertSite(_ site: SiteRecord, actor: String, at time: Date) async throws -> Bool {
        try await commit(StoreChange.upsertSite(site, actor: actor, at: time, sql: Self.sql), ifJurisdictionExists: site.jurisdiction)
    }

    /// Sites and retention rules refer to a jurisdiction: false, and nothing changed, without it.
    private func commit(_ change: StoreChange, ifJurisdictionExists name: String) async throws -> Bool {
        try await pool.write { db in
            guard try db.exists(Self.sql.jurisdictionExists(name: name)) else { return false }
            try db.apply(change)
            return true
        }
    }

    public func sites() async throws -> [SiteRecord] {
        try await pool.read { db in try db.fetchAll(Self.sql.sites).map(StoreRows.site) }
    }

    public func jurisdiction(ofSite site: String) async throws -> JurisdictionRecord? {
        try await pool.read { db in try db.fetchOne(Self.sql.jurisdiction(ofSite: site)).map(StoreRows.jurisdiction) }
    }

    public func setRetention(_ rule: RetentionRule, actor: String, at time: Date) async throws -> Bool {
        try await commit(StoreChange.setRetention(rule, actor: actor, at: time, sql: Self.sql), ifJurisdictionExists: rule.jurisdiction)
    }

    public func retentionRules() async throws -> [RetentionRule] {
        try await pool.read { db in try db.fetchAll(Self.sql.retentionRules).compactMap(StoreRows.retentionRule) }
    }

    public func addConsentText(_ text: ConsentText, actor: String, at time: Date) async throws -> Bool {
        let audit = try PendingAuditEntry(.consentTextAdded, actor: actor, details: StoreAuditDetails.consentText(text), at: time)
        return try await pool.write { db in
            guard try db.changes(Self.sql.insertConsentText(text)) == 1 else { return false }
            try db.appendAudit([audit])
            return true
        }
    }

    public func consentTexts() async throws -> [ConsentText] {
        try await pool.read { db in try db.fetchAll(Self.sql.consentTexts(purpose: nil)).compactMap(StoreRows.consentText) }
    }

    // MARK: Consent events

    /// Records an uploaded consent event in its batch's transaction; a withdrawal erases at once.
    /// A limit takes the subject's outcomes out of the live statistics, a later decision that
    /// lifts it puts them back (`ScoreStatisticsMaintenance`).
    /// `restrictedBefore`: whether the subject is restricted now, when the caller read it
    /// already; nil to read it here. An event put in force is added to `consent` (for a
    /// subject it holds), as reading the subject again would add it. The event's audit entry
    /// joins `pendingAudit`, which the caller appends after the batch's last event: one read of
    /// the next index and one statement for a kiosk's 64 grants, not 64 of each. An erasure's
    /// own entries are appended after those pending, in the order they happened.
    static func record(_ intake: ConsentEventIntake, windows: SQLiteStatisticsWindows, restrictedBefore: Bool? = nil,
                       consent: inout ConsentCache, pendingAudit: inout [PendingAuditEntry], in db: Database) throws -> BatchReceipt.RefusedEvent? {
        let pseudonym = intake.event.pseudonym
        let watched = ScoreStatisticsMaintenance.watches(intake)
        let wasRestricted = watched ? try restrictedBefore ?? isRestricted(pseudonym, in: db) : false
        guard try db.changes(intake.insert) == 1 else { throw intake.duplicate }
        if intake.refusal == nil { consent.recorded(intake.event, arrival: db.lastInsertedRowID) }
        pendingAudit.append(intake.audit)
        var statistics = StatisticsDelta()
        // Only a limit can restrict; only a subject restricted before can be lifted.
        if watched, wasRestricted || intake.event.kind == .limit {
            try restrictionMayHaveChanged(pseudonym, wasRestricted: wasRestricted, into: &statistics, in: db)
        }
        if let erasure = intake.erasure {
            try db.appendAudit(pendingAudit)
            pendingAudit = []
            _ = try erase(erasure, statistics: &statistics, in: db)
        }
        try flush(statistics, in: db, windows: windows)
        return intake.refusal
    }

    public func consentEvents(_ filter: ConsentEventFilter) async throws -> [StoredConsentEvent] {
        try await pool.read { db in try db.fetchAll(Self.sql.consentEvents(filter)).compactMap(StoreRows.consentEvent) }
    }

    public func consentDecisions(pseudonyms: [String], purpose: Purpose, at moment: Date,
                                 askedBy deviceID: String) async throws -> [String: ConsentRefusal?] {
        try await pool.read { db in
            let answerable = Set(try db.column(String.self, Self.sql.subjectsAtKioskSites(pseudonyms: pseudonyms, deviceID: deviceID)))
            var consent = ConsentCache()
            try db.prepare(&consent, for: Array(answerable), purpose: purpose)
            return consent.decisions(pseudonyms, purpose: purpose, at: moment, answerable: answerable)
        }
    }

    // MARK: Erasure

    public func eraseSubject(pseudonym: String, purposes: [Purpose], cause: ErasureRecord.Cause, trigger: String?,
                             requestedAt: Date, actor: String, at time: Date) async throws -> [ErasureRecord] {
        let records = try await pool.write { db in
            var statistics = StatisticsDelta()
            let records = try purposes.map {
                try Self.erase(SubjectErasure(pseudonym: pseudonym, purpose: $0, cause: cause, trigger: trigger, requestedAt: requestedAt,
                                              actor: actor, time: time), statistics: &statistics, in: db)
            }
            try Self.flush(statistics, in: db, windows: self.statisticsWindows)
            return records
        }
        try await truncateLog()
        return records
    }

    /// Runs the erasure and keeps its record, in the caller's transaction; what it deleted is
    /// collected in `statistics`, for the caller to flush.
    static func erase(_ erasure: SubjectErasure, statistics: inout StatisticsDelta, in db: Database) throws -> ErasureRecord {
        var batches = 0, outcomes = 0
        if let (redactBatches, _) = erasure.statements(sql) {
            batches = try db.changes(redactBatches)
            let deleted = try db.fetchAll(sql.deleteOutcomesReturning(of: erasure)).map(StatisticsOutcome.init(row:))
            outcomes = deleted.count
            if !deleted.isEmpty {
                try ScoreStatisticsMaintenance.deleted(deleted, restricted: try isRestricted(erasure.pseudonym, in: db), into: &statistics)
            }
        } else if erasure.clearsShadowScores {
            let held = try db.fetchAll(sql.shadowScoreOutcomes(of: erasure))
            let eventIDs = try held.map { try $0.text("event_id") }
            if !eventIDs.isEmpty {
                batches = try db.changes(sql.redactBatches(holdingOutcomes: eventIDs, at: erasure.time))
                try db.execute(sql.clearShadowScores(eventIDs: eventIDs))
                outcomes = eventIDs.count
                try ScoreStatisticsMaintenance.shadowScoresCleared(try held.map(StatisticsOutcome.init(row:)),
                                                              restricted: try isRestricted(erasure.pseudonym, in: db), into: &statistics)
            }
        }
        let (record, change) = try erasure.completion(batchesRedacted: batches, outcomesErased: outcomes, sql: sql)
        try db.apply(change)
        return record
    }

    public func erasures() async throws -> [ErasureRecord] {
        try await pool.read { db in try db.fetchAll(Self.sql.erasures).compactMap(StoreRows.erasure) }
    }

    public func erasure(id: String) async throws -> ErasureRecord? {
        try await pool.read { db in try db.fetchOne(Self.sql.erasure(id: id)).flatMap(StoreRows.erasure) }
    }

    // MARK: Retention

    /// Finding the subjects reads every outcome of a jurisdiction (when retention starts
    /// counting, the earlier of the attempt and the batch's arrival, is in no index), which on
    /// a store of millions of outcomes takes minutes. So they are found in a read snapshot, which
    /// leaves the writer free for uploads, and the write transaction erases those of them that
    /// still qualify, each checked through the subject index: the same erasures as one
    /// transaction doing both would make, except for a subject whose first overdue outcome was
    /// stored after the snapshot, whom the next sweep takes.
    public func sweepRetention(now: Date) async throws -> [ErasureRecord] {
        let found = try await pool.read { db in try Self.retentionCandidates(now: now, in: db) }
        let swept = try await pool.write { db in
            var records: [ErasureRecord] = []
            var statistics = StatisticsDelta()
            let rules = try db.fetchAll(Self.sql.retentionOfOutcomes).map { try RetentionCutoff($0, now: now) }
            // A rule changed since the snapshot: its candidates are found again here.
            let candidates = rules == found.map(\.retention) ? found : try Self.retentionCandidates(now: now, in: db)
            for (retention, candidateDue, candidateIdle) in candidates {
                let due = try candidateDue.filter {
                    try db.exists(Self.sql.subjectHeldBefore($0, retention.cutoff, jurisdiction: retention.jurisdiction))
                }
                let idle = try retention.idleBefore.map { idleBefore in
                    try candidateIdle.filter {
                        try db.exists(Self.sql.subjectHeldBefore($0, idleBefore, jurisdiction: retention.jurisdiction))
                            && !db.exists(Self.sql.subjectHeldSince($0, idleBefore, jurisdiction: retention.jurisdiction))
                    }
                } ?? []
                for erasure in retention.erasures(due: due, idle: idle, now: now) {
                    let record = try Self.erase(erasure, statistics: &statistics, in: db)
                    if record.outcomesErased > 0 { records.append(record) }
                    if statistics.isLarge {
                        try Self.flush(statistics, in: db, windows: self.statisticsWindows)
                        statistics = StatisticsDelta()
                    }
                }
            }
            // Day rows whose outcomes all went are deleted here, month rows likewise.
            try Self.flush(statistics, in: db, windows: self.statisticsWindows)
            try db.appendAudit(RetentionCutoff.sweepAudit(records, at: now))
            return records
        }
        if !swept.isEmpty { try await truncateLog() }
        return swept
    }

    /// Per jurisdiction's rule, the subjects due (`subjectsHeldBefore`) and idle
    /// (`subjectsIdleSince`) as `db` sees them.
    private static func retentionCandidates(now: Date, in db: Database) throws
        -> [(retention: RetentionCutoff, due: [String], idle: [String])] {
        try db.fetchAll(sql.retentionOfOutcomes).map { try RetentionCutoff($0, now: now) }.map { retention in
            (retention, try db.column(String.self, sql.subjectsHeldBefore(retention.cutoff, jurisdiction: retention.jurisdiction)),
             try retention.idleBefore.map { try db.column(String.self, sql.subjectsIdleSince($0, jurisdiction: retention.jurisdiction)) } ?? [])
        }
    }

    public func overdueRetention(now: Date) async throws -> [OverdueRetention] {
        try await pool.read { db in
            try db.fetchAll(Self.sql.retentionOfOutcomes).map { try RetentionCutoff($0, now: now) }.compactMap { retention in
                try db.fetchOne(Self.sql.overdueOutcomes(jurisdiction: retention.jurisdiction, heldBefore: retention.cutoff))
                    .flatMap { try StoreRows.overdueRetention($0, jurisdiction: retention.jurisdiction) }
            }
        }
    }

    // MARK: Reports

    public func withdrawalReport() async throws -> [WithdrawalReportRow] {
        try await pool.read { db in try db.fetchAll(Self.sql.withdrawals).compactMap(StoreRows.withdrawal) }
    }

    public func reconsentCoverage() async throws -> [ReconsentCoverage] {
        try await pool.read { db in
            try db.fetchAll(Self.sql.materialTextVersions).compactMap { version in
                try StoreRows.reconsentCoverage(version, counts: db.fetchOne(Self.sql.reconsentCounts(purpose: version.text("purpose"),
                                                                                                      version: version.text("version"))))
            }
        }
    }

    // MARK: Data-subject requests

    public func subjectExport(pseudonym: String) async throws -> SubjectExport {
        try await pool.read { db in
            SubjectExport(pseudonym: pseudonym,
                          consentEvents: try db.fetchAll(Self.sql.subjectConsentEvents(pseudonym)).compactMap(StoreRows.consentEvent),
                          outcomes: try db.fetchAll(Self.sql.subjectOutcomes(pseudonym)).map(StoreRows.exportedOutcome),
                          erasures: try db.fetchAll(Self.sql.subjectErasures(pseudonym)).compactMap(StoreRows.erasure),
                          requests: try db.fetchAll(Self.sql.subjectRequests(pseudonym)).compactMap(StoreRows.subjectRequest))
        }
    }

    public func addSubjectRequest(_ request: SubjectRequestRecord, actor: String) async throws {
        try await commit(StoreChange.addSubjectRequest(request, actor: actor, sql: Self.sql))
    }

    public func completeSubjectRequest(id: String, at time: Date, resultSHA256: String) async throws -> SubjectRequestRecord? {
        try await pool.write { db in
            try db.execute(Self.sql.completeSubjectRequest(id: id, at: time, resultSHA256: resultSHA256))
            return try db.fetchOne(Self.sql.subjectRequest(id: id)).flatMap(StoreRows.subjectRequest)
        }
    }

    public func subjectRequests() async throws -> [SubjectRequestRecord] {
        try await pool.read { db in try db.fetchAll(Self.sql.subjectRequests).compactMap(StoreRows.subjectRequest) }
    }

    // MARK: Audit log

    public func appendAudit(kind: String, actor: String, details: JSONValue, at time: Date) async throws {
        guard let kind = AuditEntry.Kind(rawValue: kind) else { throw ComplianceStoreError.unknownAuditKind(kind) }
        try await commit(StoreChange([], audit: [PendingAuditEntry(kind, actor: actor, details: details, at: time)]))
    }

    public func auditTreeSize() async throws -> Int {
        try await pool.read { db in try db.scalar(Int.self, Self.sql.auditTreeSize) ?? 0 }
    }

    public func auditEntries(from: Int, to: Int) async throws -> [[UInt8]] {
        try await pool.read { db in try db.column(Data.self, Self.sql.auditEntries(from: from, to: to)).map { [UInt8]($0) } }
    }

    public func auditLeafHashes(count: Int) async throws -> [[UInt8]] {
        try await pool.read { db in try db.column(Data.self, Self.sql.auditLeafHashes(count: count)).map { [UInt8]($0) } }
    }

    public func addAuditCheckpoint(treeSize: Int, checkpoint: [UInt8]) async throws {
        try await commit(StoreChange([Self.sql.upsertAuditCheckpoint(treeSize: treeSize, checkpoint: checkpoint)]))
    }

    public func auditCheckpoints() async throws -> [StoredAuditCheckpoint] {
        try await pool.read { db in try db.fetchAll(Self.sql.auditCheckpoints).map(StoreRows.auditCheckpoint) }
    }
}
