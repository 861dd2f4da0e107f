import AuditLog
import Compliance
import Crypto
import FeedbackWire
import Foundation
import GRDB
import HTTPSignatures
import PostgresTestSupport
@testable import Storage
import TestSupport
import Testing

/// One suite for every back end: each test runs once per store.
enum StoreBackEnd: String, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// SQLite always; PostgreSQL in CI and wherever `scripts/test.sh` started a cluster.
    static var available: [StoreBackEnd] { PostgresTestDatabase.isAvailable ? allCases : [.sqlite] }

    /// A fresh, empty store, and how to open it again (a restart of the server).
    func open() async throws -> (any FeedbackStore, reopen: @Sendable () async throws -> any FeedbackStore, cleanup: () -> Void) {
        switch self {
        case .sqlite:
            let directory = try temporaryDirectory("store")
            let path = (directory as NSString).appendingPathComponent("store.sqlite")
            return (try SQLiteStore(path: path), { try SQLiteStore(path: path) },
                    { try? FileManager.default.removeItem(atPath: directory) })
        case .postgres:
            let url = try await PostgresTestDatabase.create()
            let store = try await PostgresStore(url: url, maximumConnections: 4)
            let reopened = OpenedStores()
            return (store, {
                let again = try await PostgresStore(url: url, maximumConnections: 4)
                reopened.add(again)
                return again
            }, {
                Task {
                    await store.shutdown()
                    for again in reopened.all { await again.shutdown() }
                }
            })
        }
    }

    func open() async throws -> (any FeedbackStore, cleanup: () -> Void) {
        let (store, _, cleanup) = try await open()
        return (store, cleanup)
    }
}

/// Stores a test opened again, to close with the first.
final class OpenedStores: @unchecked Sendable {
    private let lock = NSLock()
    private var stores: [PostgresStore] = []

    func add(_ store: PostgresStore) { lock.withLock { stores.append(store) } }
    var all: [PostgresStore] { lock.withLock { stores } }
}

