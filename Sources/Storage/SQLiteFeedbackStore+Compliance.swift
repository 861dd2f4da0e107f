import AuditLog
import Compliance
import Feedback
import Foundation
import GRDB

extension SQLiteFeedbackStore: ComplianceStore {
    // MARK: Reference data

    public func upsertJurisdiction(_ jurisdiction: JurisdictionRecord, actor: String, at time: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO jurisdictions (name, data_region, biometric_law, request_days, pseudonym_key) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET data_region = excluded.data_region, biometric_law = excluded.biometric_law,
                                                 request_days = excluded.request_days
                """, arguments: [jurisdiction.name, jurisdiction.dataRegion, jurisdiction.biometricLaw, jurisdiction.requestDays,
                                 Data(jurisdiction.pseudonymKey)])
            // A new jurisdiction starts with the default rules, so the sweeper covers it from day one.
            for (purpose, days) in RetentionRule.defaults {
                try db.execute(sql: "INSERT OR IGNORE INTO retention_rules (jurisdiction, purpose, days) VALUES (?, ?, ?)",
                               arguments: [jurisdiction.name, purpose.rawValue, days])
            }
            try Self.appendAudit(kind: .jurisdictionChanged, actor: actor, details: StoreAuditDetails.jurisdiction(jurisdiction),
                                 at: time, in: db)
        }
    }

    public func jurisdictions() async throws -> [JurisdictionRecord] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM jurisdictions ORDER BY name").map(Self.jurisdiction(from:)) }
    }

    static func jurisdiction(from row: Row) -> JurisdictionRecord {
        JurisdictionRecord(name: row["name"], dataRegion: row["data_region"], biometricLaw: row["biometric_law"],
                           requestDays: row["request_days"], pseudonymKey: [UInt8](row["pseudonym_key"] as Data))
    }

    public func upsertSite(_ site: SiteRecord, actor: String, at time: Date) async throws -> Bool {
        try await pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM jurisdictions WHERE name = ?", arguments: [site.jurisdiction]) == true else {
                return false
            }
            try db.execute(sql: """
                INSERT INTO sites (site, jurisdiction, public_place) VALUES (?, ?, ?)
                ON CONFLICT (site) DO UPDATE SET jurisdiction = excluded.jurisdiction, public_place = excluded.public_place
                """, arguments: [site.site, site.jurisdiction, site.publicPlace])
            try Self.appendAudit(kind: .siteChanged, actor: actor, details: StoreAuditDetails.site(site), at: time, in: db)
            return true
        }
    }

    public func sites() async throws -> [SiteRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM sites ORDER BY site").map {
                SiteRecord(site: $0["site"], jurisdiction: $0["jurisdiction"], publicPlace: $0["public_place"])
            }
        }
    }

    public func jurisdiction(ofSite site: String) async throws -> JurisdictionRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT j.* FROM jurisdictions j
                WHERE j.name = COALESCE((SELECT jurisdiction FROM sites WHERE site = ?), ?)
                """, arguments: [site, JurisdictionRecord.defaultName]).map(Self.jurisdiction(from:))
        }
    }

    public func setRetention(_ rule: RetentionRule, actor: String, at time: Date) async throws -> Bool {
        try await pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM jurisdictions WHERE name = ?", arguments: [rule.jurisdiction]) == true else {
                return false
            }
            try db.execute(sql: """
                INSERT INTO retention_rules (jurisdiction, purpose, days) VALUES (?, ?, ?)
                ON CONFLICT (jurisdiction, purpose) DO UPDATE SET days = excluded.days
                """, arguments: [rule.jurisdiction, rule.purpose.rawValue, rule.days])
            try Self.appendAudit(kind: .retentionChanged, actor: actor, details: StoreAuditDetails.retention(rule), at: time, in: db)
            return true
        }
    }

    public func retentionRules() async throws -> [RetentionRule] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM retention_rules ORDER BY jurisdiction, purpose").compactMap { row in
                Purpose(rawValue: row["purpose"]).map { RetentionRule(jurisdiction: row["jurisdiction"], purpose: $0, days: row["days"]) }
            }
        }
    }

    public func addConsentText(_ text: ConsentText, actor: String, at time: Date) async throws -> Bool {
        try await pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM consent_texts WHERE purpose = ? AND version = ? AND language = ?",
                                    arguments: [text.purpose.rawValue, text.version, text.language]) != true else { return false }
            try db.execute(sql: """
                INSERT INTO consent_texts (purpose, version, language, sha256, effective_at, material) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [text.purpose.rawValue, text.version, text.language, text.sha256,
                                 text.effectiveAt.timeIntervalSince1970, text.material])
            try Self.appendAudit(kind: .consentTextAdded, actor: actor, details: StoreAuditDetails.consentText(text), at: time, in: db)
            return true
        }
    }

    public func consentTexts() async throws -> [ConsentText] {
        try await pool.read { db in try Self.consentTexts(purpose: nil, in: db) }
    }

    static func consentTexts(purpose: Purpose?, in db: Database) throws -> [ConsentText] {
        try Row.fetchAll(db, sql: """
            SELECT * FROM consent_texts WHERE (? IS NULL OR purpose = ?) ORDER BY purpose, effective_at, version, language
            """, arguments: [purpose?.rawValue, purpose?.rawValue]).compactMap { row in
            Purpose(rawValue: row["purpose"]).map {
                ConsentText(purpose: $0, version: row["version"], language: row["language"], sha256: row["sha256"],
                            effectiveAt: Date(timeIntervalSince1970: row["effective_at"]), material: row["material"])
            }
        }
    }

    // MARK: Consent events

    /// Records one uploaded consent event. An event whose text the server does not know (or
    /// whose hash differs) is kept for review but never put in force, and listed as refused.
    static func recordConsentEvent(_ event: ConsentEvent, deviceID: String, batchID: String, receivedAt: Date,
                                   in db: Database) throws -> BatchReceipt.RefusedEvent? {
        let eventID = event.eventID.uuidString.lowercased()
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM consent_events WHERE event_id = ?", arguments: [eventID]) != true else {
            throw Abort.result(.duplicateEvent(event.eventID))
        }
        let hashes = try String.fetchAll(db, sql: "SELECT sha256 FROM consent_texts WHERE purpose = ? AND version = ?",
                                         arguments: [event.purpose, event.textVersion])
        let refusal = StoreAuditDetails.consentRefusal(event, registeredHashes: hashes)
        try db.execute(sql: """
            INSERT INTO consent_events (event_id, device_id, batch_id, site, subject_pseudonym, purpose, kind, method, occurred_at,
                                        received_at, text_version, text_sha256, refusal)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [eventID, deviceID, batchID, event.site, event.pseudonym, event.purpose, event.kind.rawValue,
                             event.method.rawValue, event.occurredAt.timeIntervalSince1970, receivedAt.timeIntervalSince1970,
                             event.textVersion, event.textSHA256, refusal?.reason])
        try appendAudit(kind: .consentEvent, actor: "device:\(deviceID)",
                        details: StoreAuditDetails.consentEvent(event, eventID: eventID, deviceID: deviceID, refusal: refusal?.reason),
                        at: receivedAt, in: db)

        if refusal == nil, event.kind == .withdraw, let purpose = Purpose(rawValue: event.purpose) {
            _ = try erase(pseudonym: event.pseudonym, purpose: purpose, cause: .withdrawal, trigger: eventID,
                          requestedAt: receivedAt, actor: "device:\(deviceID)", at: Date(), in: db)
        }
        return refusal
    }

    public func consentEvents(_ filter: ConsentEventFilter) async throws -> [StoredConsentEvent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM consent_events
                WHERE (? IS NULL OR subject_pseudonym = ?) AND (? IS NULL OR site = ?) AND (? IS NULL OR purpose = ?)
                  AND occurred_at >= ? AND occurred_at < ?
                ORDER BY occurred_at, arrival LIMIT ?
                """, arguments: [filter.pseudonym, filter.pseudonym, filter.site, filter.site, filter.purpose?.rawValue,
                                 filter.purpose?.rawValue, filter.from?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude,
                                 filter.to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude, filter.limit])
                .compactMap(Self.storedConsentEvent(from:))
        }
    }

    static func storedConsentEvent(from row: Row) -> StoredConsentEvent? {
        guard let eventID = UUID(uuidString: row["event_id"]), let kind = ConsentEvent.Kind(rawValue: row["kind"]),
              let method = ConsentEvent.Method(rawValue: row["method"]) else { return nil }
        let event = ConsentEvent(eventID: eventID, occurredAt: Date(timeIntervalSince1970: row["occurred_at"]),
                                 pseudonym: row["subject_pseudonym"], purpose: row["purpose"], kind: kind, method: method,
                                 site: row["site"], textVersion: row["text_version"], textSHA256: row["text_sha256"])
        return StoredConsentEvent(event: event, deviceID: row["device_id"], receivedAt: Date(timeIntervalSince1970: row["received_at"]),
                                  refusal: row["refusal"])
    }

    // MARK: Erasure

    public func eraseSubject(pseudonym: String, purposes: [Purpose], cause: ErasureRecord.Cause, trigger: String?,
                             requestedAt: Date, actor: String, at time: Date) async throws -> [ErasureRecord] {
        let records = try await pool.write { db in
            try purposes.map { try Self.erase(pseudonym: pseudonym, purpose: $0, cause: cause, trigger: trigger,
                                              requestedAt: requestedAt, actor: actor, at: time, in: db) }
        }
        try await truncateLog()
        return records
    }

    /// Copies the write-ahead log into the database file and cuts the log to zero bytes. Run
    /// after a commit that erased something: `secure_delete` zeroes the erased rows in the
    /// pages written from then on, but the log still holds those pages as they were before.
    /// The barrier keeps this process's readers out meanwhile; readers in other processes are
    /// waited for up to the busy timeout.
    func truncateLog() async throws {
        try await pool.barrierWriteWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
    }

    /// Deletes the subject's outcomes held for `purpose` (optionally only those attempted
    /// before `attemptedBefore`), drops the signed bodies of the batches that carried them,
    /// and records and logs the erasure.
    static func erase(pseudonym: String, purpose: Purpose, cause: ErasureRecord.Cause, trigger: String?, requestedAt: Date,
                      actor: String, at time: Date, attemptedBefore: Date? = nil, jurisdiction: String? = nil,
                      in db: Database) throws -> ErasureRecord {
        var outcomes = 0, batches = 0
        if purpose == .outcomeStorage {
            let cutoff = attemptedBefore?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude
            // Retention is per jurisdiction (by the site of capture); withdrawals and requests reach everywhere.
            let selection = """
                FROM outcomes o WHERE o.subject_pseudonym = ? AND \(Self.heldSince) < ?
                AND (? IS NULL OR COALESCE((SELECT jurisdiction FROM sites s WHERE s.site = o.site), '\(JurisdictionRecord.defaultName)') = ?)
                """
            let arguments: StatementArguments = [pseudonym, cutoff, jurisdiction, jurisdiction]
            try db.execute(sql: """
                UPDATE batches SET body = X'', redacted_at = ?
                WHERE redacted_at IS NULL AND batch_id IN (SELECT DISTINCT o.batch_id \(selection))
                """, arguments: [time.timeIntervalSince1970] + arguments)
            batches = db.changesCount
            try db.execute(sql: "DELETE FROM outcomes WHERE event_id IN (SELECT o.event_id \(selection))", arguments: arguments)
            outcomes = db.changesCount
        }
        let record = ErasureRecord(erasureID: UUID().uuidString.lowercased(), pseudonym: pseudonym, purpose: purpose, cause: cause,
                                   trigger: trigger, requestedAt: requestedAt, erasedAt: time, outcomesErased: outcomes,
                                   batchesRedacted: batches, locations: StoreAuditDetails.erasureLocations(purpose))
        try db.execute(sql: """
            INSERT INTO erasures (erasure_id, subject_pseudonym, purpose, cause, trigger_ref, requested_at, erased_at, outcomes_erased,
                                  batches_redacted, locations)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [record.erasureID, pseudonym, purpose.rawValue, cause.rawValue, trigger, requestedAt.timeIntervalSince1970,
                             time.timeIntervalSince1970, outcomes, batches, StoredList.encode(record.locations)])
        try appendAudit(kind: .erasure, actor: actor, details: StoreAuditDetails.erasure(record), at: time, in: db)
        return record
    }

    public func erasures() async throws -> [ErasureRecord] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM erasures ORDER BY erased_at").compactMap(Self.erasure(from:)) }
    }

    public func erasure(id: String) async throws -> ErasureRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM erasures WHERE erasure_id = ?", arguments: [id]).flatMap(Self.erasure(from:))
        }
    }

    static func erasure(from row: Row) -> ErasureRecord? {
        guard let purpose = Purpose(rawValue: row["purpose"]), let cause = ErasureRecord.Cause(rawValue: row["cause"]) else { return nil }
        return ErasureRecord(erasureID: row["erasure_id"], pseudonym: row["subject_pseudonym"], purpose: purpose, cause: cause,
                             trigger: row["trigger_ref"], requestedAt: Date(timeIntervalSince1970: row["requested_at"]),
                             erasedAt: Date(timeIntervalSince1970: row["erased_at"]), outcomesErased: row["outcomes_erased"],
                             batchesRedacted: row["batches_redacted"], locations: StoredList.decode(row["locations"]))
    }

    // MARK: Retention

    /// Per jurisdiction, the attempt time before which an outcome is due for deletion.
    static func retentionCutoffs(now: Date, in db: Database) throws -> [(jurisdiction: String, cutoff: Date, biometricLaw: String?)] {
        try Row.fetchAll(db, sql: """
            SELECT j.name, j.biometric_law, r.days FROM jurisdictions j
            JOIN retention_rules r ON r.jurisdiction = j.name AND r.purpose = ?
            """, arguments: [Purpose.outcomeStorage.rawValue]).map { row in
            let cutoff = RetentionSchedule.deletionCutoff(now: now, retentionDays: row["days"], biometricLaw: row["biometric_law"])
            return (row["name"], cutoff, row["biometric_law"])
        }
    }

    /// The outcomes of `jurisdiction` (by the site they were captured at) attempted before `cutoff`.
    private static let outcomesOfJurisdiction = """
        FROM outcomes o WHERE COALESCE((SELECT jurisdiction FROM sites s WHERE s.site = o.site), '\(JurisdictionRecord.defaultName)') = ?
        """

    /// When retention starts counting for an outcome: its attempt, or its arrival if that was
    /// earlier, so an outcome dated in the future cannot outlive its retention.
    static let heldSince = "MIN(o.attempted_at, (SELECT b.received_at FROM batches b WHERE b.batch_id = o.batch_id))"

    public func sweepRetention(now: Date) async throws -> [ErasureRecord] {
        let swept = try await pool.write { db in
            var records: [ErasureRecord] = []
            for (jurisdiction, cutoff, biometricLaw) in try Self.retentionCutoffs(now: now, in: db) {
                var due = Dictionary(uniqueKeysWithValues: try String.fetchAll(db, sql: """
                    SELECT DISTINCT subject_pseudonym \(Self.outcomesOfJurisdiction) AND \(Self.heldSince) < ?
                    """, arguments: [jurisdiction, cutoff.timeIntervalSince1970]).map { ($0, cutoff) })
                if let limit = RetentionSchedule.lastInteractionLimit(biometricLaw: biometricLaw) {
                    // BIPA: everything about a subject whose last interaction is older than the limit.
                    let lastBefore = now.addingTimeInterval(-limit)
                    let idle = try String.fetchAll(db, sql: """
                        SELECT subject_pseudonym \(Self.outcomesOfJurisdiction) GROUP BY subject_pseudonym HAVING MAX(\(Self.heldSince)) < ?
                        """, arguments: [jurisdiction, lastBefore.timeIntervalSince1970])
                    for pseudonym in idle { due[pseudonym] = .distantFuture }
                }
                for (pseudonym, before) in due.sorted(by: { $0.key < $1.key }) {
                    let record = try Self.erase(pseudonym: pseudonym, purpose: .outcomeStorage, cause: .retention,
                                                trigger: "retention:\(jurisdiction)", requestedAt: now, actor: "system:retention-sweeper",
                                                at: now, attemptedBefore: before, jurisdiction: jurisdiction, in: db)
                    if record.outcomesErased > 0 { records.append(record) }
                }
            }
            if !records.isEmpty {
                try Self.appendAudit(kind: .retentionSweep, actor: "system:retention-sweeper",
                                     details: StoreAuditDetails.retentionSweep(records), at: now, in: db)
            }
            return records
        }
        if !swept.isEmpty { try await truncateLog() }
        return swept
    }

    public func overdueRetention(now: Date) async throws -> [OverdueRetention] {
        try await pool.read { db in
            try Self.retentionCutoffs(now: now, in: db).compactMap { jurisdiction, cutoff, _ in
                guard let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, MIN(\(Self.heldSince)) AS oldest \(Self.outcomesOfJurisdiction) AND \(Self.heldSince) < ?",
                                                 arguments: [jurisdiction, cutoff.timeIntervalSince1970]),
                      let oldest = row["oldest"] as Double?, (row["n"] as Int) > 0 else { return nil }
                return OverdueRetention(jurisdiction: jurisdiction, purpose: .outcomeStorage, outcomes: row["n"],
                                        oldestAttemptAt: Date(timeIntervalSince1970: oldest))
            }
        }
    }

    // MARK: Reports

    public func withdrawalReport() async throws -> [WithdrawalReportRow] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.event_id, c.subject_pseudonym, c.purpose, c.occurred_at, c.received_at, e.erased_at,
                       (SELECT COUNT(*) FROM outcomes o WHERE o.subject_pseudonym = c.subject_pseudonym AND c.purpose = ?
                          AND o.attempted_at >= c.occurred_at
                          AND NOT EXISTS (SELECT 1 FROM consent_events g WHERE g.subject_pseudonym = c.subject_pseudonym
                                          AND g.purpose = c.purpose AND g.kind IN ('grant', 'reconsent') AND g.refusal IS NULL
                                          AND g.occurred_at > c.occurred_at AND g.occurred_at <= o.attempted_at)) AS processed
                FROM consent_events c LEFT JOIN erasures e ON e.trigger_ref = c.event_id
                WHERE c.kind = 'withdraw' AND c.refusal IS NULL ORDER BY c.received_at
                """, arguments: [Purpose.outcomeStorage.rawValue]).compactMap { row in
                guard let purpose = Purpose(rawValue: row["purpose"]) else { return nil }
                let received: Double = row["received_at"]
                let erased = row["erased_at"] as Double?
                return WithdrawalReportRow(eventID: row["event_id"], pseudonym: row["subject_pseudonym"], purpose: purpose,
                                           withdrawnAt: Date(timeIntervalSince1970: row["occurred_at"]),
                                           receivedAt: Date(timeIntervalSince1970: received),
                                           erasedAt: erased.map(Date.init(timeIntervalSince1970:)),
                                           timeToBlockMilliseconds: erased.map { max(0, ($0 - received) * 1000) },
                                           processedAfterWithdrawal: row["processed"])
            }
        }
    }

    public func reconsentCoverage() async throws -> [ReconsentCoverage] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT purpose, version, MIN(effective_at) AS effective_at FROM consent_texts WHERE material = 1
                GROUP BY purpose, version ORDER BY effective_at
                """).compactMap { row in
                guard let purpose = Purpose(rawValue: row["purpose"]) else { return nil }
                let effective: Double = row["effective_at"]
                let counts = try Row.fetchOne(db, sql: """
                    SELECT COUNT(DISTINCT subject_pseudonym) AS needing,
                           COUNT(DISTINCT CASE WHEN EXISTS (
                               SELECT 1 FROM consent_events r WHERE r.subject_pseudonym = c.subject_pseudonym AND r.purpose = c.purpose
                               AND r.kind IN ('grant', 'reconsent') AND r.refusal IS NULL AND r.text_version = ?)
                               THEN subject_pseudonym END) AS done
                    FROM consent_events c
                    WHERE c.purpose = ? AND c.kind IN ('grant', 'reconsent') AND c.refusal IS NULL AND c.text_version <> ?
                    """, arguments: [row["version"], purpose.rawValue, row["version"]])
                return ReconsentCoverage(purpose: purpose, textVersion: row["version"], effectiveAt: Date(timeIntervalSince1970: effective),
                                         subjectsNeedingReconsent: counts?["needing"] ?? 0, subjectsReconsented: counts?["done"] ?? 0)
            }
        }
    }

    public func consentDecisions(pseudonyms: [String], purpose: Purpose, at moment: Date,
                                 askedBy deviceID: String) async throws -> [String: ConsentRefusal?] {
        try await pool.read { db in
            var cache = ConsentCache()
            var decisions: [String: ConsentRefusal?] = [:]
            for pseudonym in pseudonyms where decisions[pseudonym] == nil {
                let known = try Bool.fetchOne(db, sql: "SELECT EXISTS (\(StoreQueries.subjectAtKioskSites))",
                                              arguments: [pseudonym, deviceID]) ?? false
                decisions[pseudonym] = .some(known ? try cache.refusal(pseudonym: pseudonym, purpose: purpose, at: moment, in: db)
                                                   : .noConsent)
            }
            return decisions
        }
    }

    // MARK: Data-subject requests

    public func subjectExport(pseudonym: String) async throws -> SubjectExport {
        try await pool.read { db in
            let events = try Row.fetchAll(db, sql: "SELECT * FROM consent_events WHERE subject_pseudonym = ? ORDER BY occurred_at, arrival",
                                          arguments: [pseudonym]).compactMap(Self.storedConsentEvent(from:))
            let outcomes = try Row.fetchAll(db, sql: """
                SELECT event_id, device_id, attempted_at, model_version, threshold_version, site, camera_model, tags, score, decision,
                       label, label_source, face_size_px, sharpness, brightness, liveness_score, consent_ref
                FROM outcomes WHERE subject_pseudonym = ? ORDER BY attempted_at
                """, arguments: [pseudonym]).map { row -> JSONValue in
                .object([
                    ("event_id", .string(row["event_id"])), ("device_id", .string(row["device_id"])),
                    ("attempted_at", .string(RFC3339.format(Date(timeIntervalSince1970: row["attempted_at"])))),
                    ("model_version", .string(row["model_version"])), ("threshold_version", .string(row["threshold_version"])),
                    ("site", .string(row["site"])), ("camera_model", .string(row["camera_model"])),
                    ("tags", (try? JSONValue.parse(row["tags"] as String)) ?? .array([])),
                    ("score", .number(row["score"])), ("decision", .string(row["decision"])), ("label", .string(row["label"])),
                    ("label_source", .string(row["label_source"])), ("face_size_px", .number(row["face_size_px"])),
                    ("sharpness", .number(row["sharpness"])), ("brightness", .number(row["brightness"])),
                    ("liveness_score", (row["liveness_score"] as Double?).map(JSONValue.number) ?? .null),
                    ("consent_ref", .string(row["consent_ref"])),
                ])
            }
            let erasures = try Row.fetchAll(db, sql: "SELECT * FROM erasures WHERE subject_pseudonym = ? ORDER BY erased_at",
                                            arguments: [pseudonym]).compactMap(Self.erasure(from:))
            let requests = try Row.fetchAll(db, sql: "SELECT * FROM subject_requests WHERE subject_pseudonym = ? ORDER BY received_at",
                                            arguments: [pseudonym]).compactMap(Self.subjectRequest(from:))
            return SubjectExport(pseudonym: pseudonym, consentEvents: events, outcomes: outcomes, erasures: erasures, requests: requests)
        }
    }

    public func addSubjectRequest(_ request: SubjectRequestRecord, actor: String) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO subject_requests (request_id, subject_pseudonym, kind, jurisdiction, received_at, due_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [request.requestID, request.pseudonym, request.kind.rawValue, request.jurisdiction,
                                 request.receivedAt.timeIntervalSince1970, request.dueAt.timeIntervalSince1970])
            try Self.appendAudit(kind: .subjectRequest, actor: actor, details: StoreAuditDetails.subjectRequest(request),
                                 at: request.receivedAt, in: db)
        }
    }

    public func completeSubjectRequest(id: String, at time: Date, resultSHA256: String) async throws -> SubjectRequestRecord? {
        try await pool.write { db in
            try db.execute(sql: "UPDATE subject_requests SET completed_at = ?, result = ? WHERE request_id = ? AND completed_at IS NULL",
                           arguments: [time.timeIntervalSince1970, Data(resultSHA256.utf8), id])
            return try Row.fetchOne(db, sql: "SELECT * FROM subject_requests WHERE request_id = ?", arguments: [id])
                .flatMap(Self.subjectRequest(from:))
        }
    }

    public func subjectRequests() async throws -> [SubjectRequestRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM subject_requests ORDER BY due_at").compactMap(Self.subjectRequest(from:))
        }
    }

    static func subjectRequest(from row: Row) -> SubjectRequestRecord? {
        guard let kind = SubjectRequestRecord.Kind(rawValue: row["kind"]) else { return nil }
        return SubjectRequestRecord(requestID: row["request_id"], pseudonym: row["subject_pseudonym"], kind: kind,
                                    jurisdiction: row["jurisdiction"], receivedAt: Date(timeIntervalSince1970: row["received_at"]),
                                    dueAt: Date(timeIntervalSince1970: row["due_at"]),
                                    completedAt: (row["completed_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }

    // MARK: Audit log

    /// Appends in the caller's transaction, so the log and the change it records commit together.
    static func appendAudit(kind: AuditEntry.Kind, actor: String, details: JSONValue, at time: Date, in db: Database) throws {
        let index = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries") ?? 0
        guard case let .object(members) = details else { throw ComplianceStoreError.auditDetailsNotAnObject }
        let entry = try AuditEntry(index: index, time: time, kind: kind, actor: actor, details: members)
        let bytes = entry.entryBytes
        try db.execute(sql: "INSERT INTO audit_entries (idx, entry, leaf_hash) VALUES (?, ?, ?)",
                       arguments: [index, Data(bytes), Data(MerkleTree.leafHash(bytes).bytes)])
    }

    public func appendAudit(kind: String, actor: String, details: JSONValue, at time: Date) async throws {
        guard let kind = AuditEntry.Kind(rawValue: kind) else { throw ComplianceStoreError.unknownAuditKind(kind) }
        try await pool.write { db in try Self.appendAudit(kind: kind, actor: actor, details: details, at: time, in: db) }
    }

    public func auditTreeSize() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM audit_entries") ?? 0 }
    }

    public func auditEntries(from: Int, to: Int) async throws -> [[UInt8]] {
        try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT entry FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx", arguments: [from, to])
                .map { [UInt8]($0) }
        }
    }

    public func auditLeafHashes(count: Int) async throws -> [[UInt8]] {
        try await pool.read { db in
            try Data.fetchAll(db, sql: "SELECT leaf_hash FROM audit_entries WHERE idx < ? ORDER BY idx", arguments: [count]).map { [UInt8]($0) }
        }
    }

    public func addAuditCheckpoint(treeSize: Int, checkpoint: [UInt8]) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO audit_checkpoints (tree_size, checkpoint) VALUES (?, ?)",
                           arguments: [treeSize, Data(checkpoint)])
        }
    }

    public func auditCheckpoints() async throws -> [StoredAuditCheckpoint] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_checkpoints ORDER BY tree_size").map {
                StoredAuditCheckpoint(treeSize: $0["tree_size"], checkpoint: [UInt8]($0["checkpoint"] as Data))
            }
        }
    }
}

