import AuditLog
import Compliance
import Feedback
import Foundation

extension PostgresFeedbackStore: ComplianceStore {
    // MARK: Reference data

    public func upsertJurisdiction(_ jurisdiction: JurisdictionRecord, actor: String, at time: Date) async throws {
        try await write { sql in
            try await sql.execute("""
                INSERT INTO jurisdictions (name, data_region, biometric_law, request_days, pseudonym_key) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET data_region = excluded.data_region, biometric_law = excluded.biometric_law,
                                                 request_days = excluded.request_days
                """, jurisdiction.name, jurisdiction.dataRegion, jurisdiction.biometricLaw, jurisdiction.requestDays,
                                  jurisdiction.pseudonymKey)
            // A new jurisdiction starts with the default rules, so the sweeper covers it from day one.
            for (purpose, days) in RetentionRule.defaults {
                try await sql.execute("INSERT INTO retention_rules (jurisdiction, purpose, days) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                      jurisdiction.name, purpose.rawValue, days)
            }
            try await Self.appendAudit(kind: .jurisdictionChanged, actor: actor, details: StoreAuditDetails.jurisdiction(jurisdiction),
                                       at: time, in: sql)
        }
    }

    public func jurisdictions() async throws -> [JurisdictionRecord] {
        try await read { sql in try await sql.fetchAll("SELECT * FROM jurisdictions ORDER BY name").map(Self.jurisdiction(from:)) }
    }

    static func jurisdiction(from row: SQLRow) throws -> JurisdictionRecord {
        JurisdictionRecord(name: try row("name"), dataRegion: try row("data_region"), biometricLaw: try row("biometric_law"),
                           requestDays: try row("request_days"), pseudonymKey: try row.bytes("pseudonym_key"))
    }

    public func upsertSite(_ site: SiteRecord, actor: String, at time: Date) async throws -> Bool {
        try await write { sql in
            guard try await sql.exists("SELECT 1 FROM jurisdictions WHERE name = ?", site.jurisdiction) else { return false }
            try await sql.execute("""
                INSERT INTO sites (site, jurisdiction, public_place) VALUES (?, ?, ?)
                ON CONFLICT (site) DO UPDATE SET jurisdiction = excluded.jurisdiction, public_place = excluded.public_place
                """, site.site, site.jurisdiction, site.publicPlace)
            try await Self.appendAudit(kind: .siteChanged, actor: actor, details: StoreAuditDetails.site(site), at: time, in: sql)
            return true
        }
    }

    public func sites() async throws -> [SiteRecord] {
        try await read { sql in
            try await sql.fetchAll("SELECT * FROM sites ORDER BY site").map {
                SiteRecord(site: try $0("site"), jurisdiction: try $0("jurisdiction"), publicPlace: try $0("public_place"))
            }
        }
    }

    public func jurisdiction(ofSite site: String) async throws -> JurisdictionRecord? {
        try await read { sql in
            try await sql.fetchOne("""
                SELECT j.* FROM jurisdictions j WHERE j.name = COALESCE((SELECT jurisdiction FROM sites WHERE site = ?), ?)
                """, site, JurisdictionRecord.defaultName).map(Self.jurisdiction(from:))
        }
    }

    public func setRetention(_ rule: RetentionRule, actor: String, at time: Date) async throws -> Bool {
        try await write { sql in
            guard try await sql.exists("SELECT 1 FROM jurisdictions WHERE name = ?", rule.jurisdiction) else { return false }
            try await sql.execute("""
                INSERT INTO retention_rules (jurisdiction, purpose, days) VALUES (?, ?, ?)
                ON CONFLICT (jurisdiction, purpose) DO UPDATE SET days = excluded.days
                """, rule.jurisdiction, rule.purpose.rawValue, rule.days)
            try await Self.appendAudit(kind: .retentionChanged, actor: actor, details: StoreAuditDetails.retention(rule), at: time, in: sql)
            return true
        }
    }

    public func retentionRules() async throws -> [RetentionRule] {
        try await read { sql in
            try await sql.fetchAll("SELECT * FROM retention_rules ORDER BY jurisdiction, purpose").compactMap { row in
                let jurisdiction: String = try row("jurisdiction"), days: Int = try row("days")
                return Purpose(rawValue: try row("purpose")).map { RetentionRule(jurisdiction: jurisdiction, purpose: $0, days: days) }
            }
        }
    }

    public func addConsentText(_ text: ConsentText, actor: String, at time: Date) async throws -> Bool {
        try await write { sql in
            guard try await sql.changes("""
                INSERT INTO consent_texts (purpose, version, language, sha256, effective_at, material) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """, text.purpose.rawValue, text.version, text.language, text.sha256, text.effectiveAt, text.material) == 1 else {
                return false
            }
            try await Self.appendAudit(kind: .consentTextAdded, actor: actor, details: StoreAuditDetails.consentText(text), at: time, in: sql)
            return true
        }
    }

    public func consentTexts() async throws -> [ConsentText] {
        try await read { sql in try await Self.consentTexts(purpose: nil, in: sql) }
    }

    static func consentTexts(purpose: Purpose?, in sql: SQLConnection) async throws -> [ConsentText] {
        try await sql.fetchAll("""
            SELECT * FROM consent_texts WHERE (?::text IS NULL OR purpose = ?) ORDER BY purpose, effective_at, version, language
            """, purpose?.rawValue, purpose?.rawValue).compactMap { row in
            guard let purpose = Purpose(rawValue: try row("purpose")) else { return nil }
            return ConsentText(purpose: purpose, version: try row("version"), language: try row("language"), sha256: try row("sha256"),
                               effectiveAt: try row.date("effective_at"), material: try row("material"))
        }
    }

    // MARK: Consent events

    /// Records one uploaded consent event. An event whose text the server does not know (or
    /// whose hash differs) is kept for review but never put in force, and listed as refused.
    static func recordConsentEvent(_ event: ConsentEvent, deviceID: String, batchID: String, receivedAt: Date,
                                   in sql: SQLConnection) async throws -> BatchReceipt.RefusedEvent? {
        let eventID = event.eventID.uuidString.lowercased()
        let textKey = event.purpose + "\u{0}" + event.textVersion
        let hashes: [String]
        if let known = sql.memo.consentTextHashes[textKey] {
            hashes = known
        } else {
            hashes = try await sql.fetchAll("SELECT sha256 FROM consent_texts WHERE purpose = ? AND version = ?",
                                            event.purpose, event.textVersion).map { try $0("sha256", as: String.self) }
            sql.memo.consentTextHashes[textKey] = hashes
        }
        let refusal = StoreAuditDetails.consentRefusal(event, registeredHashes: hashes)
        guard try await sql.changes("""
            INSERT INTO consent_events (event_id, device_id, batch_id, site, subject_pseudonym, purpose, kind, method, occurred_at,
                                        received_at, text_version, text_sha256, refusal)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING
            """, eventID, deviceID, batchID, event.site, event.pseudonym, event.purpose, event.kind.rawValue, event.method.rawValue,
                              event.occurredAt, receivedAt, event.textVersion, event.textSHA256, refusal?.reason) == 1 else {
            throw Abort.result(.duplicateEvent(event.eventID))
        }
        try await appendAudit(kind: .consentEvent, actor: "device:\(deviceID)",
                              details: StoreAuditDetails.consentEvent(event, eventID: eventID, deviceID: deviceID, refusal: refusal?.reason),
                              at: receivedAt, in: sql)
        if refusal == nil, event.kind == .withdraw, let purpose = Purpose(rawValue: event.purpose) {
            _ = try await erase(pseudonym: event.pseudonym, purpose: purpose, cause: .withdrawal, trigger: eventID,
                                requestedAt: receivedAt, actor: "device:\(deviceID)", at: Date(), in: sql)
        }
        return refusal
    }

    public func consentEvents(_ filter: ConsentEventFilter) async throws -> [StoredConsentEvent] {
        try await read { sql in
            try await sql.fetchAll("""
                SELECT * FROM consent_events
                WHERE (?::text IS NULL OR subject_pseudonym = ?) AND (?::text IS NULL OR site = ?) AND (?::text IS NULL OR purpose = ?)
                  AND occurred_at >= ? AND occurred_at < ?
                ORDER BY occurred_at, arrival LIMIT ?
                """, filter.pseudonym, filter.pseudonym, filter.site, filter.site, filter.purpose?.rawValue, filter.purpose?.rawValue,
                                   filter.from?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude,
                                   filter.to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude, filter.limit)
                .compactMap(Self.storedConsentEvent(from:))
        }
    }

    static func storedConsentEvent(from row: SQLRow) throws -> StoredConsentEvent? {
        guard let eventID = UUID(uuidString: try row("event_id")), let kind = ConsentEvent.Kind(rawValue: try row("kind")),
              let method = ConsentEvent.Method(rawValue: try row("method")) else { return nil }
        let event = ConsentEvent(eventID: eventID, occurredAt: try row.date("occurred_at"), pseudonym: try row("subject_pseudonym"),
                                 purpose: try row("purpose"), kind: kind, method: method, site: try row("site"),
                                 textVersion: try row("text_version"), textSHA256: try row("text_sha256"))
        return StoredConsentEvent(event: event, deviceID: try row("device_id"), receivedAt: try row.date("received_at"),
                                  refusal: try row("refusal"))
    }

    // MARK: Erasure

    public func eraseSubject(pseudonym: String, purposes: [Purpose], cause: ErasureRecord.Cause, trigger: String?,
                             requestedAt: Date, actor: String, at time: Date) async throws -> [ErasureRecord] {
        try await write { sql in
            try await AdvisoryLock.consent(exclusive: true, in: sql)
            var records: [ErasureRecord] = []
            for purpose in purposes {
                records.append(try await Self.erase(pseudonym: pseudonym, purpose: purpose, cause: cause, trigger: trigger,
                                                    requestedAt: requestedAt, actor: actor, at: time, in: sql))
            }
            return records
        }
    }

    /// Deletes the subject's outcomes held for `purpose` (optionally only those attempted
    /// before `attemptedBefore`), drops the signed bodies of the batches that carried them,
    /// and records and logs the erasure.
    static func erase(pseudonym: String, purpose: Purpose, cause: ErasureRecord.Cause, trigger: String?, requestedAt: Date,
                      actor: String, at time: Date, attemptedBefore: Date? = nil, jurisdiction: String? = nil,
                      in sql: SQLConnection) async throws -> ErasureRecord {
        var outcomes = 0, batches = 0
        if purpose == .outcomeStorage {
            let cutoff = attemptedBefore?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude
            // Retention is per jurisdiction (by the site of capture); withdrawals and requests reach everywhere.
            let selection = """
                FROM outcomes o WHERE o.subject_pseudonym = ? AND \(Self.heldSince) < ?
                AND (?::text IS NULL OR COALESCE((SELECT jurisdiction FROM sites s WHERE s.site = o.site), '\(JurisdictionRecord.defaultName)') = ?)
                """
            batches = try await sql.changes("""
                UPDATE batches SET body = ''::bytea, redacted_at = ?
                WHERE redacted_at IS NULL AND batch_id IN (SELECT DISTINCT o.batch_id \(selection))
                """, time, pseudonym, cutoff, jurisdiction, jurisdiction)
            outcomes = try await sql.changes("DELETE FROM outcomes WHERE event_id IN (SELECT o.event_id \(selection))",
                                             pseudonym, cutoff, jurisdiction, jurisdiction)
        }
        let record = ErasureRecord(erasureID: UUID().uuidString.lowercased(), pseudonym: pseudonym, purpose: purpose, cause: cause,
                                   trigger: trigger, requestedAt: requestedAt, erasedAt: time, outcomesErased: outcomes,
                                   batchesRedacted: batches, locations: StoreAuditDetails.erasureLocations(purpose))
        try await sql.execute("""
            INSERT INTO erasures (erasure_id, subject_pseudonym, purpose, cause, trigger_ref, requested_at, erased_at, outcomes_erased,
                                  batches_redacted, locations)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, record.erasureID, pseudonym, purpose.rawValue, cause.rawValue, trigger, requestedAt, time, outcomes, batches,
                              StoredList.encode(record.locations))
        try await appendAudit(kind: .erasure, actor: actor, details: StoreAuditDetails.erasure(record), at: time, in: sql)
        return record
    }

    public func erasures() async throws -> [ErasureRecord] {
        try await read { sql in try await sql.fetchAll("SELECT * FROM erasures ORDER BY erased_at").compactMap(Self.erasure(from:)) }
    }

    public func erasure(id: String) async throws -> ErasureRecord? {
        try await read { sql in try await sql.fetchOne("SELECT * FROM erasures WHERE erasure_id = ?", id).flatMap(Self.erasure(from:)) }
    }

    static func erasure(from row: SQLRow) throws -> ErasureRecord? {
        guard let purpose = Purpose(rawValue: try row("purpose")), let cause = ErasureRecord.Cause(rawValue: try row("cause")) else {
            return nil
        }
        return ErasureRecord(erasureID: try row("erasure_id"), pseudonym: try row("subject_pseudonym"), purpose: purpose, cause: cause,
                             trigger: try row("trigger_ref"), requestedAt: try row.date("requested_at"), erasedAt: try row.date("erased_at"),
                             outcomesErased: try row("outcomes_erased"), batchesRedacted: try row("batches_redacted"),
                             locations: StoredList.decode(try row("locations")))
    }

    // MARK: Retention

    /// Per jurisdiction, the attempt time before which an outcome is due for deletion.
    static func retentionCutoffs(now: Date, in sql: SQLConnection) async throws -> [(jurisdiction: String, cutoff: Date, biometricLaw: String?)] {
        try await sql.fetchAll("""
            SELECT j.name, j.biometric_law, r.days FROM jurisdictions j
            JOIN retention_rules r ON r.jurisdiction = j.name AND r.purpose = ?
            """, Purpose.outcomeStorage.rawValue).map { row in
            let law: String? = try row("biometric_law")
            let cutoff = RetentionSchedule.deletionCutoff(now: now, retentionDays: try row("days"), biometricLaw: law)
            return (try row("name"), cutoff, law)
        }
    }

    private static let outcomesOfJurisdiction = """
        FROM outcomes o WHERE COALESCE((SELECT jurisdiction FROM sites s WHERE s.site = o.site), '\(JurisdictionRecord.defaultName)') = ?
        """

    /// When retention starts counting for an outcome: its attempt, or its arrival if that was
    /// earlier, so an outcome dated in the future cannot outlive its retention.
    static let heldSince = "LEAST(o.attempted_at, (SELECT b.received_at FROM batches b WHERE b.batch_id = o.batch_id))"

    public func sweepRetention(now: Date) async throws -> [ErasureRecord] {
        // No consent lock: an outcome committed meanwhile with an attempt past its retention
        // (a kiosk long offline) is not missed for good, only until the next sweep, and
        // holding the lock would stall every upload for the length of the sweep.
        try await write { sql in
            var records: [ErasureRecord] = []
            for (jurisdiction, cutoff, biometricLaw) in try await Self.retentionCutoffs(now: now, in: sql) {
                var due = Dictionary(uniqueKeysWithValues: try await sql.fetchAll("""
                    SELECT DISTINCT subject_pseudonym \(Self.outcomesOfJurisdiction) AND \(Self.heldSince) < ?
                    """, jurisdiction, cutoff).map { (try $0("subject_pseudonym", as: String.self), cutoff) })
                if let limit = RetentionSchedule.lastInteractionLimit(biometricLaw: biometricLaw) {
                    // BIPA: everything about a subject whose last interaction is older than the limit.
                    let idle = try await sql.fetchAll("""
                        SELECT subject_pseudonym \(Self.outcomesOfJurisdiction) GROUP BY subject_pseudonym HAVING MAX(\(Self.heldSince)) < ?
                        """, jurisdiction, now.addingTimeInterval(-limit))
                    for row in idle { due[try row("subject_pseudonym", as: String.self)] = .distantFuture }
                }
                for (pseudonym, before) in due.sorted(by: { $0.key < $1.key }) {
                    let record = try await Self.erase(pseudonym: pseudonym, purpose: .outcomeStorage, cause: .retention,
                                                      trigger: "retention:\(jurisdiction)", requestedAt: now,
                                                      actor: "system:retention-sweeper", at: now, attemptedBefore: before,
                                                      jurisdiction: jurisdiction, in: sql)
                    if record.outcomesErased > 0 { records.append(record) }
                }
            }
            if !records.isEmpty {
                try await Self.appendAudit(kind: .retentionSweep, actor: "system:retention-sweeper",
                                           details: StoreAuditDetails.retentionSweep(records), at: now, in: sql)
            }
            return records
        }
    }

    public func overdueRetention(now: Date) async throws -> [OverdueRetention] {
        try await read { sql in
            var overdue: [OverdueRetention] = []
            for (jurisdiction, cutoff, _) in try await Self.retentionCutoffs(now: now, in: sql) {
                guard let row = try await sql.fetchOne("""
                    SELECT COUNT(*) AS n, MIN(\(Self.heldSince)) AS oldest \(Self.outcomesOfJurisdiction) AND \(Self.heldSince) < ?
                    """, jurisdiction, cutoff),
                      let oldest = try row.optionalDate("oldest"), try row("n", as: Int.self) > 0 else { continue }
                overdue.append(OverdueRetention(jurisdiction: jurisdiction, purpose: .outcomeStorage, outcomes: try row("n"),
                                                oldestAttemptAt: oldest))
            }
            return overdue
        }
    }

    // MARK: Reports

    public func withdrawalReport() async throws -> [WithdrawalReportRow] {
        try await read { sql in
            try await sql.fetchAll("""
                SELECT c.event_id, c.subject_pseudonym, c.purpose, c.occurred_at, c.received_at, e.erased_at,
                       (SELECT COUNT(*) FROM outcomes o WHERE o.subject_pseudonym = c.subject_pseudonym AND c.purpose = ?
                          AND o.attempted_at >= c.occurred_at
                          AND NOT EXISTS (SELECT 1 FROM consent_events g WHERE g.subject_pseudonym = c.subject_pseudonym
                                          AND g.purpose = c.purpose AND g.kind IN ('grant', 'reconsent') AND g.refusal IS NULL
                                          AND g.occurred_at > c.occurred_at AND g.occurred_at <= o.attempted_at)) AS processed
                FROM consent_events c LEFT JOIN erasures e ON e.trigger_ref = c.event_id
                WHERE c.kind = 'withdraw' AND c.refusal IS NULL ORDER BY c.received_at
                """, Purpose.outcomeStorage.rawValue).compactMap { row in
                guard let purpose = Purpose(rawValue: try row("purpose")) else { return nil }
                let received: Double = try row("received_at")
                let erased: Double? = try row("erased_at")
                return WithdrawalReportRow(eventID: try row("event_id"), pseudonym: try row("subject_pseudonym"), purpose: purpose,
                                           withdrawnAt: try row.date("occurred_at"), receivedAt: Date(timeIntervalSince1970: received),
                                           erasedAt: erased.map(Date.init(timeIntervalSince1970:)),
                                           timeToBlockMilliseconds: erased.map { max(0, ($0 - received) * 1000) },
                                           processedAfterWithdrawal: try row("processed"))
            }
        }
    }

    public func reconsentCoverage() async throws -> [ReconsentCoverage] {
        try await read { sql in
            var coverage: [ReconsentCoverage] = []
            for row in try await sql.fetchAll("""
                SELECT purpose, version, MIN(effective_at) AS effective_at FROM consent_texts WHERE material
                GROUP BY purpose, version ORDER BY effective_at
                """) {
                guard let purpose = Purpose(rawValue: try row("purpose")) else { continue }
                let version: String = try row("version")
                let counts = try await sql.fetchOne("""
                    SELECT COUNT(DISTINCT subject_pseudonym) AS needing,
                           COUNT(DISTINCT CASE WHEN EXISTS (
                               SELECT 1 FROM consent_events r WHERE r.subject_pseudonym = c.subject_pseudonym AND r.purpose = c.purpose
                               AND r.kind IN ('grant', 'reconsent') AND r.refusal IS NULL AND r.text_version = ?)
                               THEN subject_pseudonym END) AS done
                    FROM consent_events c
                    WHERE c.purpose = ? AND c.kind IN ('grant', 'reconsent') AND c.refusal IS NULL AND c.text_version <> ?
                    """, version, purpose.rawValue, version)
                coverage.append(ReconsentCoverage(purpose: purpose, textVersion: version, effectiveAt: try row.date("effective_at"),
                                                  subjectsNeedingReconsent: try counts?("needing") ?? 0,
                                                  subjectsReconsented: try counts?("done") ?? 0))
            }
            return coverage
        }
    }

    public func consentDecisions(pseudonyms: [String], purpose: Purpose, at moment: Date,
                                 askedBy deviceID: String) async throws -> [String: ConsentRefusal?] {
        try await read { sql in
            var cache = PostgresConsentCache()
            try await cache.load(pseudonyms: pseudonyms, purpose: purpose, in: sql)
            var decisions: [String: ConsentRefusal?] = [:]
            for pseudonym in pseudonyms where decisions[pseudonym] == nil {
                let known = try await sql.fetchOne("SELECT EXISTS (\(StoreQueries.subjectAtKioskSites)) AS known", pseudonym, deviceID)
                decisions[pseudonym] = .some(try known?("known", as: Bool.self) == true
                    ? try await cache.refusal(pseudonym: pseudonym, purpose: purpose, at: moment, in: sql) : .noConsent)
            }
            return decisions
        }
    }

    // MARK: Data-subject requests

    public func subjectExport(pseudonym: String) async throws -> SubjectExport {
        try await read { sql in
            let events = try await sql.fetchAll("SELECT * FROM consent_events WHERE subject_pseudonym = ? ORDER BY occurred_at, arrival",
                                                pseudonym).compactMap(Self.storedConsentEvent(from:))
            let outcomes = try await sql.fetchAll("""
                SELECT event_id, device_id, attempted_at, model_version, threshold_version, site, camera_model, tags, score, decision,
                       label, label_source, face_size_px, sharpness, brightness, liveness_score, consent_ref
                FROM outcomes WHERE subject_pseudonym = ? ORDER BY attempted_at
                """, pseudonym).map { row -> JSONValue in
                .object([
                    ("event_id", .string(try row("event_id"))), ("device_id", .string(try row("device_id"))),
                    ("attempted_at", .string(RFC3339.format(try row.date("attempted_at")))),
                    ("model_version", .string(try row("model_version"))), ("threshold_version", .string(try row("threshold_version"))),
                    ("site", .string(try row("site"))), ("camera_model", .string(try row("camera_model"))),
                    ("tags", (try? JSONValue.parse(try row("tags", as: String.self))) ?? .array([])),
                    ("score", .number(try row("score"))), ("decision", .string(try row("decision"))), ("label", .string(try row("label"))),
                    ("label_source", .string(try row("label_source"))), ("face_size_px", .number(Double(try row("face_size_px", as: Int.self)))),
                    ("sharpness", .number(try row("sharpness"))), ("brightness", .number(try row("brightness"))),
                    ("liveness_score", try row("liveness_score", as: Double?.self).map(JSONValue.number) ?? .null),
                    ("consent_ref", .string(try row("consent_ref"))),
                ])
            }
            let erasures = try await sql.fetchAll("SELECT * FROM erasures WHERE subject_pseudonym = ? ORDER BY erased_at", pseudonym)
                .compactMap(Self.erasure(from:))
            let requests = try await sql.fetchAll("SELECT * FROM subject_requests WHERE subject_pseudonym = ? ORDER BY received_at",
                                                  pseudonym).compactMap(Self.subjectRequest(from:))
            return SubjectExport(pseudonym: pseudonym, consentEvents: events, outcomes: outcomes, erasures: erasures, requests: requests)
        }
    }

    public func addSubjectRequest(_ request: SubjectRequestRecord, actor: String) async throws {
        try await write { sql in
            try await sql.execute("""
                INSERT INTO subject_requests (request_id, subject_pseudonym, kind, jurisdiction, received_at, due_at) VALUES (?, ?, ?, ?, ?, ?)
                """, request.requestID, request.pseudonym, request.kind.rawValue, request.jurisdiction, request.receivedAt, request.dueAt)
            try await Self.appendAudit(kind: .subjectRequest, actor: actor, details: StoreAuditDetails.subjectRequest(request),
                                       at: request.receivedAt, in: sql)
        }
    }

    public func completeSubjectRequest(id: String, at time: Date, resultSHA256: String) async throws -> SubjectRequestRecord? {
        try await write { sql in
            try await sql.execute("UPDATE subject_requests SET completed_at = ?, result = ? WHERE request_id = ? AND completed_at IS NULL",
                                  time, [UInt8](resultSHA256.utf8), id)
            return try await sql.fetchOne("SELECT * FROM subject_requests WHERE request_id = ?", id).flatMap(Self.subjectRequest(from:))
        }
    }

    public func subjectRequests() async throws -> [SubjectRequestRecord] {
        try await read { sql in try await sql.fetchAll("SELECT * FROM subject_requests ORDER BY due_at").compactMap(Self.subjectRequest(from:)) }
    }

    static func subjectRequest(from row: SQLRow) throws -> SubjectRequestRecord? {
        guard let kind = SubjectRequestRecord.Kind(rawValue: try row("kind")) else { return nil }
        return SubjectRequestRecord(requestID: try row("request_id"), pseudonym: try row("subject_pseudonym"), kind: kind,
                                    jurisdiction: try row("jurisdiction"), receivedAt: try row.date("received_at"),
                                    dueAt: try row.date("due_at"), completedAt: try row.optionalDate("completed_at"))
    }

    // MARK: Audit log

    /// Appends in the caller's transaction, so the log and the change it records commit
    /// together. The entries are written when the transaction is about to commit (see
    /// `flushAudit`), so that the audit log's lock is held for the last moments only.
    static func appendAudit(kind: AuditEntry.Kind, actor: String, details: JSONValue, at time: Date, in sql: SQLConnection) async throws {
        guard case let .object(members) = details else { throw ComplianceStoreError.auditDetailsNotAnObject }
        sql.memo.pendingAudit.append(.init(kind: kind, actor: actor, details: members, time: time))
    }

    /// Writes the transaction's audit entries under the log's lock, which makes every node's
    /// appends one gap-free sequence: the next index is read only once the previous appender
    /// has committed or rolled back, and the lock is held until this transaction commits.
    static func flushAudit(in sql: SQLConnection) async throws {
        let pending = sql.memo.pendingAudit
        guard !pending.isEmpty else { return }
        sql.memo.pendingAudit = []
        try await sql.execute("SELECT pg_advisory_xact_lock(?)", AdvisoryLock.auditLog)
        let first = try await sql.scalar(Int.self, "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries") ?? 0
        // At most 65,535 parameters per statement: a large retention sweep goes in slices.
        for start in stride(from: 0, to: pending.count, by: 10_000) {
            let slice = pending[start..<min(start + 10_000, pending.count)]
            var arguments: [any SQLArgumentConvertible] = []
            for (offset, append) in zip(start..., slice) {
                let bytes = try AuditEntry(index: first + offset, time: append.time, kind: append.kind, actor: append.actor,
                                           details: append.details).entryBytes
                arguments += [first + offset, bytes, MerkleTree.leafHash(bytes).bytes]
            }
            try await sql.execute("INSERT INTO audit_entries (idx, entry, leaf_hash) VALUES "
                                  + Array(repeating: "(?, ?, ?)", count: slice.count).joined(separator: ", "), arguments: arguments)
        }
    }

    public func appendAudit(kind: String, actor: String, details: JSONValue, at time: Date) async throws {
        guard let kind = AuditEntry.Kind(rawValue: kind) else { throw ComplianceStoreError.unknownAuditKind(kind) }
        try await write { sql in try await Self.appendAudit(kind: kind, actor: actor, details: details, at: time, in: sql) }
    }

    public func auditTreeSize() async throws -> Int {
        try await read { sql in try await sql.scalar(Int.self, "SELECT COUNT(*) FROM audit_entries") ?? 0 }
    }

    public func auditEntries(from: Int, to: Int) async throws -> [[UInt8]] {
        try await read { sql in
            try await sql.fetchAll("SELECT entry FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx", from, to).map { try $0.bytes("entry") }
        }
    }

    public func auditLeafHashes(count: Int) async throws -> [[UInt8]] {
        try await read { sql in
            try await sql.fetchAll("SELECT leaf_hash FROM audit_entries WHERE idx < ? ORDER BY idx", count).map { try $0.bytes("leaf_hash") }
        }
    }

    public func addAuditCheckpoint(treeSize: Int, checkpoint: [UInt8]) async throws {
        try await write { sql in
            try await sql.execute("""
                INSERT INTO audit_checkpoints (tree_size, checkpoint) VALUES (?, ?)
                ON CONFLICT (tree_size) DO UPDATE SET checkpoint = excluded.checkpoint
                """, treeSize, checkpoint)
        }
    }

    public func auditCheckpoints() async throws -> [StoredAuditCheckpoint] {
        try await read { sql in
            try await sql.fetchAll("SELECT * FROM audit_checkpoints ORDER BY tree_size").map {
                StoredAuditCheckpoint(treeSize: try $0("tree_size"), checkpoint: try $0.bytes("checkpoint"))
            }
        }
    }
}

/// The consent state of the subjects of one batch, read in one query for all of them.
struct PostgresConsentCache {
    private var records: [String: [ConsentRecord]] = [:]
    private var texts: [Purpose: [ConsentText]] = [:]

    private static func key(_ pseudonym: String, _ purpose: Purpose) -> String { purpose.rawValue + "/" + pseudonym }

    mutating func load(pseudonyms: [String], purpose: Purpose, in sql: SQLConnection) async throws {
        let wanted = Array(Set(pseudonyms.filter { records[Self.key($0, purpose)] == nil }))
        guard !wanted.isEmpty else { return }
        for pseudonym in wanted { records[Self.key(pseudonym, purpose)] = [] }
        for row in try await sql.fetchAll("""
            SELECT subject_pseudonym, kind, occurred_at, text_version, arrival FROM consent_events
            WHERE subject_pseudonym = ANY(?) AND purpose = ? AND refusal IS NULL
            """, TextArray(values: wanted), purpose.rawValue) {
            guard let kind = ConsentRecord.Kind(rawValue: try row("kind")) else { continue }
            records[Self.key(try row("subject_pseudonym"), purpose), default: []].append(
                ConsentRecord(kind: kind, occurredAt: try row.date("occurred_at"), textVersion: try row("text_version"),
                              arrival: try row("arrival")))
        }
        // An erasure on request stops processing as a withdrawal would, until the subject grants again.
        for row in try await sql.fetchAll("""
            SELECT subject_pseudonym, requested_at FROM erasures WHERE subject_pseudonym = ANY(?) AND purpose = ? AND cause = 'request'
            """, TextArray(values: wanted), purpose.rawValue) {
            records[Self.key(try row("subject_pseudonym"), purpose), default: []].append(
                ConsentRecord(kind: .withdraw, occurredAt: try row.date("requested_at"), textVersion: "", arrival: .max))
        }
    }

    mutating func refusal(pseudonym: String, purpose: Purpose, at moment: Date, in sql: SQLConnection) async throws -> ConsentRefusal? {
        if records[Self.key(pseudonym, purpose)] == nil { try await load(pseudonyms: [pseudonym], purpose: purpose, in: sql) }
        if texts[purpose] == nil { texts[purpose] = try await PostgresFeedbackStore.consentTexts(purpose: purpose, in: sql) }
        return ConsentLedger.decision(at: moment, records: records[Self.key(pseudonym, purpose)] ?? [], texts: texts[purpose] ?? [])
    }
}