@Suite("FeedbackStore contract")
struct FeedbackStoreTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    static func device(_ id: String) -> NewDevice {
        NewDevice(deviceID: id, signingKey: Data(repeating: 1, count: 32), certificateDER: Data([0x30, 0x00]),
                  certificateFingerprint: "fp-\(id)", certificateSerial: "01", certificateNotAfter: now.addingTimeInterval(86_400))
    }

    static let subject = String(repeating: "0", count: 64)
    static let consentText = "I agree that my match outcomes are used to calibrate this kiosk."
    static var consentTextSHA256: String { SHA256.hash(data: Data(consentText.utf8)).map { String(format: "%02x", $0) }.joined() }

    /// Enrolls the device for `sites` (registered here under `default`; none by default: the
    /// store itself checks no batch against them) and registers the consent text that the
    /// batches' consent events cite.
    static func enrolled(_ store: any FeedbackStore, _ id: String, sites: [String] = []) async throws {
        let compliance = try #require(store as? any ComplianceStore)
        for site in sites {
            #expect(try await compliance.upsertSite(SiteRecord(site: site, jurisdiction: JurisdictionRecord.defaultName, publicPlace: false),
                                                    actor: "test", at: now))
        }
        try await store.addEnrollmentToken(.init(sha256: "t-\(id)", deviceID: id, createdAt: now, expiresAt: now.addingTimeInterval(60),
                                                 sites: sites))
        #expect(try await store.redeemEnrollmentToken(sha256: "t-\(id)", device: device(id), now: now) == .enrolled)
        _ = try await compliance.addConsentText(ConsentText(purpose: .thresholdCalibration, version: "v1", language: "en",
                                                            sha256: consentTextSHA256, effectiveAt: now.addingTimeInterval(-86_400),
                                                            material: false), actor: "test", at: now)
    }

    static func consent(_ kind: ConsentEvent.Kind, pseudonym: String = subject, at time: Date = now.addingTimeInterval(-3600),
                        purpose: Purpose = .thresholdCalibration) -> ConsentEvent {
        ConsentEvent(eventID: UUID(), occurredAt: time, pseudonym: pseudonym, purpose: purpose.rawValue, kind: kind, method: .touch,
                     site: "s1", textVersion: "v1", textSHA256: consentTextSHA256)
    }

    /// A batch whose subject consented an hour before, unless `consentEvents` says otherwise.
    static func incoming(_ device: String, sequence: Int64, outcomes: [MatchOutcome], nonce: String = UUID().uuidString,
                         consentEvents: [ConsentEvent]? = nil, receivedAt: Date = now) -> IncomingBatch {
        let batch = OutcomeBatch(deviceID: device, sequence: sequence, createdAt: now, outcomes: outcomes,
                                 consentEvents: consentEvents ?? [consent(.grant)])
        let body = batch.encoded()
        return IncomingBatch(batch: batch, body: body, contentDigest: ContentDigest.sha256Field(for: body), signatureInput: "sig1=()",
                             signature: "sig1=:AA==:", nonce: nonce, receivedAt: receivedAt)
    }

    static func outcome(label: MatchOutcome.Label = .genuine, site: String = "s1") -> MatchOutcome {
        SampleBatch.outcome(label: label, score: 0.5, attemptedAt: now, modelVersion: "m1", thresholdVersion: "t1",
                            cohort: .init(site: site, cameraModel: "c1", tags: ["a"]), subject: .init(pseudonym: subject, consentRef: "c"))
    }

    @Test("enrollment tokens are single-use, bound to their device id and expire", arguments: StoreBackEnd.available)
    func enrollmentTokens(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await store.addEnrollmentToken(.init(sha256: "t1", deviceID: "kiosk-1", createdAt: Self.now, expiresAt: Self.now.addingTimeInterval(60)))
        #expect(try await store.redeemEnrollmentToken(sha256: "t1", device: Self.device("kiosk-2"), now: Self.now) == .invalidToken)
        #expect(try await store.redeemEnrollmentToken(sha256: "t1", device: Self.device("kiosk-1"), now: Self.now.addingTimeInterval(61)) == .invalidToken)
        #expect(try await store.redeemEnrollmentToken(sha256: "t1", device: Self.device("kiosk-1"), now: Self.now) == .enrolled)
        // A retry with the same signing key (the answer was lost) gets the original certificate…
        #expect(try await store.redeemEnrollmentToken(sha256: "t1", device: Self.device("kiosk-1"), now: Self.now.addingTimeInterval(600))
                == .alreadyEnrolled(certificateDER: Self.device("kiosk-1").certificateDER))
        // …anyone else presenting the used token gets nothing.
        var thief = Self.device("kiosk-1")
        thief.signingKey = Data(repeating: 9, count: 32)
        #expect(try await store.redeemEnrollmentToken(sha256: "t1", device: thief, now: Self.now) == .invalidToken)
        #expect(try await store.redeemEnrollmentToken(sha256: "nope", device: Self.device("kiosk-1"), now: Self.now) == .invalidToken)
        try await store.addEnrollmentToken(.init(sha256: "t2", deviceID: "kiosk-1", createdAt: Self.now, expiresAt: Self.now.addingTimeInterval(60)))
        #expect(try await store.redeemEnrollmentToken(sha256: "t2", device: Self.device("kiosk-1"), now: Self.now) == .deviceExists)
        #expect(try await store.device(id: "kiosk-1")?.status == .active)
        #expect(try await store.revokeDevice(id: "kiosk-1", at: Self.now, actor: "test"))
        #expect(try await store.device(id: "kiosk-1")?.status == .revoked)
        #expect(try await store.revokeDevice(id: "kiosk-9", at: Self.now, actor: "test") == false)
    }
    @Test("an id stored before refuses a long batch wherever it stands, and names that id", arguments: StoreBackEnd.available)
    func duplicateInLongBatch(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Self.enrolled(store, "kiosk-1")
        let stored = (0..<3).map { _ in Self.outcome() }
        guard case .stored = try await store.storeBatch(Self.incoming("kiosk-1", sequence: 1, outcomes: stored)) else {
            Issue.record("not stored"); return
        }
        // SQLite inserts a long batch in runs of rows, then the last few one by one: the stored
        // id first in a run, inside one, in the second run and among the single rows.
        let size = 2 * StoreSQL.sqliteRowsPerStatement + 5
        var refused: [MatchOutcome] = []
        for (sequence, position) in zip(Int64(2)..., [0, 7, StoreSQL.sqliteRowsPerStatement + 3, size - 1]) {
            var outcomes = (0..<size).map { _ in Self.outcome(site: "s2") }
            outcomes[position] = stored[Int(sequence) % stored.count]
            #expect(try await store.storeBatch(Self.incoming("kiosk-1", sequence: sequence, outcomes: outcomes))
                    == .duplicateEvent(outcomes[position].eventID), "at \(position)")
            refused += outcomes.filter { outcome in !stored.contains { $0.eventID == outcome.eventID } }
        }
        let stats = try await store.outcomeStats()
        #expect(stats.totalEvents == 3 && stats.totalBatches == 1)
        // The refused batches' other outcomes left no row behind: their ids go in now.
        guard case .stored = try await store.storeBatch(Self.incoming("kiosk-1", sequence: 2, outcomes: refused)) else {
            Issue.record("the refused batches' outcomes were not stored"); return
        }
        #expect(try await store.outcomeStats().totalEvents == 3 + refused.count)
    }


    @Test("a batch is stored whole, once; retries get the original receipt; conflicts change nothing", arguments: StoreBackEnd.available)
    func batches(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Self.enrolled(store, "kiosk-1")
        let shared = Self.outcome()
        let first = Self.incoming("kiosk-1", sequence: 1, outcomes: [shared, Self.outcome(label: .impostor), Self.outcome(label: .unknown)])
        guard case let .stored(receipt) = try await store.storeBatch(first) else { Issue.record("not stored"); return }

        var retry = first
        retry.nonce = "another"
        retry.batchID = UUID()
        #expect(try await store.storeBatch(retry) == .alreadyStored(receipt: receipt))

        #expect(try await store.storeBatch(Self.incoming("kiosk-1", sequence: 1, outcomes: [Self.outcome()])) == .sequenceConflict)
        // Reusing an event id in a new batch refuses the whole batch: the fresh outcome is not kept.
        let fresh = Self.outcome(site: "s2")
        #expect(try await store.storeBatch(Self.incoming("kiosk-1", sequence: 2, outcomes: [fresh, shared])) == .duplicateEvent(shared.eventID))
        #expect(try await store.storeBatch(Self.incoming("kiosk-1", sequence: 3, outcomes: [Self.outcome()], nonce: first.nonce)) == .nonceReplayed)

        let stats = try await store.outcomeStats()
        #expect(stats.totalEvents == 3)
        #expect(stats.totalBatches == 1)
        #expect(stats.byLabel == .init(genuine: 1, impostor: 1, unknown: 1))
        #expect(stats.byCohort == [.init(site: "s1", cameraModel: "c1", events: 3)])
        // The refused batches left no nonce behind either: sequence 2's nonce can still be used.
        #expect(try await store.storeBatch(Self.incoming("kiosk-1", sequence: 2, outcomes: [fresh])) != .nonceReplayed)
        let summaries = try await store.deviceSummaries()
        #expect(summaries.first?.batches == 2 && summaries.first?.events == 4)
    }

    @Test("a kiosk's summary keeps the backlog of the batch it sealed last and counts refused events by reason",
          arguments: StoreBackEnd.available)
    func backlogAndRefusals(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Self.enrolled(store, "kiosk-1")
        func batch(_ sequence: Int64, sealedAt: Date, backlog: Int?, outcomes: [MatchOutcome]) -> IncomingBatch {
            var incoming = Self.incoming("kiosk-1", sequence: sequence, outcomes: outcomes)
            incoming.batch.createdAt = sealedAt
            incoming.batch.queueBacklog = backlog
            return incoming
        }
        var unconsented = Self.outcome()
        unconsented.subject.pseudonym = String(repeating: "f", count: 64)
        let second = batch(2, sealedAt: Self.now, backlog: 7, outcomes: [Self.outcome(), unconsented])
        guard case .stored = try await store.storeBatch(second) else { Issue.record("not stored"); return }
        // Sealed before the one above but delivered after it (a retry): its figure is older.
        _ = try await store.storeBatch(batch(1, sealedAt: Self.now.addingTimeInterval(-60), backlog: 99, outcomes: [unconsented]))
        var retry = second
        retry.nonce = "retry"
        #expect(try await store.storeBatch(retry) != .nonceReplayed)
        // A batch without the field leaves the last figure alone.
        _ = try await store.storeBatch(batch(3, sealedAt: Self.now.addingTimeInterval(60), backlog: nil, outcomes: [Self.outcome()]))

        let summary = try #require(try await store.deviceSummaries().first)
        #expect(summary.reportedBacklog == 7)
        #expect(summary.backlogReportedAt == Self.now)
        #expect(summary.refusedEvents == ["no-consent": 2], "the retry counted nothing twice")
    }

    @Test("old nonces are purged", arguments: StoreBackEnd.available)
    func noncePurge(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Self.enrolled(store, "kiosk-1")
        _ = try await store.storeBatch(Self.incoming("kiosk-1", sequence: 1, outcomes: [Self.outcome()]))
        #expect(try await store.purgeNonces(seenBefore: Self.now) == 0)
        #expect(try await store.purgeNonces(seenBefore: Self.now.addingTimeInterval(1)) == 1)
    }

    @Test("API tokens resolve to their role", arguments: StoreBackEnd.available)
    func apiTokens(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let hash = String(repeating: "ab", count: 32)
        try await store.addAPIToken(sha256: hash, role: "admin", label: "first", at: Self.now, actor: "test")
        #expect(try await store.apiToken(sha256: hash) == APITokenRecord(role: "admin", label: "first", sha256: hash))
        #expect(try await store.apiToken(sha256: "h2") == nil)
        #expect(try await store.apiTokens().map(\.id) == [String(hash.prefix(16))])
        #expect(try await store.revokeAPIToken(id: String(hash.prefix(16)), at: Self.now, actor: "test"))
        #expect(try await store.apiToken(sha256: hash) == nil, "a revoked token opens nothing")
        #expect(try await store.revokeAPIToken(id: String(hash.prefix(16)), at: Self.now, actor: "test") == false)
    }

    @Test("the refusal counts are rebuilt from the stored receipts when a store from before them is migrated",
          arguments: StoreBackEnd.available)
    func refusalBackfill(backEnd: StoreBackEnd) async throws {
        var unconsented = Self.outcome()
        unconsented.subject.pseudonym = String(repeating: "f", count: 64)
        let batch = Self.incoming("kiosk-1", sequence: 1, outcomes: [Self.outcome(), unconsented, unconsented])
        switch backEnd {
        case .sqlite:
            let directory = try temporaryDirectory("store")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = (directory as NSString).appendingPathComponent("store.sqlite")
            do {
                let store = try SQLiteStore(path: path)
                try await Self.enrolled(store, "kiosk-1")
                _ = try await store.storeBatch(batch)
                // Back to the schema of before the migration, with the receipts as they were written.
                try await store.pool.write { db in
                    try db.execute(sql: """
                        DROP TABLE refused_event_counts;
                        ALTER TABLE devices DROP COLUMN reported_backlog;
                        ALTER TABLE devices DROP COLUMN backlog_reported_at;
                        DELETE FROM grdb_migrations WHERE identifier = 'v5-kiosk-backlog-and-refusals';
                        """)
                }
            }
            let migrated = try SQLiteStore(path: path)
            #expect(try await migrated.deviceSummaries().first?.refusedEvents == ["no-consent": 2])
        case .postgres:
            let url = try await PostgresTestDatabase.create()
            let store = try await PostgresStore(url: url, maximumConnections: 2)
            try await Self.enrolled(store, "kiosk-1")
            _ = try await store.storeBatch(batch)
            await store.shutdown()
            try await PostgresTestDatabase.execute([
                "DROP TABLE refused_event_counts", "ALTER TABLE devices DROP COLUMN reported_backlog",
                "ALTER TABLE devices DROP COLUMN backlog_reported_at",
                "DELETE FROM schema_migrations WHERE name = 'v2-kiosk-backlog-and-refusals'",
            ], on: url)
            let migrated = try await PostgresStore(url: url, maximumConnections: 2)
            #expect(try await migrated.deviceSummaries().first?.refusedEvents == ["no-consent": 2])
            await migrated.shutdown()
        }
    }

    @Test("two nodes storing the same batches at once store each exactly once", arguments: StoreBackEnd.available)
    func concurrentNodes(backEnd: StoreBackEnd) async throws {
        let (first, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let second = try await reopen()
        try await Self.enrolled(first, "kiosk-1")
        let batches = (1...30).map { Self.incoming("kiosk-1", sequence: Int64($0), outcomes: (0..<20).map { _ in Self.outcome() }) }
        // Every batch is sent to both nodes at once, as a kiosk retrying through a load balancer would.
        let results = try await withThrowingTaskGroup(of: BatchStoreResult.self) { group in
            for batch in batches {
                for (node, store) in [first, second].enumerated() {
                    var attempt = batch
                    attempt.nonce = "\(batch.nonce)-\(node)"
                    attempt.batchID = UUID()
                    group.addTask { try await store.storeBatch(attempt) }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { if case .stored = $0 { true } else { false } }.count == 30)
        #expect(results.filter { if case .alreadyStored = $0 { true } else { false } }.count == 30)
        let stats = try await second.outcomeStats()
        #expect(stats.totalEvents == 600)
        #expect(stats.totalBatches == 30)
        if let sqlite = first as? SQLiteStore { #expect(try await sqlite.integrityCheck() == "ok") }
    }

    @Test("a cluster job runs on one node at a time, and a node that dies gives it up", arguments: StoreBackEnd.available)
    func clusterJobs(backEnd: StoreBackEnd) async throws {
        let (first, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let node1 = try #require(first as? any ClusterJobLock)
        // With SQLite there is one node per file: the lock is the process's own.
        let node2 = backEnd == .sqlite ? node1 : try #require(try await reopen() as? any ClusterJobLock)
        let started = AsyncStream<Void>.makeStream()
        let finish = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await node1.exclusively(.thresholdComputation, wait: false) {
                started.continuation.yield()
                for await _ in finish.stream { break }
                return 1
            }
        }
        for await _ in started.stream { break }
        #expect(try await node2.exclusively(.thresholdComputation, wait: false) { 2 } == nil, "the job is taken")
        #expect(try await node2.exclusively(.retentionSweep, wait: false) { 3 } == 3, "other jobs are free")
        finish.continuation.yield()
        #expect(try await holder.value == 1)
        #expect(try await node2.exclusively(.thresholdComputation, wait: false) { 4 } == 4, "released after the job")

        if case .postgres = backEnd, let dying = first as? PostgresStore {
            let taken = AsyncStream<Void>.makeStream()
            let orphan = Task {
                try await dying.exclusively(.roundAggregation, wait: false) {
                    taken.continuation.yield()
                    try await Task.sleep(for: .seconds(3600))
                    return 0
                }
            }
            for await _ in taken.stream { break }
            #expect(try await node2.exclusively(.roundAggregation, wait: false) { 5 } == nil)
            // The node's connections close as a killed process's would: the database drops its lock.
            await dying.shutdown()
            orphan.cancel()
            #expect(try await node2.exclusively(.roundAggregation, wait: true) { 6 } == 6)
        }
    }

    @Test("the audit log stays one gap-free sequence when two nodes append at once", arguments: StoreBackEnd.available)
    func auditAcrossNodes(backEnd: StoreBackEnd) async throws {
        let (first, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let nodes = [try #require(first as? any ComplianceStore), try #require(try await reopen() as? any ComplianceStore)]
        let before = try await nodes[0].auditTreeSize()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    try await nodes[index % 2].appendAudit(kind: "role_granted", actor: "node-\(index % 2)",
                                                          details: .object([("n", .number(Double(index)))]), at: Self.now)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await nodes[1].auditTreeSize() == before + 40)
        let entries = try await nodes[0].auditEntries(from: 0, to: before + 40)
        #expect(try entries.map { try AuditEntry(entryBytes: $0).index } == Array(0..<(before + 40)))
    }
}

@Suite("PostgreSQL connection settings")
struct PostgresURLTests {
    @Test("a malformed URL is refused before any connection, naming what is wrong",
          arguments: [("mysql://u@h/db", "expected postgres://"), ("postgres://h:5432/db", "no user name"),
                      ("postgres://u@h:5432/", "no database name"),
                      ("postgres://u@h/db?sslmode=prefer", "sslmode prefer would fall back to an unencrypted connection"),
                      ("postgres://u@h/db?sslmode=allow", "sslmode allow would fall back"), ("postgres://u@h/db?sslmode=on", "sslmode on is unknown"),
                      ("postgres://u@h/db?sslmode=disable&sslrootcert=/etc/ca.pem", "sslrootcert is given but sslmode=disable"),
                      ("postgres://u@h/db?sslmode=require&sslrootcert=/etc/ca.pem", "use verify-full"),
                      ("postgres://u@h/db?sslrootcert=/nonexistent/ca.pem", "sslrootcert /nonexistent/ca.pem is not a readable PEM file")])
    func refused(url: String, reason: String) async {
        do {
            let store = try await PostgresStore(url: url)
            await store.shutdown()
            Issue.record("\(url) was accepted")
        } catch {
            #expect("\(error)".contains(reason), "\(error)")
        }
    }
}
