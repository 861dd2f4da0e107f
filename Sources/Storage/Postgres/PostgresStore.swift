import AuditLog
import Compliance
import FeedbackWire
import Foundation
import Logging
import PostgresNIO
import StrictJSON

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
/// let store = try await PostgresStore(url: "postgres://faceloop@db:5432/faceloop")
/// defer { Task { await store.shutdown() } }
/// ```
public final class PostgresStore: FeedbackStore {
    static let sql = StoreSQL(dialect: .postgres)

    let client: PostgresClient
    let logger: Logger
    let statisticsWindows = PostgresStatisticsWindows()
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
            try await organizeOutcomeMonths(now: Date())
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
            let db = SQLConnection(connection: connection, logger: logger)
            // Session-level, so it also covers the statements between the per-step transactions.
            try await db.execute("SELECT pg_advisory_lock(?)", AdvisoryLock.migrations)
            do {
                try await db.execute("""
                    CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)
                    """)
                let applied = Set(try await db.fetchAll("SELECT name FROM schema_migrations").map { try $0("name", as: String.self) })
                for migration in PostgresSchema.migrations where !applied.contains(migration.name) {
                    try await db.execute("BEGIN")
                    do {
                        for statement in migration.statements { try await db.execute(statement) }
                        try await migration.fill?(db)
                        if migration.name == PostgresSchema.migrations.first?.name { try await PostgresSchema.seed(in: db) }
                        try await db.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", migration.name, Date())
                        try await db.execute("COMMIT")
                    } catch {
                        try? await db.execute("ROLLBACK")
                        throw error
                    }
                }
                try await db.execute("SELECT pg_advisory_unlock(?)", AdvisoryLock.migrations)
            } catch {
                try? await db.execute("SELECT pg_advisory_unlock(?)", AdvisoryLock.migrations)
                throw error
            }
        }
    }

    // MARK: Transactions

    /// Runs `body` in one read-committed transaction; retried (whole) when PostgreSQL reports
    /// a serialization failure or a deadlock, which it resolves by aborting one side, or a
    /// unique violation: under read committed a check and the insert after it can both run
    /// before a concurrent transaction with the same key commits (two kiosks uploading one
    /// event), and only a run after that commit sees the key and answers as the check says.
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

    private static let retriedStates: Set<String> = ["40001", "40P01", "23505"]

    private func transaction<Value: Sendable>(begin: String, _ body: (SQLConnection) async throws -> Value) async throws -> Value {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await client.withConnection { connection in
                    let db = SQLConnection(connection: connection, logger: logger)
                    try await db.execute(begin)
                    do {
                        let value = try await body(db)
                        try await Self.flushAudit(in: db)
                        try await db.execute("COMMIT")
                        return value
                    } catch {
                        try? await db.execute("ROLLBACK")
                        throw error
                    }
                }
            } catch let error where attempt < 8 && Self.retriedStates.contains(PostgresSQL.sqlState(of: error) ?? "") {
                logger.debug("transaction retried", metadata: ["sqlstate": "\(PostgresSQL.sqlState(of: error) ?? "")"])
                continue
            }
        }
    }

    /// Runs the change in one transaction.
    func commit(_ change: StoreChange) async throws {
        try await write { db in try await db.apply(change) }
    }

    // MARK: Devices

    public func addEnrollmentToken(_ token: StoredEnrollmentToken) async throws {
        try await write { db in
            var token = token
            token.sites = try DeviceSiteBinding.checked(token.sites, registered: await db.column(String.self, Self.sql.registeredSites(token.sites)))
            try await db.apply(StoreChange([Self.sql.insertEnrollmentToken(token)]))
        }
    }

    public func previewEnrollment(sha256: String, deviceID: String, signingKey: Data, now: Date) async throws -> EnrollmentRedemption? {
        try await read { db in
            try await Self.redemptionRefusal(sha256: sha256, deviceID: deviceID, signingKey: signingKey, now: now, redeeming: false, in: db)
        }
    }

    private static func redemptionRefusal(sha256: String, deviceID: String, signingKey: Data, now: Date, redeeming: Bool,
                                          in db: SQLConnection) async throws -> EnrollmentRedemption? {
        let token = try await db.fetchOne(sql.enrollmentToken(sha256: sha256, forRedemption: redeeming)).map(EnrollmentCheck.Token.init)
        let activeDevice = try await db.fetchOne(sql.activeDeviceKeys(deviceID: deviceID))
        let deviceExists = try await db.exists(sql.deviceExists(deviceID: deviceID))
        return try EnrollmentCheck.refusal(token: token, deviceID: deviceID, signingKey: signingKey, now: now, activeDevice: activeDevice,
                                           deviceExists: deviceExists)
    }

    public func redeemEnrollmentToken(sha256: String, device: NewDevice, now: Date) async throws -> EnrollmentRedemption {
        try await write { db in
            try await AdvisoryLock.device(device.deviceID, in: db)
            if let refusal = try await Self.redemptionRefusal(sha256: sha256, deviceID: device.deviceID, signingKey: device.signingKey,
                                                              now: now, redeeming: true, in: db) {
                return refusal
            }
            let sites = try await db.scalar(String.self, Self.sql.enrollmentTokenSites(sha256: sha256))
            try await db.apply(StoreChange.enroll(device, token: sha256, sites: sites, at: now, sql: Self.sql))
            return .enrolled
        }
    }

    public func device(id: String) async throws -> DeviceRecord? {
        try await single { db in try await db.fetchOne(Self.sql.device(id: id)).map(StoreRows.deviceRecord) }
    }

    public func device(withCertificateFingerprint fingerprint: String) async throws -> DeviceRecord? {
        try await single { db in try await db.fetchOne(Self.sql.device(certificateFingerprint: fingerprint)).map(StoreRows.deviceRecord) }
    }

    public func deviceSummaries() async throws -> [DeviceSummary] {
        try await read { db in
            let refused = try StoreRows.refusedEventCounts(await db.fetchAll(Self.sql.refusedEventCounts))
            let sites = try StoreRows.deviceSites(await db.fetchAll(Self.sql.allDeviceSites))
            return try await db.fetchAll(Self.sql.deviceSummaries).map { try StoreRows.deviceSummary($0, refusedEvents: refused, sites: sites) }
        }
    }

    public func moveDevice(id: String, to sites: [String], at time: Date, actor: String) async throws -> [String]? {
        try await write { db in
            // Two moves of one kiosk on two nodes: one after the other, each seeing the sites the other left.
            try await AdvisoryLock.device(id, in: db)
            guard try await db.exists(Self.sql.deviceExists(deviceID: id)) else { return nil }
            let sites = try DeviceSiteBinding.checked(sites, registered: await db.column(String.self, Self.sql.registeredSites(sites)))
            let before = try await db.column(String.self, Self.sql.deviceSites(deviceID: id))
            try await db.apply(DeviceSiteBinding.move(deviceID: id, from: before, to: sites, actor: actor, at: time, sql: Self.sql))
            return before
        }
    }

    public func revokeDevice(id: String, at time: Date, actor: String) async throws -> Bool {
        try await write { db in
            if try await db.changes(Self.sql.revokeDevice(id: id, at: time)) > 0 {
                try await db.apply(StoreChange([], audit: [PendingAuditEntry(.deviceRevoked, actor: actor,
                                                                             details: .object([("device_id", .string(id))]), at: time)]))
            }
            return try await db.exists(Self.sql.deviceExists(deviceID: id))
        }
    }

    // MARK: API tokens

    public func addAPIToken(sha256: String, role: String, label: String, at time: Date, actor: String) async throws {
        try await commit(StoreChange.addAPIToken(sha256: sha256, role: role, label: label, at: time, actor: actor, sql: Self.sql))
    }

    public func apiTokens() async throws -> [APITokenSummary] {
        try await read { db in try await db.fetchAll(Self.sql.apiTokens).map(StoreRows.apiTokenSummary) }
    }

    public func revokeAPIToken(id: String, at time: Date, actor: String) async throws -> Bool {
        let id = id.lowercased()
        guard id.isLowercaseHex(count: 16) else { return false }
        return try await write { db in
            guard let token = try await db.fetchOne(Self.sql.activeAPIToken(id: id)) else { return false }
            try await db.apply(StoreChange.revokeAPIToken(id: id, role: token.text("role"), label: token.text("label"), at: time,
                                                          actor: actor, sql: Self.sql))
            return true
        }
    }

    public func apiToken(sha256: String) async throws -> APITokenRecord? {
        try await single { db in
            try await db.fetchOne(Self.sql.activeAPIToken(sha256: sha256))
                .map { APITokenRecord(role: try $0.text("role"), label: try $0.text("label"), sha256: sha256) }
        }
    }

    // MARK: Outcomes

    public func storeBatch(_ incoming: IncomingBatch) async throws -> BatchStoreResult {
        let result: BatchStoreResult
        do {
            do {
                result = try await write { db in try await Self.storeBatch(incoming, in: db) }
            } catch is RestrictionChangeNeedsExclusiveLock {
                // A consent event lifts a subject's limit: again, with the consent lock alone.
                result = try await write { db in
                    db.memo.consentLockExclusive = true
                    return try await Self.storeBatch(incoming, in: db)
                }
            }
        } catch let StoreAbort.batch(answer) {
            return answer
        }
        if case .stored = result, BatchIntake.withdraws(incoming.batch) {
            let stamp = Self.sql.stampWithdrawalsBlocked(batchID: incoming.batchID.uuidString.lowercased(), at: Date())
            try await single { db in try await db.execute(stamp) }
        }
        return result
    }

    private static func storeBatch(_ incoming: IncomingBatch, in db: SQLConnection) async throws -> BatchStoreResult {
        let batch = incoming.batch
        // Serializes this device's uploads on every node: a retry that reaches another node
        // while the first attempt is still committing waits for it and then finds it.
        try await AdvisoryLock.device(batch.deviceID, in: db)
        try await AdvisoryLock.consent(exclusive: BatchIntake.withdraws(batch) || ScoreStatisticsMaintenance.mayRestrict(batch), in: db)
        guard try await db.changes(sql.insertNonce(deviceID: batch.deviceID, nonce: incoming.nonce, seenAt: incoming.receivedAt)) == 1 else {
            throw StoreAbort.batch(.nonceReplayed)
        }
        if let stored = try await db.fetchOne(sql.batch(deviceID: batch.deviceID, sequence: batch.sequence)) {
            return try BatchIntake.resend(incoming, stored: stored)
        }
        let batchID = incoming.batchID.lowercaseText
        let keyVersions = try KeyVersions(rows: await db.fetchAll(sql.currentKeyVersions(sites: Array(batch.sites))))
        var consentEventRefusals: [BatchReceipt.RefusedEvent] = []
        for event in batch.consentEvents {
            if let refusal = keyVersions.refusal(eventID: event.eventID, site: event.site, version: event.keyVersion) {
                consentEventRefusals.append(refusal)
                continue
            }
            let intake = try ConsentEventIntake(event, deviceID: batch.deviceID, batchID: batchID, receivedAt: incoming.receivedAt,
                                                registeredHashes: await consentTextHashes(of: event, in: db), now: Date(), sql: sql)
            if let refusal = try await record(intake, in: db) { consentEventRefusals.append(refusal) }
        }
        var consent = ConsentCache()
        try await db.prepare(&consent, for: batch.outcomes.map(\.subject.pseudonym), purpose: .outcomeStorage)
        let shadowScoreSubjects = BatchIntake.shadowScoreSubjects(batch)
        if !shadowScoreSubjects.isEmpty { try await db.prepare(&consent, for: shadowScoreSubjects, purpose: .modelImprovement) }
        let stored = Set(try await db.column(String.self, sql.storedOutcomeIDs(BatchIntake.eventIDs(batch))))
        let intake = try BatchIntake(incoming, consentEventRefusals: consentEventRefusals, consent: consent, storedEventIDs: stored,
                                     keyVersions: keyVersions)
        // PostgreSQL compresses a large value itself (TOAST): the signed bytes as they came.
        try await db.apply(intake.change(incoming, batchID: batchID, sql: sql, storedBody: incoming.body))
        try await countStored(intake.accepted, deviceID: batch.deviceID, in: db)
        return .stored(receipt: intake.receipt)
    }

    public func purgeNonces(seenBefore time: Date) async throws -> Int {
        try await write { db in try await db.changes(Self.sql.purgeNonces(seenBefore: time)) }
    }

    public func ping() async throws {
        _ = try await single { db in try await db.scalar(Int.self, Self.sql.ping) }
    }

    // MARK: Threshold releases

    public func calibrationOutcomes(from: Date?, to: Date?, scoredInShadowOnly: Bool) async throws -> [CalibrationOutcome] {
        try await read { db in
            let restricted = Set(try await db.column(String.self, Self.sql.restrictedSubjects))
            var outcomes: [CalibrationOutcome] = []
            for try await (model, site, camera, label, score, attempted, pseudonym, shadowModel, shadowScore, shadowScores)
                in try await db.connection.query(PostgresSQL.query(Self.sql.calibrationOutcomes(from: from, to: to, scoredInShadowOnly: scoredInShadowOnly)), logger: db.logger)
                .decode((String, String, String, String, Double, Double, String, String?, Double?, String?).self) {
                if !restricted.isEmpty, restricted.contains(pseudonym) { continue }
                outcomes.append(CalibrationOutcome(modelVersion: model, site: site, cameraModel: camera, label: label, score: score,
                                                   attemptedAt: Date(timeIntervalSince1970: attempted), subjectPseudonym: pseudonym,
                                                   shadowModelVersion: shadowModel, shadowScore: shadowScore,
                                                   shadowScores: try ShadowScoresColumn.decode(shadowScores)))
            }
            return outcomes
        }
    }

    public func addThresholdRelease(_ release: StoredThresholdRelease) async throws -> Bool {
        try await write { db in try await db.changes(Self.sql.insertThresholdRelease(release)) == 1 }
    }

    public func thresholdReleases() async throws -> [StoredThresholdRelease] {
        try await read { db in try await db.fetchAll(Self.sql.thresholdReleases).map(StoreRows.thresholdRelease) }
    }

    public func thresholdRelease(version: Int) async throws -> StoredThresholdRelease? {
        try await read { db in try await db.fetchOne(Self.sql.thresholdRelease(version: version)).map(StoreRows.thresholdRelease) }
    }

    public func approveThresholdRelease(version: Int, approverToken: String, actor: String) async throws -> StoredThresholdRelease? {
        try await write { db in
            let row = try await db.fetchOne(Self.sql.thresholdRelease(version: version, forApproval: true))
            guard var release = try row.map(StoreRows.thresholdRelease) else { return nil }
            if let change = try ReleaseWorkflow.approve(&release, byToken: approverToken, actor: actor, at: Date(), sql: Self.sql) {
                try await db.apply(change)
            }
            return release
        }
    }

    public func publishThresholdRelease(version: Int, from: Set<ReleaseState>, envelope: [UInt8], at time: Date,
                                        retiring: ReleaseState, actor: String) async throws -> Bool {
        try await write { db in
            // One publication at a time across nodes: exactly one release stays published.
            try await db.execute("SELECT pg_advisory_xact_lock(?)", AdvisoryLock.thresholdPublication)
            let state = try await db.scalar(String.self, Self.sql.thresholdReleaseState(version: version))
            guard let change = try ReleaseWorkflow.publish(version: version, state: state, from: from, envelope: envelope, at: time,
                                                           retiring: retiring, actor: actor, sql: Self.sql) else { return false }
            try await db.apply(change)
            return true
        }
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
    static let modelRollouts = 0x4641_4345_4C05
    static let outcomeMonths = 0x4641_4345_4C06

    static func device(_ deviceID: String, in db: SQLConnection) async throws {
        try await db.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "device:" + deviceID)
    }

    /// Storing outcomes shares it; recording a withdrawal or erasing takes it alone.
    /// A transaction that must hold it alone whatever it asked for (`TransactionMemo`) gets it alone.
    static func consent(exclusive: Bool, in db: SQLConnection) async throws {
        let exclusive = exclusive || db.memo.consentLockExclusive
        try await db.execute(exclusive ? "SELECT pg_advisory_xact_lock(?)" : "SELECT pg_advisory_xact_lock_shared(?)", consent)
        db.memo.consentLockExclusive = exclusive
    }
}

extension PostgresStore: ClusterJobLock {
    public func exclusively<Value: Sendable>(_ job: ClusterJob, wait: Bool,
                                             _ body: @Sendable () async throws -> Value) async throws -> Value? {
        // The lock lives as long as this leased connection: if the node dies, PostgreSQL
        // drops the connection and the lock with it, and another node takes the job over.
        try await client.withConnection { connection in
            let db = SQLConnection(connection: connection, logger: logger)
            let key = "job:" + job.rawValue
            let clock = ContinuousClock()
            let start = clock.now
            while try await db.scalar(Bool.self, "SELECT pg_try_advisory_lock(hashtextextended(?, 0))", key) != true {
                guard wait else { return nil }
                guard clock.now - start < ClusterJobPolicy.longestWait else {
                    throw ClusterJobError.busy(job, waited: ClusterJobPolicy.longestWait)
                }
                try await Task.sleep(for: ClusterJobPolicy.retryInterval)
            }
            do {
                let value = try await body()
                try await db.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", key)
                return value
            } catch {
                try? await db.execute("SELECT pg_advisory_unlock(hashtextextended(?, 0))", key)
                throw error
            }
        }
    }
}
