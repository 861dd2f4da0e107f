import AuditLog
import Compliance
import Feedback
import Foundation
import Logging
import PostgresNIO

/// The store for several server nodes: one PostgreSQL database through a pool of
/// connections. Every write is one transaction that returns only after `COMMIT` succeeded,
/// so an acknowledged batch is committed. Where the SQLite store relies on its single
/// writer, this one takes advisory locks inside the transaction, always in the same order
/// (device, consent, release or round, audit log), so that nodes never deadlock:
///
/// - a device's uploads are serialized, which makes retries idempotent across nodes;
/// - storing outcomes takes the consent lock shared, withdrawals and erasures take it
///   exclusive, so no outcome commits after the withdrawal that should have erased it;
/// - the audit log takes its own lock, so it stays one gap-free sequence across nodes.
///
/// ```swift
/// let store = try await PostgresFeedbackStore(url: "postgres://faceloop@db:5432/faceloop")
/// defer { Task { await store.shutdown() } }
/// ```
public final class PostgresFeedbackStore: FeedbackStore {
    let client: PostgresClient
    let logger: Logger
    private let runner: Task<Void, Never>

    public init(url: String, maximumConnections: Int = 20, logger: Logger = Logger(label: "faceloop.postgres")) async throws {
        var configuration = try PostgresURL.configuration(url)
        configuration.options.maximumConnections = maximumConnections
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.logger = logger
        // Immediate, so the pool counts as running before the first lease below.
        if #available(macOS 26, *) {
            runner = Task.immediate { await client.run() }
        } else {
            runner = Task { await client.run() }
        }
        do {
            try await migrate()
        } catch {
            await shutdown()
            throw error
        }
    }

    /// Closes the pool's connections (session advisory locks held by them go with them).
    public func shutdown() async {
        runner.cancel()
        await runner.value
    }

    private func migrate() async throws {
        try await client.withConnection { connection in
            let sql = SQLConnection(connection: connection, logger: logger)
            // Session-level, so it also covers the statements between the per-step transactions.
            try await sql.execute("SELECT pg_advisory_lock(?)", AdvisoryLock.migrations)
            do {
                try await sql.execute("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)
                    """)
                let applied = Set(try await sql.fetchAll("SELECT name FROM schema_migrations").map { try $0("name", as: String.self) })
                for migration in PostgresSchema.migrations where !applied.contains(migration.name) {
                    try await sql.execute("BEGIN")
                    do {
                        for statement in migration.statements { try await sql.execute(statement) }
                        if migration.name == PostgresSchema.migrations.first?.name { try await PostgresSchema.seed(in: sql) }
                        try await sql.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", migration.name, Date())
                        try await sql.execute("COMMIT")
                    } catch {
                        try? await sql.execute("ROLLBACK")
                        throw error
                    }
                }
                try await sql.execute("SELECT pg_advisory_unlock(?)", AdvisoryLock.migrations)
            } catch {
                try? await sql.execute("SELECT pg_advisory_unlock(?)", AdvisoryLock.migrations)
                throw error
            }
        }
    }

    // MARK: Transactions

    /// Runs `body` in one read-committed transaction; retried (whole) when PostgreSQL reports
    /// a serialization failure or a deadlock, which it resolves by aborting one side.
    func write<Value: Sendable>(_ body: (SQLConnection) async throws -> Value) async throws -> Value {
        try await transaction(begin: "BEGIN", body)
    }

    /// A consistent snapshot for reads of several statements.
    func read<Value: Sendable>(_ body: (SQLConnection) async throws -> Value) async throws -> Value {
        try await transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// One statement is its own transaction: no BEGIN and COMMIT round trips on hot reads.
    func single<Value: Sendable>(_ body: (SQLConnection) async throws -> Value) async throws -> Value {
        try await client.withConnection { connection in try await body(SQLConnection(connection: connection, logger: logger)) }
    }

    private func transaction<Value: Sendable>(begin: String, _ body: (SQLConnection) async throws -> Value) async throws -> Value {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await client.withConnection { connection in
                    let sql = SQLConnection(connection: connection, logger: logger)
                    try await sql.execute(begin)
                    do {
                        let value = try await body(sql)
                        try await Self.flushAudit(in: sql)
                        try await sql.execute("COMMIT")
                        return value
                    } catch {
                        try? await sql.execute("ROLLBACK")
                        throw error
                    }
                }
            } catch let error where attempt < 8 && ["40001", "40P01"].contains(PostgresSQL.sqlState(of: error) ?? "") {
                logger.debug("transaction retried", metadata: ["sqlstate": "\(PostgresSQL.sqlState(of: error) ?? "")"])
                continue
            }
        }
    }

    // MARK: Devices

    public func addEnrollmentToken(_ token: StoredEnrollmentToken) async throws {
        try await write { sql in
            try await sql.execute("INSERT INTO enrollment_tokens (token_sha256, device_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                                  token.sha256, token.deviceID, token.createdAt, token.expiresAt)
        }
    }

    public func previewEnrollment(sha256: String, deviceID: String, signingKey: Data, now: Date) async throws -> EnrollmentRedemption? {
        try await read { sql in
            try await Self.redemptionRefusal(sha256: sha256, deviceID: deviceID, signingKey: signingKey, now: now, lock: "", in: sql)
        }
    }

    /// Why the token cannot enroll the device (or the retry it is), nil when it can.
    private static func redemptionRefusal(sha256: String, deviceID: String, signingKey: Data, now: Date, lock: String,
                                          in sql: SQLConnection) async throws -> EnrollmentRedemption? {
        guard let row = try await sql.fetchOne("""
            SELECT device_id, expires_at, redeemed_at FROM enrollment_tokens WHERE token_sha256 = ? \(lock)
            """, sha256),
              try row("device_id", as: String.self) == deviceID
        else { return .invalidToken }
        if try row.optionalDate("redeemed_at") != nil {
            guard let enrolled = try await sql.fetchOne("""
                SELECT signing_key, certificate_der FROM devices WHERE device_id = ? AND status = 'active'
                """, deviceID),
                  try enrolled.bytes("signing_key") == [UInt8](signingKey)
            else { return .invalidToken }
            return .alreadyEnrolled(certificateDER: Data(try enrolled.bytes("certificate_der")))
        }
        guard try row.date("expires_at") > now else { return .invalidToken }
        if try await sql.exists("SELECT 1 FROM devices WHERE device_id = ?", deviceID) { return .deviceExists }
        return nil
    }

    public func redeemEnrollmentToken(sha256: String, device: NewDevice, now: Date) async throws -> EnrollmentRedemption {
        try await write { sql in
            try await AdvisoryLock.device(device.deviceID, in: sql)
            if let refusal = try await Self.redemptionRefusal(sha256: sha256, deviceID: device.deviceID, signingKey: device.signingKey,
                                                              now: now, lock: "FOR UPDATE", in: sql) {
                return refusal
            }
            try await sql.execute("UPDATE enrollment_tokens SET redeemed_at = ? WHERE token_sha256 = ?", now, sha256)
            try await sql.execute("""
                INSERT INTO devices (device_id, status, signing_key, certificate_der, certificate_fingerprint,
                                     certificate_serial, certificate_not_after, enrolled_at)
                VALUES (?, 'active', ?, ?, ?, ?, ?, ?)
                """, device.deviceID, device.signingKey, device.certificateDER, device.certificateFingerprint,
                                  device.certificateSerial, device.certificateNotAfter, now)
            try await Self.appendAudit(kind: .deviceEnrolled, actor: "device:\(device.deviceID)",
                                       details: StoreAuditDetails.deviceEnrolled(device), at: now, in: sql)
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
        try await single { sql in
            guard let row = try await sql.fetchOne("""
                SELECT device_id, status, signing_key, certificate_fingerprint, certificate_not_after FROM devices WHERE \(condition)
                """, value) else { return nil }
            return DeviceRecord(deviceID: try row("device_id"),
                                status: DeviceSummary.Status(rawValue: try row("status", as: String.self)) ?? .revoked,
                                signingKey: Data(try row.bytes("signing_key")),
                                certificateFingerprint: try row("certificate_fingerprint"),
                                certificateNotAfter: try row.date("certificate_not_after"))
        }
    }

    public func deviceSummaries() async throws -> [DeviceSummary] {
        try await read { sql in
            var refusals: [String: [String: Int]] = [:]
            for row in try await sql.fetchAll("SELECT device_id, reason, events FROM refused_event_counts") {
                refusals[try row("device_id"), default: [:]][try row("reason")] = try row("events", as: Int.self)
            }
            return try await sql.fetchAll("""
                SELECT d.device_id, d.status, d.enrolled_at, d.revoked_at, d.certificate_serial, d.certificate_not_after,
                       d.reported_backlog, d.backlog_reported_at,
                       MAX(b.received_at) AS last_upload_at, COUNT(b.batch_id) AS batches,
                       COALESCE(SUM(b.event_count), 0)::BIGINT AS events
                FROM devices d LEFT JOIN batches b ON b.device_id = d.device_id
                GROUP BY d.device_id ORDER BY d.device_id
                """).map { row in
                DeviceSummary(deviceID: try row("device_id"),
                              status: DeviceSummary.Status(rawValue: try row("status", as: String.self)) ?? .revoked,
                              enrolledAt: try row.date("enrolled_at"), revokedAt: try row.optionalDate("revoked_at"),
                              certificateSerial: try row("certificate_serial"),
                              certificateNotAfter: try row.date("certificate_not_after"),
                              lastUploadAt: try row.optionalDate("last_upload_at"), batches: try row("batches"),
                              events: try row("events"), reportedBacklog: try row("reported_backlog"),
                              backlogReportedAt: try row.optionalDate("backlog_reported_at"),
                              refusedEvents: refusals[try row("device_id")] ?? [:])
            }
        }
    }

    public func revokeDevice(id: String, at time: Date, actor: String) async throws -> Bool {
        try await write { sql in
            let changed = try await sql.changes("""
                UPDATE devices SET status = 'revoked', revoked_at = ? WHERE device_id = ? AND status = 'active'
                """, time, id)
            if changed > 0 {
                try await Self.appendAudit(kind: .deviceRevoked, actor: actor, details: .object([("device_id", .string(id))]),
                                           at: time, in: sql)
            }
            return try await sql.exists("SELECT 1 FROM devices WHERE device_id = ?", id)
        }
    }

    // MARK: API tokens

    public func addAPIToken(sha256: String, role: String, label: String, at time: Date, actor: String) async throws {
        try await write { sql in
            try await sql.execute("INSERT INTO api_tokens (token_sha256, role, label, created_at) VALUES (?, ?, ?, ?)",
                                  sha256, role, label, time)
            try await Self.appendAudit(kind: .roleGranted, actor: actor,
                                       details: StoreAuditDetails.token(id: String(sha256.prefix(16)), role: role, label: label),
                                       at: time, in: sql)
        }
    }

    public func apiTokens() async throws -> [APITokenSummary] {
        try await read { sql in
            try await sql.fetchAll("SELECT * FROM api_tokens ORDER BY created_at").map { row in
                APITokenSummary(id: String(try row("token_sha256", as: String.self).prefix(16)), role: try row("role"),
                                label: try row("label"), createdAt: try row.date("created_at"), revokedAt: try row.optionalDate("revoked_at"))
            }
        }
    }

    public func revokeAPIToken(id: String, at time: Date, actor: String) async throws -> Bool {
        guard id.lowercased().isLowercaseHex(count: 16) else { return false }
        let prefix = id.lowercased()
        return try await write { sql in
            guard let row = try await sql.fetchOne("""
                SELECT role, label FROM api_tokens WHERE substr(token_sha256, 1, 16) = ? AND revoked_at IS NULL FOR UPDATE
                """, prefix) else { return false }
            try await sql.execute("UPDATE api_tokens SET revoked_at = ? WHERE substr(token_sha256, 1, 16) = ?", time, prefix)
            try await Self.appendAudit(kind: .roleRevoked, actor: actor,
                                       details: StoreAuditDetails.token(id: prefix, role: try row("role"), label: try row("label")),
                                       at: time, in: sql)
            return true
        }
    }

    public func apiToken(sha256: String) async throws -> APITokenRecord? {
        try await single { sql in
            try await sql.fetchOne("SELECT role, label FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL", sha256)
                .map { APITokenRecord(role: try $0("role"), label: try $0("label"), sha256: sha256) }
        }
    }

    // MARK: Outcomes

    enum Abort: Error {
        case result(BatchStoreResult)
    }

    public func storeBatch(_ incoming: IncomingBatch) async throws -> BatchStoreResult {
        do {
            return try await write { sql in try await self.storeBatch(incoming, in: sql) }
        } catch let Abort.result(result) {
            return result
        }
    }

    private func storeBatch(_ incoming: IncomingBatch, in sql: SQLConnection) async throws -> BatchStoreResult {
        let batch = incoming.batch
        // Serializes this device's uploads on every node: a retry that reaches another node
        // while the first attempt is still committing waits for it and then finds it.
        try await AdvisoryLock.device(batch.deviceID, in: sql)
        let withdraws = batch.consentEvents.contains { $0.kind == .withdraw }
        try await AdvisoryLock.consent(exclusive: withdraws, in: sql)
        guard try await sql.changes("""
            INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
            """, batch.deviceID, incoming.nonce, incoming.receivedAt) == 1 else { throw Abort.result(.nonceReplayed) }
        if let existing = try await sql.fetchOne("SELECT content_digest, receipt FROM batches WHERE device_id = ? AND sequence = ?",
                                                 batch.deviceID, batch.sequence) {
            guard try existing("content_digest", as: String.self) == incoming.contentDigest else { throw Abort.result(.sequenceConflict) }
            return .alreadyStored(receipt: try existing.bytes("receipt"))
        }
        let batchID = incoming.batchID.uuidString.lowercased()
        try await sql.execute("""
            INSERT INTO batches (batch_id, device_id, sequence, content_digest, body, signature_input, signature,
                                 received_at, event_count, receipt)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ''::bytea)
            """, batchID, batch.deviceID, batch.sequence, incoming.contentDigest, incoming.body,
                              incoming.signatureInput, incoming.signature, incoming.receivedAt)

        // Consent first: an outcome may rely on a consent recorded just before it.
        var refused: [BatchReceipt.RefusedEvent] = []
        for event in batch.consentEvents {
            if let refusal = try await Self.recordConsentEvent(event, deviceID: batch.deviceID, batchID: batchID,
                                                               receivedAt: incoming.receivedAt, in: sql) {
                refused.append(refusal)
            }
        }
        var consent = PostgresConsentCache()
        try await consent.load(pseudonyms: batch.outcomes.map(\.subject.pseudonym), purpose: .outcomeStorage, in: sql)
        var accepted: [MatchOutcome] = []
        for outcome in batch.outcomes {
            if let refusal = try await consent.refusal(pseudonym: outcome.subject.pseudonym, purpose: .outcomeStorage,
                                                       at: outcome.attemptedAt, in: sql) {
                refused.append(.init(eventID: outcome.eventID, reason: refusal.rawValue, detail: refusal.explanation))
            } else {
                accepted.append(outcome)
            }
        }
        // As with SQLite's inserts: the first stored outcome whose id is already taken refuses the batch.
        let stored = Set(try await sql.fetchAll("SELECT event_id FROM outcomes WHERE event_id = ANY(?)",
                                                TextArray(values: accepted.map { $0.eventID.uuidString.lowercased() }))
            .map { try $0("event_id", as: String.self) })
        var seen = Set<UUID>()
        for outcome in accepted where !seen.insert(outcome.eventID).inserted || stored.contains(outcome.eventID.uuidString.lowercased()) {
            throw Abort.result(.duplicateEvent(outcome.eventID))
        }
        try await Self.insertOutcomes(accepted, batchID: batchID, deviceID: batch.deviceID, in: sql)
        let receipt = BatchReceipt(batchID: incoming.batchID, deviceID: batch.deviceID, sequence: batch.sequence,
                                   contentDigest: incoming.contentDigest, acceptedEvents: accepted.count,
                                   consentEvents: batch.consentEvents.count, refusedEvents: refused, storedAt: incoming.receivedAt)
        let receiptBytes = [UInt8](try WireJSON.encoder().encode(receipt))
        // A refused outcome must leave nothing behind, not even inside the signed body.
        let redact = accepted.count < batch.outcomes.count
        for (reason, count) in Dictionary(refused.map { ($0.reason, 1) }, uniquingKeysWith: +).sorted(by: { $0.key < $1.key }) {
            // One statement, so concurrent batches of the device never lose each other's counts.
            try await sql.execute("""
                INSERT INTO refused_event_counts (device_id, reason, events) VALUES (?, ?, ?)
                ON CONFLICT (device_id, reason) DO UPDATE SET events = refused_event_counts.events + EXCLUDED.events
                """, batch.deviceID, reason, count)
        }
        if let backlog = batch.queueBacklog {
            // Batches may arrive out of order after retries: keep the figure sealed last.
            try await sql.execute("""
                UPDATE devices SET reported_backlog = ?, backlog_reported_at = ?
                WHERE device_id = ? AND (backlog_reported_at IS NULL OR backlog_reported_at <= ?)
                """, backlog, batch.createdAt, batch.deviceID, batch.createdAt)
        }
        try await sql.execute("""
            UPDATE batches SET event_count = ?, receipt = ?, body = CASE WHEN ? THEN ''::bytea ELSE body END,
                               redacted_at = CASE WHEN ? THEN ?::double precision ELSE NULL END
            WHERE batch_id = ?
            """, accepted.count, receiptBytes, redact, redact, incoming.receivedAt, batchID)
        return .stored(receipt: receiptBytes)
    }

    /// One multi-row INSERT per chunk: a round trip per outcome would dominate ingest.
    private static func insertOutcomes(_ outcomes: [MatchOutcome], batchID: String, deviceID: String, in sql: SQLConnection) async throws {
        let columns = 19
        // PostgreSQL takes at most 65,535 parameters per statement.
        for start in stride(from: 0, to: outcomes.count, by: 3000) {
            let chunk = outcomes[start..<min(start + 3000, outcomes.count)]
            let row = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
            var arguments: [any SQLArgumentConvertible] = []
            arguments.reserveCapacity(chunk.count * columns)
            for outcome in chunk {
                let tags = JSONValue.array(outcome.cohort.tags.map(JSONValue.string)).serializedString
                arguments += [
                    outcome.eventID.uuidString.lowercased(), batchID, deviceID, outcome.attemptedAt, outcome.modelVersion,
                    outcome.thresholdVersion, outcome.cohort.site, outcome.cohort.cameraModel, tags, outcome.score,
                    outcome.decision.rawValue, outcome.label.rawValue, outcome.labelSource.rawValue, outcome.quality.faceSizePx,
                    outcome.quality.sharpness, outcome.quality.brightness, outcome.livenessScore, outcome.subject.pseudonym,
                    outcome.subject.consentRef,
                ]
            }
            try await sql.execute("""
                INSERT INTO outcomes (event_id, batch_id, device_id, attempted_at, model_version, threshold_version, site,
                                      camera_model, tags, score, decision, label, label_source, face_size_px, sharpness,
                                      brightness, liveness_score, subject_pseudonym, consent_ref)
                VALUES \(Array(repeating: row, count: chunk.count).joined(separator: ", "))
                """, arguments: arguments)
        }
    }

    public func outcomeStats() async throws -> OutcomeStats {
        try await read { sql in
            let total = try await sql.scalar(Int.self, "SELECT COUNT(*) FROM outcomes") ?? 0
            let batches = try await sql.scalar(Int.self, "SELECT COUNT(*) FROM batches") ?? 0
            let byDevice = try await sql.fetchAll("SELECT device_id, COUNT(*) AS n FROM outcomes GROUP BY device_id ORDER BY device_id")
                .map { OutcomeStats.DeviceCount(deviceID: try $0("device_id"), events: try $0("n")) }
            let byCohort = try await sql.fetchAll("""
                SELECT site, camera_model, COUNT(*) AS n FROM outcomes GROUP BY site, camera_model ORDER BY site, camera_model
                """).map { OutcomeStats.CohortCount(site: try $0("site"), cameraModel: try $0("camera_model"), events: try $0("n")) }
            var labels = [String: Int]()
            for row in try await sql.fetchAll("SELECT label, COUNT(*) AS n FROM outcomes GROUP BY label") {
                labels[try row("label")] = try row("n", as: Int.self)
            }
            return OutcomeStats(totalEvents: total, totalBatches: batches, byDevice: byDevice, byCohort: byCohort,
                                byLabel: .init(genuine: labels["genuine"] ?? 0, impostor: labels["impostor"] ?? 0,
                                               unknown: labels["unknown"] ?? 0))
        }
    }

    public func purgeNonces(seenBefore time: Date) async throws -> Int {
        try await write { sql in try await sql.changes("DELETE FROM nonces WHERE seen_at < ?", time) }
    }

    public func ping() async throws {
        _ = try await client.withConnection { connection in
            try await SQLConnection(connection: connection, logger: logger).scalar(Int.self, "SELECT 1")
        }
    }

    // MARK: Threshold releases

    public func calibrationOutcomes(from: Date?, to: Date?) async throws -> [CalibrationOutcome] {
        try await read { sql in
            // A subject whose latest decision is a limit (GDPR art. 18) keeps their stored
            // outcomes, but they are not processed: left out of every computation.
            let restricted = Set(try await sql.fetchAll("""
                SELECT c.subject_pseudonym FROM consent_events c
                WHERE c.purpose = ? AND c.refusal IS NULL AND c.kind = 'limit' AND NOT EXISTS (
                    SELECT 1 FROM consent_events later WHERE later.subject_pseudonym = c.subject_pseudonym AND later.purpose = c.purpose
                    AND later.refusal IS NULL AND (later.occurred_at > c.occurred_at OR (later.occurred_at = c.occurred_at AND later.arrival > c.arrival)))
                """, Purpose.outcomeStorage.rawValue).map { try $0("subject_pseudonym", as: String.self) })
            var outcomes: [CalibrationOutcome] = []
            let query = try PostgresSQL.query("""
                SELECT model_version, site, camera_model, label, score, attempted_at, subject_pseudonym FROM outcomes
                WHERE attempted_at >= ? AND attempted_at < ?
                """, [from?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude,
                      to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude])
            for try await (model, site, camera, label, score, attempted, pseudonym)
                in try await sql.connection.query(query, logger: sql.logger).decode((String, String, String, String, Double, Double, String).self) {
                if !restricted.isEmpty, restricted.contains(pseudonym) { continue }
                outcomes.append(CalibrationOutcome(modelVersion: model, site: site, cameraModel: camera, label: label, score: score,
                                                   attemptedAt: Date(timeIntervalSince1970: attempted)))
            }
            return outcomes
        }
    }

    public func addThresholdRelease(_ release: StoredThresholdRelease) async throws -> Bool {
        try await write { sql in
            try await sql.changes("""
                INSERT INTO threshold_releases (version, state, payload, refused, largest_change, required_approvals,
                                                approvals, computed_at, computed_by, computed_by_token, published_at, envelope)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version) DO NOTHING
                """, release.version, release.state.rawValue, release.payload, release.refused, release.largestChange,
                                  release.requiredApprovals, StoredList.encode(release.approvals), release.computedAt,
                                  release.computedBy, release.computedByToken, release.publishedAt, release.envelope) == 1
        }
    }

    public func thresholdReleases() async throws -> [StoredThresholdRelease] {
        try await read { sql in
            try await sql.fetchAll("SELECT * FROM threshold_releases ORDER BY version").map(Self.thresholdRelease(from:))
        }
    }

    public func thresholdRelease(version: Int) async throws -> StoredThresholdRelease? {
        try await read { sql in
            try await sql.fetchOne("SELECT * FROM threshold_releases WHERE version = ?", version).map(Self.thresholdRelease(from:))
        }
    }

    public func approveThresholdRelease(version: Int, approverToken: String, actor: String) async throws -> StoredThresholdRelease? {
        try await write { sql in
            // Row lock: two approvers on two nodes must not overwrite each other's approval.
            guard let row = try await sql.fetchOne("SELECT * FROM threshold_releases WHERE version = ? FOR UPDATE", version) else {
                return nil
            }
            var release = try Self.thresholdRelease(from: row)
            guard release.approve(byToken: approverToken) else { return release }
            try await Self.appendAudit(kind: .releaseApproved, actor: actor,
                                       details: StoreAuditDetails.thresholdApproval(version: version, state: release.state),
                                       at: Date(), in: sql)
            try await sql.execute("UPDATE threshold_releases SET approvals = ?, state = ? WHERE version = ?",
                                  StoredList.encode(release.approvals), release.state.rawValue, version)
            return release
        }
    }

    public func publishThresholdRelease(version: Int, from: Set<ReleaseState>, envelope: [UInt8], at time: Date,
                                        retiring: ReleaseState, actor: String) async throws -> Bool {
        try await write { sql in
            // One publication at a time across nodes: exactly one release stays published.
            try await sql.execute("SELECT pg_advisory_xact_lock(?)", AdvisoryLock.thresholdPublication)
            guard let state = try await sql.scalar(String.self, "SELECT state FROM threshold_releases WHERE version = ?", version),
                  let current = ReleaseState(rawValue: state), from.contains(current) else { return false }
            try await sql.execute("UPDATE threshold_releases SET state = ? WHERE state = 'published'", retiring.rawValue)
            try await sql.execute("UPDATE threshold_releases SET state = 'published', published_at = ?, envelope = ? WHERE version = ?",
                                  time, envelope, version)
            try await Self.appendAudit(kind: .releasePublished, actor: actor,
                                       details: StoreAuditDetails.thresholdPublication(version: version, retiring: retiring,
                                                                                       envelope: envelope),
                                       at: time, in: sql)
            return true
        }
    }

    static func thresholdRelease(from row: SQLRow) throws -> StoredThresholdRelease {
        StoredThresholdRelease(
            version: try row("version"), state: ReleaseState(rawValue: try row("state", as: String.self)) ?? .computed,
            payload: try row.bytes("payload"), refused: try row.bytes("refused"), largestChange: try row("largest_change"),
            requiredApprovals: try row("required_approvals"), approvals: StoredList.decode(try row("approvals")),
            computedAt: try row.date("computed_at"), computedBy: try row("computed_by"), computedByToken: try row("computed_by_token"),
            publishedAt: try row.optionalDate("published_at"),
            envelope: try row.optionalBytes("envelope"))
    }
}

/// Advisory lock keys. Transaction-scoped locks (`pg_advisory_xact_lock`) end with their
/// transaction; the session-scoped ones end with their connection, so a node that dies
/// releases what it held.
enum AdvisoryLock {
    static let migrations = 0x4641_4345_4C00
    static let auditLog = 0x4641_4345_4C01
    static let consent = 0x4641_4345_4C02
    static let thresholdPublication = 0x4641_4345_4C03
    static let federationRounds = 0x4641_4345_4C04

    static func device(_ deviceID: String, in sql: SQLConnection) async throws {
        try await sql.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "device:" + deviceID)
    }

    /// Storing outcomes shares it; recording a withdrawal or erasing takes it alone.
    static func consent(exclusive: Bool, in sql: SQLConnection) async throws {
        try await sql.execute(exclusive ? "SELECT pg_advisory_xact_lock(?)" : "SELECT pg_advisory_xact_lock_shared(?)", consent)
    }
}

extension PostgresFeedbackStore: ClusterJobLock {
    public func exclusively<Value: Sendable>(_ job: ClusterJob, wait: Bool,
                                             _ body: @Sendable () async throws -> Value) async throws -> Value? {
        // The lock lives as long as this leased connection: if the node dies, PostgreSQL
        // drops the connection and the lock with it, and another node takes the job over.
        try await client.withConnection { connection in
            let sql = SQLConnection(connection: connection, logger: logger)
            let key = "job:" + job.rawValue
            let clock = ContinuousClock()
            let start = clock.now
            while try await sql.scalar(Bool.self, "SELECT pg_try_advisory_lock(hashtextextended(?, 0))", key) != true {
                guard wait else { return nil }
                guard clock.now - start < ClusterJobPolicy.longestWait else {
                    throw ClusterJobError.busy(job, waited: ClusterJobPolicy.longestWait)
                }
                try await Task.sleep(for: ClusterJobPolicy.retryInterval)
            }
            do {
                let value = try await body()
                try await sql.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", key)
                return value
            } catch {
                try? await sql.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", key)
                throw error
            }
        }
    }
}
