import Compliance
import Feedback
import Foundation
import GRDB

/// The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so a
/// transaction that returned survives a power cut.
///
/// ```swift
/// let store = try SQLiteFeedbackStore(path: "data/faceloop.sqlite")
/// let result = try await store.storeBatch(incoming)
/// ```
public final class SQLiteFeedbackStore: FeedbackStore, ClusterJobLock {
    let pool: DatabasePool
    private let jobs = LocalJobLock()

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // WAL with FULL syncs the log on every commit: an acknowledged batch is on disk.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // Deleted rows are overwritten with zeros, so an erased outcome does not live on in
            // the file's free pages or in the free space inside a page.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try SQLiteSchema.migrator.migrate(pool)
    }

    /// One node per SQLite file, so the jobs of this process are all there is to exclude.
    public func exclusively<Value: Sendable>(_ job: ClusterJob, wait: Bool,
                                             _ body: @Sendable () async throws -> Value) async throws -> Value? {
        try await jobs.exclusively(job, wait: wait, body)
    }

    /// SQLite's own consistency check; "ok" when the file is sound.
    public func integrityCheck() async throws -> String {
        try await pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no answer" }
    }

    // MARK: Devices

    public func addEnrollmentToken(_ token: StoredEnrollmentToken) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO enrollment_tokens (token_sha256, device_id, created_at, expires_at) VALUES (?, ?, ?, ?)
                """, arguments: [token.sha256, token.deviceID, token.createdAt.timeIntervalSince1970, token.expiresAt.timeIntervalSince1970])
        }
    }

    public func previewEnrollment(sha256: String, deviceID: String, signingKey: Data, now: Date) async throws -> EnrollmentRedemption? {
        try await pool.read { db in try Self.redemptionRefusal(sha256: sha256, deviceID: deviceID, signingKey: signingKey, now: now, in: db) }
    }

    /// Why the token cannot enroll the device (or the retry it is), nil when it can.
    private static func redemptionRefusal(sha256: String, deviceID: String, signingKey: Data, now: Date,
                                          in db: Database) throws -> EnrollmentRedemption? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT device_id, expires_at, redeemed_at FROM enrollment_tokens WHERE token_sha256 = ?
            """, arguments: [sha256]),
              (row["device_id"] as String?) == deviceID
        else { return .invalidToken }
        if (row["redeemed_at"] as Double?) != nil {
            guard let enrolled = try Row.fetchOne(db, sql: """
                SELECT signing_key, certificate_der FROM devices WHERE device_id = ? AND status = 'active'
                """, arguments: [deviceID]),
                  (enrolled["signing_key"] as Data) == signingKey
            else { return .invalidToken }
            return .alreadyEnrolled(certificateDER: enrolled["certificate_der"])
        }
        guard (row["expires_at"] as Double? ?? 0) > now.timeIntervalSince1970 else { return .invalidToken }
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE device_id = ?", arguments: [deviceID]) == true {
            return .deviceExists
        }
        return nil
    }

    public func redeemEnrollmentToken(sha256: String, device: NewDevice, now: Date) async throws -> EnrollmentRedemption {
        try await pool.write { db in
            if let refusal = try Self.redemptionRefusal(sha256: sha256, deviceID: device.deviceID, signingKey: device.signingKey,
                                                        now: now, in: db) {
                return refusal
            }
            try db.execute(sql: "UPDATE enrollment_tokens SET redeemed_at = ? WHERE token_sha256 = ?",
                           arguments: [now.timeIntervalSince1970, sha256])
            try db.execute(sql: """
                INSERT INTO devices (device_id, status, signing_key, certificate_der, certificate_fingerprint,
                                     certificate_serial, certificate_not_after, enrolled_at)
                VALUES (?, 'active', ?, ?, ?, ?, ?, ?)
                """, arguments: [device.deviceID, device.signingKey, device.certificateDER, device.certificateFingerprint,
                                 device.certificateSerial, device.certificateNotAfter.timeIntervalSince1970,
                                 now.timeIntervalSince1970])
            try Self.appendAudit(kind: .deviceEnrolled, actor: "device:\(device.deviceID)",
                                 details: StoreAuditDetails.deviceEnrolled(device), at: now, in: db)
            return .enrolled
        }
    }

    public func device(id: String) async throws -> DeviceRecord? {
        try await deviceRecord(where: "device_id = ?", id)
    }

    public func device(withCertificateFingerprint fingerprint: String) async throws -> DeviceRecord? {
        try await deviceRecord(where: "certificate_fingerprint = ?", fingerprint)
    }

    private func deviceRecord(where condition: String, _ value: String) async throws -> DeviceRecord? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT device_id, status, signing_key, certificate_fingerprint, certificate_not_after
                FROM devices WHERE \(condition)
                """, arguments: [value]) else { return nil }
            return DeviceRecord(
                deviceID: row["device_id"],
                status: DeviceSummary.Status(rawValue: row["status"]) ?? .revoked,
                signingKey: row["signing_key"],
                certificateFingerprint: row["certificate_fingerprint"],
                certificateNotAfter: Date(timeIntervalSince1970: row["certificate_not_after"]))
        }
    }

    public func deviceSummaries() async throws -> [DeviceSummary] {
        try await pool.read { db in
            var refusals: [String: [String: Int]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT device_id, reason, events FROM refused_event_counts") {
                refusals[row["device_id"], default: [:]][row["reason"]] = row["events"]
            }
            return try Row.fetchAll(db, sql: """
                SELECT d.device_id, d.status, d.enrolled_at, d.revoked_at, d.certificate_serial, d.certificate_not_after,
                       d.reported_backlog, d.backlog_reported_at,
                       MAX(b.received_at) AS last_upload_at, COUNT(b.batch_id) AS batches,
                       COALESCE(SUM(b.event_count), 0) AS events
                FROM devices d LEFT JOIN batches b ON b.device_id = d.device_id
                GROUP BY d.device_id ORDER BY d.device_id
                """).map { row in
                DeviceSummary(
                    deviceID: row["device_id"],
                    status: DeviceSummary.Status(rawValue: row["status"]) ?? .revoked,
                    enrolledAt: Date(timeIntervalSince1970: row["enrolled_at"]),
                    revokedAt: (row["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    certificateSerial: row["certificate_serial"],
                    certificateNotAfter: Date(timeIntervalSince1970: row["certificate_not_after"]),
                    lastUploadAt: (row["last_upload_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    batches: row["batches"],
                    events: row["events"],
                    reportedBacklog: row["reported_backlog"],
                    backlogReportedAt: (row["backlog_reported_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    refusedEvents: refusals[row["device_id"]] ?? [:])
            }
        }
    }

    public func revokeDevice(id: String, at time: Date, actor: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE devices SET status = 'revoked', revoked_at = ? WHERE device_id = ? AND status = 'active'
                """, arguments: [time.timeIntervalSince1970, id])
            if db.changesCount > 0 {
                try Self.appendAudit(kind: .deviceRevoked, actor: actor, details: .object([("device_id", .string(id))]), at: time, in: db)
            }
            return try Bool.fetchOne(db, sql: "SELECT 1 FROM devices WHERE device_id = ?", arguments: [id]) == true
        }
    }

    // MARK: API tokens

    public func addAPIToken(sha256: String, role: String, label: String, at time: Date, actor: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO api_tokens (token_sha256, role, label, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [sha256, role, label, time.timeIntervalSince1970])
            try Self.appendAudit(kind: .roleGranted, actor: actor,
                                 details: StoreAuditDetails.token(id: String(sha256.prefix(16)), role: role, label: label), at: time, in: db)
        }
    }

    public func apiTokens() async throws -> [APITokenSummary] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_tokens ORDER BY created_at").map { row in
                APITokenSummary(id: String((row["token_sha256"] as String).prefix(16)), role: row["role"], label: row["label"],
                                createdAt: Date(timeIntervalSince1970: row["created_at"]),
                                revokedAt: (row["revoked_at"] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    public func revokeAPIToken(id: String, at time: Date, actor: String) async throws -> Bool {
        guard id.lowercased().isLowercaseHex(count: 16) else { return false }
        return try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT role, label FROM api_tokens WHERE substr(token_sha256, 1, 16) = ? AND revoked_at IS NULL",
                                             arguments: [id.lowercased()]) else { return false }
            try db.execute(sql: "UPDATE api_tokens SET revoked_at = ? WHERE substr(token_sha256, 1, 16) = ?",
                           arguments: [time.timeIntervalSince1970, id.lowercased()])
            try Self.appendAudit(kind: .roleRevoked, actor: actor,
                                 details: StoreAuditDetails.token(id: id.lowercased(), role: row["role"], label: row["label"]), at: time, in: db)
            return true
        }
    }

    public func apiToken(sha256: String) async throws -> APITokenRecord? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT role, label FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL",
                             arguments: [sha256])
                .map { APITokenRecord(role: $0["role"], label: $0["label"], sha256: sha256) }
        }
    }

    // MARK: Outcomes

    enum Abort: Error {
        case result(BatchStoreResult)
    }

    public func storeBatch(_ incoming: IncomingBatch) async throws -> BatchStoreResult {
        let result: BatchStoreResult
        do {
            result = try await pool.write { db in
                let batch = incoming.batch
                do {
                    try db.execute(sql: "INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?, ?, ?)",
                                   arguments: [batch.deviceID, incoming.nonce, incoming.receivedAt.timeIntervalSince1970])
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    throw Abort.result(.nonceReplayed)
                }
                if let existing = try Row.fetchOne(db, sql: """
                    SELECT content_digest, receipt FROM batches WHERE device_id = ? AND sequence = ?
                    """, arguments: [batch.deviceID, batch.sequence]) {
                    let digest: String = existing["content_digest"]
                    guard digest == incoming.contentDigest else { throw Abort.result(.sequenceConflict) }
                    let receipt: Data = existing["receipt"]
                    return .alreadyStored(receipt: [UInt8](receipt))
                }
                let batchID = incoming.batchID.uuidString.lowercased()
                try db.execute(sql: """
                    INSERT INTO batches (batch_id, device_id, sequence, content_digest, body, signature_input, signature,
                                         received_at, event_count, receipt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, X'')
                    """, arguments: [batchID, batch.deviceID, batch.sequence, incoming.contentDigest, Data(incoming.body),
                                     incoming.signatureInput, incoming.signature, incoming.receivedAt.timeIntervalSince1970])

                // Consent first: an outcome may rely on a consent recorded just before it.
                var refused: [BatchReceipt.RefusedEvent] = []
                for event in batch.consentEvents {
                    if let refusal = try Self.recordConsentEvent(event, deviceID: batch.deviceID, batchID: batchID,
                                                                 receivedAt: incoming.receivedAt, in: db) {
                        refused.append(refusal)
                    }
                }
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO outcomes (event_id, batch_id, device_id, attempted_at, model_version, threshold_version, site,
                                          camera_model, tags, score, decision, label, label_source, face_size_px, sharpness,
                                          brightness, liveness_score, subject_pseudonym, consent_ref)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                var consent = ConsentCache()
                var accepted = 0
                for outcome in batch.outcomes {
                    if let refusal = try consent.refusal(pseudonym: outcome.subject.pseudonym, purpose: .outcomeStorage,
                                                         at: outcome.attemptedAt, in: db) {
                        refused.append(.init(eventID: outcome.eventID, reason: refusal.rawValue, detail: refusal.explanation))
                        continue
                    }
                    let tags = JSONValue.array(outcome.cohort.tags.map(JSONValue.string)).serializedString
                    do {
                        try insert.execute(arguments: [
                            outcome.eventID.uuidString.lowercased(), batchID, batch.deviceID,
                            outcome.attemptedAt.timeIntervalSince1970, outcome.modelVersion, outcome.thresholdVersion,
                            outcome.cohort.site, outcome.cohort.cameraModel, tags, outcome.score, outcome.decision.rawValue,
                            outcome.label.rawValue, outcome.labelSource.rawValue, outcome.quality.faceSizePx,
                            outcome.quality.sharpness, outcome.quality.brightness, outcome.livenessScore,
                            outcome.subject.pseudonym, outcome.subject.consentRef,
                        ])
                    } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                        throw Abort.result(.duplicateEvent(outcome.eventID))
                    }
                    accepted += 1
                }
                let receipt = BatchReceipt(batchID: incoming.batchID, deviceID: batch.deviceID, sequence: batch.sequence,
                                           contentDigest: incoming.contentDigest, acceptedEvents: accepted,
                                           consentEvents: batch.consentEvents.count, refusedEvents: refused,
                                           storedAt: incoming.receivedAt)
                let receiptBytes = [UInt8](try WireJSON.encoder().encode(receipt))
                // A refused outcome must leave nothing behind, not even inside the signed body.
                let redact = refused.contains { refusal in batch.outcomes.contains { $0.eventID == refusal.eventID } }
                for (reason, count) in Dictionary(refused.map { ($0.reason, 1) }, uniquingKeysWith: +) {
                    try db.execute(sql: """
                        INSERT INTO refused_event_counts (device_id, reason, events) VALUES (?, ?, ?)
                        ON CONFLICT (device_id, reason) DO UPDATE SET events = events + excluded.events
                        """, arguments: [batch.deviceID, reason, count])
                }
                if let backlog = batch.queueBacklog {
                    // Batches may arrive out of order after retries: keep the figure sealed last.
                    try db.execute(sql: """
                        UPDATE devices SET reported_backlog = ?, backlog_reported_at = ?
                        WHERE device_id = ? AND (backlog_reported_at IS NULL OR backlog_reported_at <= ?)
                        """, arguments: [backlog, batch.createdAt.timeIntervalSince1970, batch.deviceID,
                                         batch.createdAt.timeIntervalSince1970])
                }
                try db.execute(sql: """
                    UPDATE batches SET event_count = ?, receipt = ?, body = CASE WHEN ? THEN X'' ELSE body END,
                                       redacted_at = CASE WHEN ? THEN ? ELSE NULL END
                    WHERE batch_id = ?
                    """, arguments: [accepted, Data(receiptBytes), redact, redact, incoming.receivedAt.timeIntervalSince1970, batchID])
                return .stored(receipt: receiptBytes)
            }
        } catch let Abort.result(refusal) {
            return refusal
        }
        // A withdrawal in the batch erased earlier outcomes, whose old pages are still in the log.
        if case .stored = result, incoming.batch.consentEvents.contains(where: { $0.kind == .withdraw }) {
            try await truncateLog()
        }
        return result
    }

    public func outcomeStats() async throws -> OutcomeStats {
        try await pool.read { db in
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outcomes") ?? 0
            let batches = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM batches") ?? 0
            let byDevice = try Row.fetchAll(db, sql: """
                SELECT device_id, COUNT(*) AS n FROM outcomes GROUP BY device_id ORDER BY device_id
                """).map { OutcomeStats.DeviceCount(deviceID: $0["device_id"], events: $0["n"]) }
            let byCohort = try Row.fetchAll(db, sql: """
                SELECT site, camera_model, COUNT(*) AS n FROM outcomes GROUP BY site, camera_model ORDER BY site, camera_model
                """).map { OutcomeStats.CohortCount(site: $0["site"], cameraModel: $0["camera_model"], events: $0["n"]) }
            var labels = [String: Int]()
            for row in try Row.fetchAll(db, sql: "SELECT label, COUNT(*) AS n FROM outcomes GROUP BY label") {
                labels[row["label"]] = row["n"]
            }
            return OutcomeStats(
                totalEvents: total, totalBatches: batches, byDevice: byDevice, byCohort: byCohort,
                byLabel: .init(genuine: labels["genuine"] ?? 0, impostor: labels["impostor"] ?? 0, unknown: labels["unknown"] ?? 0))
        }
    }

    public func purgeNonces(seenBefore time: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM nonces WHERE seen_at < ?", arguments: [time.timeIntervalSince1970])
            return db.changesCount
        }
    }

    public func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    // MARK: Threshold releases

    public func calibrationOutcomes(from: Date?, to: Date?) async throws -> [CalibrationOutcome] {
        try await pool.read { db in
            // A subject whose latest decision is a limit (GDPR art. 18) keeps their stored
            // outcomes, but they are not processed: left out of every computation.
            let restricted = Set(try String.fetchAll(db, sql: """
                SELECT c.subject_pseudonym FROM consent_events c
                WHERE c.purpose = ? AND c.refusal IS NULL AND c.kind = 'limit' AND NOT EXISTS (
                    SELECT 1 FROM consent_events later WHERE later.subject_pseudonym = c.subject_pseudonym AND later.purpose = c.purpose
                    AND later.refusal IS NULL AND (later.occurred_at > c.occurred_at OR (later.occurred_at = c.occurred_at AND later.arrival > c.arrival)))
                """, arguments: [Purpose.outcomeStorage.rawValue]))
            let rows = try Row.fetchCursor(db, sql: """
                SELECT model_version, site, camera_model, label, score, attempted_at, subject_pseudonym FROM outcomes
                WHERE attempted_at >= ? AND attempted_at < ?
                """, arguments: [from?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude,
                                 to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude])
            var outcomes: [CalibrationOutcome] = []
            while let row = try rows.next() {
                if !restricted.isEmpty, restricted.contains(row[6] as String) { continue }
                outcomes.append(CalibrationOutcome(modelVersion: row[0], site: row[1], cameraModel: row[2], label: row[3],
                                                   score: row[4], attemptedAt: Date(timeIntervalSince1970: row[5])))
            }
            return outcomes
        }
    }

    public func addThresholdRelease(_ release: StoredThresholdRelease) async throws -> Bool {
        do {
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO threshold_releases (version, state, payload, refused, largest_change, required_approvals,
                                                    approvals, computed_at, computed_by, computed_by_token, published_at, envelope)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [release.version, release.state.rawValue, Data(release.payload), Data(release.refused),
                                     release.largestChange, release.requiredApprovals,
                                     StoredList.encode(release.approvals), release.computedAt.timeIntervalSince1970,
                                     release.computedBy, release.computedByToken, release.publishedAt?.timeIntervalSince1970,
                                     release.envelope.map { Data($0) }])
            }
            return true
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            return false
        }
    }

    public func thresholdReleases() async throws -> [StoredThresholdRelease] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM threshold_releases ORDER BY version").map(Self.thresholdRelease(from:))
        }
    }

    public func thresholdRelease(version: Int) async throws -> StoredThresholdRelease? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM threshold_releases WHERE version = ?", arguments: [version])
                .map(Self.thresholdRelease(from:))
        }
    }

    public func approveThresholdRelease(version: Int, approverToken: String, actor: String) async throws -> StoredThresholdRelease? {
        try await pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM threshold_releases WHERE version = ?", arguments: [version]) else {
                return nil
            }
            var release = Self.thresholdRelease(from: row)
            guard release.approve(byToken: approverToken) else { return release }
            try Self.appendAudit(kind: .releaseApproved, actor: actor,
                                 details: StoreAuditDetails.thresholdApproval(version: version, state: release.state), at: Date(), in: db)
            try db.execute(sql: "UPDATE threshold_releases SET approvals = ?, state = ? WHERE version = ?",
                           arguments: [StoredList.encode(release.approvals), release.state.rawValue, version])
            return release
        }
    }

    public func publishThresholdRelease(version: Int, from: Set<ReleaseState>, envelope: [UInt8], at time: Date,
                                        retiring: ReleaseState, actor: String) async throws -> Bool {
        try await pool.write { db in
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM threshold_releases WHERE version = ?", arguments: [version]),
                  let current = ReleaseState(rawValue: state), from.contains(current) else { return false }
            try db.execute(sql: "UPDATE threshold_releases SET state = ? WHERE state = 'published'", arguments: [retiring.rawValue])
            try db.execute(sql: "UPDATE threshold_releases SET state = 'published', published_at = ?, envelope = ? WHERE version = ?",
                           arguments: [time.timeIntervalSince1970, Data(envelope), version])
            try Self.appendAudit(kind: .releasePublished, actor: actor,
                                 details: StoreAuditDetails.thresholdPublication(version: version, retiring: retiring, envelope: envelope),
                                 at: time, in: db)
            return true
        }
    }

    static func thresholdRelease(from row: Row) -> StoredThresholdRelease {
        StoredThresholdRelease(
            version: row["version"], state: ReleaseState(rawValue: row["state"]) ?? .computed,
            payload: [UInt8](row["payload"] as Data), refused: [UInt8](row["refused"] as Data),
            largestChange: row["largest_change"], requiredApprovals: row["required_approvals"],
            approvals: StoredList.decode(row["approvals"]), computedAt: Date(timeIntervalSince1970: row["computed_at"]),
            computedBy: row["computed_by"], computedByToken: row["computed_by_token"], publishedAt: (row["published_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            envelope: (row["envelope"] as Data?).map { [UInt8]($0) })
    }
}
