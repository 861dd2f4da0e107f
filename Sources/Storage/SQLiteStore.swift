import CSQLiteSettings
import Compliance
import FeedbackWire
import Foundation
import GRDB
import GRDBSQLite
import StrictJSON

/// The embedded default store: one SQLite file in WAL mode with `synchronous=FULL`, so a
/// transaction that returned survives a power cut (group commits of uploads sync the log on a
/// thread of their own before they answer, `SQLiteLogSync`). The statements and decisions are shared
/// with the PostgreSQL back end (`StoreSQL`, `StoreRows`, `BatchIntake`…); this type runs them
/// in GRDB's synchronous transactions, whose single writer is all the locking it needs.
///
/// ```swift
/// let store = try SQLiteStore(path: "data/faceloop.sqlite")
/// let result = try await store.storeBatch(incoming)
/// ```
public final class SQLiteStore: FeedbackStore, ClusterJobLock {
    static let sql = StoreSQL(dialect: .sqlite)

    let pool: DatabasePool
    private let jobs = LocalJobLock()
    /// Uploads arriving together share one durable commit (`SQLiteGroupCommit`).
    let intake: SQLiteGroupCommit
    /// Windows of live statistics read before, kept up to date with this process's writes.
    let statisticsWindows = SQLiteStatisticsWindows()
    /// Copies the log into the file after commits, off the writer (`SQLiteCheckpointer`).
    let checkpointer: SQLiteCheckpointer

    /// Whether the writer's transactions run at a raised priority (`WriterPriority`); the
    /// server says at its start when they cannot.
    public static var raisesWriterPriority: Bool { WriterPriority.isAvailable }

    /// SQLite counts the bytes it has allocated under one mutex for the whole process, taken on
    /// every allocation: about a tenth of the writer's time, contended by the checkpointer, for
    /// figures nothing reads. It can be turned off only before the process's first connection
    /// opens; later, SQLite refuses and keeps counting, which costs only speed.
    private static let memoryStatisticsOff: Void = { _ = faceloop_sqlite3_disable_memory_statistics() }()

    /// Dirty pages the writer keeps before it writes any to the log: a whole group commit's
    /// with room to spare (16 MiB of 4 KiB pages).
    static let writerSpillPages = 4_096

    public convenience init(path: String) throws {
        try self.init(path: path, syncingLog: nil)
    }