public enum ComplianceStoreError: Error, CustomStringConvertible {
    case unknownAuditKind(String)
    case auditDetailsNotAnObject

    public var description: String {
        switch self {
        case let .unknownAuditKind(kind): "\(kind) is not a kind of audit entry"
        case .auditDetailsNotAnObject: "the details of an audit entry must be a JSON object"
        }
    }
}

/// The consent state of the subjects of one batch, read once per subject and purpose.
struct ConsentCache {
    private var records: [String: [ConsentRecord]] = [:]
    private var texts: [Purpose: [ConsentText]] = [:]

    mutating func refusal(pseudonym: String, purpose: Purpose, at moment: Date, in db: Database) throws -> ConsentRefusal? {
        let key = purpose.rawValue + "/" + pseudonym
        if records[key] == nil {
            var loaded = try Row.fetchAll(db, sql: """
                SELECT kind, occurred_at, text_version, arrival FROM consent_events
                WHERE subject_pseudonym = ? AND purpose = ? AND refusal IS NULL
                """, arguments: [pseudonym, purpose.rawValue]).compactMap { row in
                ConsentRecord.Kind(rawValue: row["kind"]).map {
                    ConsentRecord(kind: $0, occurredAt: Date(timeIntervalSince1970: row["occurred_at"]), textVersion: row["text_version"],
                                  arrival: row["arrival"])
                }
            }
            // An erasure on request stops processing as a withdrawal would, until the subject grants again.
            for requested in try Double.fetchAll(db, sql: """
                SELECT requested_at FROM erasures WHERE subject_pseudonym = ? AND purpose = ? AND cause = 'request'
                """, arguments: [pseudonym, purpose.rawValue]) {
                loaded.append(ConsentRecord(kind: .withdraw, occurredAt: Date(timeIntervalSince1970: requested), textVersion: "",
                                            arrival: .max))
            }
            records[key] = loaded
        }
        if texts[purpose] == nil { texts[purpose] = try SQLiteFeedbackStore.consentTexts(purpose: purpose, in: db) }
        return ConsentLedger.decision(at: moment, records: records[key] ?? [], texts: texts[purpose] ?? [])
    }
}