    /// `syncingLog` stands in for the fsync of group commits' log (`SQLiteLogSync`) in tests.
    init(path: String, syncingLog: (@Sendable () throws -> Void)?) throws {
        _ = Self.memoryStatisticsOff
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // Deleted rows are overwritten with zeros, so an erased outcome does not live on in
            // the file's free pages or in the free space inside a page.
            try db.execute(sql: "PRAGMA secure_delete = ON")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        // WAL with FULL syncs the log on every commit: an acknowledged batch is on disk. Set on
        // the writer, the one connection that commits, after the pool is open: DatabasePool
        // turns WAL on after `prepareDatabase` and sets `synchronous = NORMAL` as it does so.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // A group commit of 64 batches dirties about 6 MiB of pages. SQLite's default 2 MiB
            // cache spilled them to the log before the commit and wrote them again in it, and
            // read index pages back from the file: about a tenth of the writer's time. Above the
            // cache's size pages are kept only while a transaction holds them dirty, and given
            // back after its commit, so memory does not grow with the store; a larger
            // transaction (an erasure, a migration) still spills past `writerSpillPages`.
            try db.execute(sql: "PRAGMA cache_spill = \(Self.writerSpillPages)")
        }
        try SQLiteSchema.migrator.migrate(pool)
        // The log is copied into the file by `checkpointer`, not by the writer, which decides
        // the rate of intake; the writer checkpoints only logs that grow past the backstop.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(SQLiteCheckpointer.writerBackstopPages)")
        }
        let checkpointer = try SQLiteCheckpointer(path: path)
        self.checkpointer = checkpointer
        let consentMemo = SQLiteConsentMemo()
        pool.add(transactionObserver: consentMemo, extent: .databaseLifetime)
        let windows = statisticsWindows
        pool.add(transactionObserver: windows, extent: .databaseLifetime)
        let logSync = try pool.writeWithoutTransaction { db in
            guard let file = sqlite3_db_filename(db.sqliteConnection, "main"), let log = sqlite3_filename_wal(file) else {
                throw DatabaseError(resultCode: .SQLITE_CANTOPEN, message: "SQLite names no file for \(path)")
            }
            return SQLiteLogSync(databasePath: String(cString: file), logPath: String(cString: log), sync: syncingLog)
        }
        intake = SQLiteGroupCommit(pool: pool, logSync: logSync, store: { prepared, statistics, db in
            try Self.storeBatch(prepared, consentMemo: consentMemo, windows: windows, statistics: &statistics, in: db)
        }, flush: { statistics, db in try Self.flush(statistics, in: db, windows: windows) }, committed: { checkpointer.nudge() })
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

    /// Copies the write-ahead log into the database file and cuts the log to zero bytes. Run
    /// after a commit that erased something: `secure_delete` zeroes the erased rows in the
    /// pages written from then on, but the log still holds those pages as they were before.
    /// The barrier keeps this process's readers out meanwhile; readers in other processes are
    /// waited for up to the busy timeout; the background checkpoints wait.
    func truncateLog() async throws {
        try await checkpointer.paused {
            try await pool.barrierWriteWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        }
    }

    func commit(_ change: StoreChange) async throws {
        try await pool.write { db in try db.apply(change) }
    }

    // MARK: Devices

    public func addEnrollmentToken(_ token: StoredEnrollmentToken) async throws {
        try await pool.write { db in
            var token = token
            token.sites = try DeviceSiteBinding.checked(token.sites, registered: db.column(String.self, Self.sql.registeredSites(token.sites)))
            try db.apply(StoreChange([Self.sql.insertEnrollmentToken(token)]))
        }
    }

    public func previewEnrollment(sha256: String, deviceID: String, signingKey: Data, now: Date) async throws -> EnrollmentRedemption? {
        try await pool.read { db in
            try Self.redemptionRefusal(sha256: sha256, deviceID: deviceID, signingKey: signingKey, now: now, in: db)
        }
    }

    private static func redemptionRefusal(sha256: String, deviceID: String, signingKey: Data, now: Date,
                                          in db: Database) throws -> EnrollmentRedemption? {
        try EnrollmentCheck.refusal(token: db.fetchOne(sql.enrollmentToken(sha256: sha256, forRedemption: false)).map(EnrollmentCheck.Token.init),
                                    deviceID: deviceID, signingKey: signingKey, now: now,
                                    activeDevice: db.fetchOne(sql.activeDeviceKeys(deviceID: deviceID)),
                                    deviceExists: db.exists(sql.deviceExists(deviceID: deviceID)))
    }

    public func redeemEnrollmentToken(sha256: String, device: NewDevice, now: Date) async throws -> EnrollmentRedemption {
        try await pool.write { db in
            if let refusal = try Self.redemptionRefusal(sha256: sha256, deviceID: device.deviceID, signingKey: device.signingKey,
                                                        now: now, in: db) {
                return refusal
            }
            let sites = try db.scalar(String.self, Self.sql.enrollmentTokenSites(sha256: sha256))
            try db.apply(StoreChange.enroll(device, token: sha256, sites: sites, at: now, sql: Self.sql))
            return .enrolled
        }
    }

    public func device(id: String) async throws -> DeviceRecord? {
        try await pool.read { db in try db.fetchOne(Self.sql.device(id: id)).map(StoreRows.deviceRecord) }
    }

    public func device(withCertificateFingerprint fingerprint: String) async throws -> DeviceRecord? {
        try await pool.read { db in try db.fetchOne(Self.sql.device(certificateFingerprint: fingerprint)).map(StoreRows.deviceRecord) }
    }

    public func deviceSummaries() async throws -> [DeviceSummary] {
        try await pool.read { db in
            let refused = try StoreRows.refusedEventCounts(db.fetchAll(Self.sql.refusedEventCounts))
            let sites = try StoreRows.deviceSites(db.fetchAll(Self.sql.allDeviceSites))
            return try db.fetchAll(Self.sql.deviceSummaries).map { try StoreRows.deviceSummary($0, refusedEvents: refused, sites: sites) }
        }
    }

    public func moveDevice(id: String, to sites: [String], at time: Date, actor: String) async throws -> [String]? {
        try await pool.write { db in
            guard try db.exists(Self.sql.deviceExists(deviceID: id)) else { return nil }
            let sites = try DeviceSiteBinding.checked(sites, registered: db.column(String.self, Self.sql.registeredSites(sites)))
            let before = try db.column(String.self, Self.sql.deviceSites(deviceID: id))
            try db.apply(DeviceSiteBinding.move(deviceID: id, from: before, to: sites, actor: actor, at: time, sql: Self.sql))
            return before
        }
    }

    public func revokeDevice(id: String, at time: Date, actor: String) async throws -> Bool {
        try await pool.write { db in
            if try db.changes(Self.sql.revokeDevice(id: id, at: time)) > 0 {
                try db.appendAudit([PendingAuditEntry(.deviceRevoked, actor: actor, details: .object([("device_id", .string(id))]), at: time)])
            }
            return try db.exists(Self.sql.deviceExists(deviceID: id))
        }
    }

    // MARK: API tokens

    public func addAPIToken(sha256: String, role: String, label: String, at time: Date, actor: String) async throws {
        try await commit(StoreChange.addAPIToken(sha256: sha256, role: role, label: label, at: time, actor: actor, sql: Self.sql))
    }

    public func apiTokens() async throws -> [APITokenSummary] {
        try await pool.read { db in try db.fetchAll(Self.sql.apiTokens).map(StoreRows.apiTokenSummary) }
    }

    public func revokeAPIToken(id: String, at time: Date, actor: String) async throws -> Bool {
        let id = id.lowercased()
        guard id.isLowercaseHex(count: 16) else { return false }
        return try await pool.write { db in
            guard let token = try db.fetchOne(Self.sql.activeAPIToken(id: id)) else { return false }
            try db.apply(StoreChange.revokeAPIToken(id: id, role: token.text("role"), label: token.text("label"), at: time,
                                                    actor: actor, sql: Self.sql))
            return true
        }
    }

    public func apiToken(sha256: String) async throws -> APITokenRecord? {
        try await pool.read { db in
            try db.fetchOne(Self.sql.activeAPIToken(sha256: sha256))
                .map { APITokenRecord(role: try $0.text("role"), label: try $0.text("label"), sha256: sha256) }
        }
    }

    // MARK: Outcomes

    public func storeBatch(_ incoming: IncomingBatch) async throws -> BatchStoreResult {
        let result = try await intake.submit(try PreparedBatch(incoming, sql: Self.sql))
        if case .stored = result, BatchIntake.withdraws(incoming.batch) {
            // A withdrawal in the batch erased earlier outcomes, whose old pages are still in the log.
            try await truncateLog()
            let stamp = Self.sql.stampWithdrawalsBlocked(batchID: incoming.batchID.uuidString.lowercased(), at: Date())
            try await pool.write { db in try db.execute(stamp) }
        }
        return result
    }

    private static func storeBatch(_ prepared: PreparedBatch, consentMemo: SQLiteConsentMemo, windows: SQLiteStatisticsWindows,
                                   statistics: inout StatisticsDelta, in db: Database) throws -> BatchStoreResult {
        let incoming = prepared.incoming
        let batch = incoming.batch
        guard try db.changes(sql.insertNonce(deviceID: batch.deviceID, nonce: incoming.nonce, seenAt: incoming.receivedAt)) == 1 else {
            throw StoreAbort.batch(.nonceReplayed)
        }
        if let stored = try db.fetchOne(sql.batch(deviceID: batch.deviceID, sequence: batch.sequence)) {
            return try BatchIntake.resend(incoming, stored: stored)
        }
        let batchID = prepared.batchID
        // Taken before the batch's consent events are recorded: recording one drops the memo
        // kept for the next batch (`SQLiteConsentMemo`).
        var memo = try consentMemo.take(in: db)
        let sites = batch.sites.sorted()
        let keyVersions = try memo.keyVersions[sites] ?? KeyVersions(rows: db.fetchAll(sql.currentKeyVersions(sites: sites)))
        memo.keyVersions[sites] = keyVersions
        // A kiosk's first batch carries a grant for each of its subjects, nearly all citing one
        // text: its hashes are read once per batch (no batch registers a text).
        var registeredHashes: [ConsentTextVersion: [String]] = [:]
        // Whether each subject was restricted before the batch, read once for all its events
        // rather than once per event; a subject an earlier event of the batch named is read
        // again, as that event may have restricted it or lifted a restriction.
        let calibrationSubjects = Set(batch.consentEvents.filter { $0.purpose == Purpose.outcomeStorage.rawValue }.map(\.pseudonym))
        let restrictedBefore = calibrationSubjects.isEmpty ? []
            : Set(try db.column(String.self, sql.restrictedSubjects(among: calibrationSubjects.sorted())))
        var named: Set<String> = []
        var pendingAudit: [PendingAuditEntry] = []
        let consentEventRefusals = try zip(batch.consentEvents, prepared.consentIntakes).compactMap { event, madeBefore in
            if let refusal = keyVersions.refusal(eventID: event.eventID, site: event.site, version: event.keyVersion) { return refusal }
            let text = ConsentTextVersion(purpose: event.purpose, version: event.textVersion)
            let hashes = try registeredHashes[text] ?? db.column(String.self, sql.consentTextHashes(purpose: text.purpose, version: text.version))
            registeredHashes[text] = hashes
            let known = named.insert(event.pseudonym).inserted ? restrictedBefore.contains(event.pseudonym) : nil
            // Made before the wait as it is made here, but with the event's text registered:
            // taken when the registered texts do not refuse it either.
            let intake = try (StoreAuditDetails.consentRefusal(event, registeredHashes: hashes) == nil ? madeBefore : nil)
                ?? ConsentEventIntake(event, deviceID: batch.deviceID, batchID: batchID, receivedAt: incoming.receivedAt,
                                      registeredHashes: hashes, now: Date(), sql: sql)
            return try record(intake, windows: windows, restrictedBefore: known, consent: &memo.consent, pendingAudit: &pendingAudit, in: db)
        }
        try db.appendAudit(pendingAudit)
        // What earlier batches read still holds (`SQLiteConsentMemo` says when it does not):
        // `record` added the events put in force to the subjects' records, but a limit or its
        // lift may have changed whether a subject named is restricted, which is read again.
        for subject in named { memo.restricted[subject] = nil }
        try db.prepare(&memo.consent, for: batch.outcomes.map(\.subject.pseudonym), purpose: .outcomeStorage)
        let shadowScoreSubjects = BatchIntake.shadowScoreSubjects(batch)
        if !shadowScoreSubjects.isEmpty { try db.prepare(&memo.consent, for: shadowScoreSubjects, purpose: .modelImprovement) }
        // An outcome id stored already is found by the outcomes' key as its row goes in
        // (`applyBatch`), not by a query first that repeated each lookup the inserts make.
        let intake = try BatchIntake(incoming, consentEventRefusals: consentEventRefusals, consent: memo.consent, storedEventIDs: [],
                                     keyVersions: keyVersions, receiptIfAllStored: prepared.receiptIfAllStored)
        try db.applyBatch(intake.change(incoming, batchID: batchID, sql: sql, storedBody: prepared.storedBody,
                                        allOutcomeStatements: prepared.outcomeStatements))
        try countStored(intake, prepared: prepared, restricted: &memo.restricted, into: &statistics, in: db)
        consentMemo.keep(memo)
        return .stored(receipt: intake.receipt)
    }

    private struct ConsentTextVersion: Hashable {
        var purpose: String
        var version: String
    }

    public func purgeNonces(seenBefore time: Date) async throws -> Int {
        try await pool.write { db in try db.changes(Self.sql.purgeNonces(seenBefore: time)) }
    }

    public func ping() async throws {
        _ = try await pool.read { db in try db.scalar(Int.self, Self.sql.ping) }
    }

    // MARK: Threshold releases

    public func calibrationOutcomes(from: Date?, to: Date?, scoredInShadowOnly: Bool) async throws -> [CalibrationOutcome] {
        try await pool.read { db in
            let restricted = Set(try db.column(String.self, Self.sql.restrictedSubjects))
            let query = Self.sql.calibrationOutcomes(from: from, to: to, scoredInShadowOnly: scoredInShadowOnly)
            let rows = try Row.fetchCursor(db, sql: query.sql, arguments: query.sqliteArguments)
            var outcomes: [CalibrationOutcome] = []
            while let row = try rows.next() {
                let pseudonym = try row.decode(String.self, atIndex: 6)
                if !restricted.isEmpty, restricted.contains(pseudonym) { continue }
                outcomes.append(CalibrationOutcome(modelVersion: try row.decode(atIndex: 0), site: try row.decode(atIndex: 1),
                                                   cameraModel: try row.decode(atIndex: 2), label: try row.decode(atIndex: 3),
                                                   score: try row.decode(atIndex: 4),
                                                   attemptedAt: Date(timeIntervalSince1970: try row.decode(atIndex: 5)),
                                                   subjectPseudonym: pseudonym, shadowModelVersion: try row.decode(atIndex: 7),
                                                   shadowScore: try row.decode(atIndex: 8),
                                                   shadowScores: try ShadowScoresColumn.decode(try row.decode(atIndex: 9))))
            }
            return outcomes
        }
    }

    public func addThresholdRelease(_ release: StoredThresholdRelease) async throws -> Bool {
        try await pool.write { db in try db.changes(Self.sql.insertThresholdRelease(release)) == 1 }
    }

    public func thresholdReleases() async throws -> [StoredThresholdRelease] {
        try await pool.read { db in try db.fetchAll(Self.sql.thresholdReleases).map(StoreRows.thresholdRelease) }
    }

    public func thresholdRelease(version: Int) async throws -> StoredThresholdRelease? {
        try await pool.read { db in try db.fetchOne(Self.sql.thresholdRelease(version: version)).map(StoreRows.thresholdRelease) }
    }

    public func approveThresholdRelease(version: Int, approverToken: String, actor: String) async throws -> StoredThresholdRelease? {
        try await pool.write { db in
            guard var release = try db.fetchOne(Self.sql.thresholdRelease(version: version, forApproval: true)).map(StoreRows.thresholdRelease)
            else { return nil }
            if let change = try ReleaseWorkflow.approve(&release, byToken: approverToken, actor: actor, at: Date(), sql: Self.sql) {
                try db.apply(change)
            }
            return release
        }
    }

    public func publishThresholdRelease(version: Int, from: Set<ReleaseState>, envelope: [UInt8], at time: Date,
                                        retiring: ReleaseState, actor: String) async throws -> Bool {
        try await pool.write { db in
            guard let change = try ReleaseWorkflow.publish(version: version, state: db.scalar(String.self, Self.sql.thresholdReleaseState(version: version)),
                                                           from: from, envelope: envelope, at: time, retiring: retiring, actor: actor,
                                                           sql: Self.sql) else { return false }
            try db.apply(change)
            return true
        }
    }
}
