import AuditLog
import Compliance
import FeedbackWire
import Foundation
import PostgresTestSupport
@testable import Storage
import StrictJSON
import TestSupport
import Testing

/// Kiosks bound to their sites: the binding an enrollment token carries, moves between
/// sites with their audit entries, and the binding an upgraded store gives the kiosks it had.
@Suite("Device sites")
struct DeviceSiteStoreTests {
    typealias Fixture = FeedbackStoreTests
    static let now = Fixture.now

    static func register(_ sites: [String], in store: any FeedbackStore) async throws {
        let compliance = try #require(store as? any ComplianceStore)
        for site in sites {
            #expect(try await compliance.upsertSite(SiteRecord(site: site, jurisdiction: JurisdictionRecord.defaultName, publicPlace: false),
                                                    actor: "test", at: now))
        }
    }

    static func token(_ sha256: String, _ id: String, sites: [String]) -> StoredEnrollmentToken {
        StoredEnrollmentToken(sha256: sha256, deviceID: id, createdAt: now, expiresAt: now.addingTimeInterval(60), sites: sites)
    }

    static func entries(_ store: any FeedbackStore) async throws -> [AuditEntry] {
        let audit = try #require(store as? any ComplianceStore)
        return try await audit.auditEntries(from: 0, to: try await audit.auditTreeSize()).map { try AuditEntry(entryBytes: $0) }
    }

    static func detail(_ entry: AuditEntry?, _ key: String) -> JSONValue? {
        entry?.details.first { $0.key == key }?.value
    }

    @Test("a token binds its device to its registered sites when redeemed; a token naming an unregistered site is refused and not stored",
          arguments: StoreBackEnd.available)
    func enrollmentBinds(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Self.register(["branch-a", "branch-b"], in: store)
        await #expect(throws: SiteBindingError.unknownSites(["nowhere"])) {
            try await store.addEnrollmentToken(Self.token("t0", "kiosk-1", sites: ["branch-a", "nowhere"]))
        }
        #expect(try await store.redeemEnrollmentToken(sha256: "t0", device: Fixture.device("kiosk-1"), now: Self.now) == .invalidToken,
                "the refused token was not stored")

        try await store.addEnrollmentToken(Self.token("t1", "kiosk-1", sites: ["branch-b", "branch-a", "branch-b"]))
        #expect(try await store.device(id: "kiosk-1") == nil, "a token binds nothing before it is redeemed")
        #expect(try await store.redeemEnrollmentToken(sha256: "t1", device: Fixture.device("kiosk-1"), now: Self.now) == .enrolled)
        #expect(try await store.device(id: "kiosk-1")?.sites == ["branch-a", "branch-b"])
        #expect(try await store.device(withCertificateFingerprint: "fp-kiosk-1")?.sites == ["branch-a", "branch-b"])
        try await store.addEnrollmentToken(Self.token("t2", "kiosk-2", sites: []))
        #expect(try await store.redeemEnrollmentToken(sha256: "t2", device: Fixture.device("kiosk-2"), now: Self.now) == .enrolled)
        #expect(try await store.device(id: "kiosk-2")?.sites == [])
        #expect(try await store.deviceSummaries().map(\.sites) == [["branch-a", "branch-b"], []])

        let enrolled = try await Self.entries(store).filter { $0.kind == .deviceEnrolled }
        #expect(Self.detail(enrolled.first, "sites") == .array([.string("branch-a"), .string("branch-b")]))
        #expect(Self.detail(enrolled.last, "sites") == .array([]))
    }

    @Test("moving a kiosk replaces its sites and appends a device_moved entry in the same transaction; unknown sites and devices change nothing",
          arguments: StoreBackEnd.available)
    func move(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1", sites: ["branch-a"])
        try await Self.register(["branch-b", "branch-c"], in: store)
        let before = try await Self.entries(store)

        await #expect(throws: SiteBindingError.unknownSites(["nowhere"])) {
            try await store.moveDevice(id: "kiosk-1", to: ["branch-b", "nowhere"], at: Self.now, actor: "token:olga (admin)")
        }
        #expect(try await store.device(id: "kiosk-1")?.sites == ["branch-a"])
        #expect(try await store.moveDevice(id: "kiosk-9", to: ["branch-b"], at: Self.now, actor: "token:olga (admin)") == nil)
        #expect(try await Self.entries(store) == before, "a refused move logs nothing")

        let moved = Self.now.addingTimeInterval(90.5)
        #expect(try await store.moveDevice(id: "kiosk-1", to: ["branch-c", "branch-b"], at: moved, actor: "token:olga (admin)") == ["branch-a"])
        #expect(try await store.device(id: "kiosk-1")?.sites == ["branch-b", "branch-c"])
        #expect(try await store.deviceSummaries().first?.sites == ["branch-b", "branch-c"])
        #expect(try await store.moveDevice(id: "kiosk-1", to: ["branch-a"], at: moved, actor: "token:olga (admin)") == ["branch-b", "branch-c"])

        let entries = try await ModelRolloutStoreTests.verifyAuditLog(try #require(store as? any ComplianceStore),
                                                                      extending: before.map(\.entryBytes))
        let added = Array(entries.dropFirst(before.count))
        #expect(added.map(\.kind) == [.deviceMoved, .deviceMoved])
        #expect(added.first?.actor == "token:olga (admin)")
        #expect(added.first?.time == RFC3339.format(moved))
        #expect(Self.detail(added.first, "device_id") == .string("kiosk-1"))
        #expect(Self.detail(added.first, "from_sites") == .array([.string("branch-a")]))
        #expect(Self.detail(added.first, "to_sites") == .array([.string("branch-b"), .string("branch-c")]))
        #expect(Self.detail(added.last, "from_sites") == .array([.string("branch-b"), .string("branch-c")]))
    }

    @Test("two nodes moving one kiosk at once: the moves happen one after the other, each logging the sites the previous one left",
          arguments: StoreBackEnd.available)
    func concurrentMoves(backEnd: StoreBackEnd) async throws {
        let (first, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let second = try await reopen()
        try await Fixture.enrolled(first, "kiosk-1", sites: ["site-0"])
        try await Self.register((1...8).map { "site-\($0)" }, in: first)
        let before = try await Self.entries(first).count
        let nodes: [any FeedbackStore] = [first, second]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for move in 1...8 {
                group.addTask {
                    _ = try await nodes[move % 2].moveDevice(id: "kiosk-1", to: ["site-\(move)"], at: Self.now, actor: "node-\(move % 2)")
                }
            }
            try await group.waitForAll()
        }
        let moves = Array(try await Self.entries(first).dropFirst(before))
        #expect(moves.count == 8)
        var sites: JSONValue = .array([.string("site-0")])
        for move in moves {
            #expect(Self.detail(move, "from_sites") == sites, "each move starts from what the one before left")
            sites = Self.detail(move, "to_sites") ?? .null
        }
        let final = (sites.arrayValue ?? []).compactMap(\.stringValue)
        #expect(try await first.device(id: "kiosk-1")?.sites == Set(final))
        #expect(final.count == 1)
    }

    @Test("an upgraded store binds each kiosk to every site it named before, and nothing else; a token from before binds none",
          arguments: StoreBackEnd.available)
    func upgrade(backEnd: StoreBackEnd) async throws {
        var atOtherSite = Fixture.outcome(site: "branch-unregistered")
        atOtherSite.eventID = UUID()
        var elsewhere = Fixture.consent(.grant)
        elsewhere.site = "s3"
        let batches = [
            Fixture.incoming("kiosk-1", sequence: 1, outcomes: [Fixture.outcome(), atOtherSite]),
            Fixture.incoming("kiosk-2", sequence: 1, outcomes: [], consentEvents: [elsewhere]),
        ]
        let undo = ["DROP TABLE device_sites", "ALTER TABLE enrollment_tokens DROP COLUMN sites"]
        func fill(_ store: any FeedbackStore) async throws {
            for id in ["kiosk-1", "kiosk-2", "kiosk-3"] { try await Fixture.enrolled(store, id) }
            for batch in batches { _ = try await store.storeBatch(batch) }
            try await store.addEnrollmentToken(Self.token("t-old", "kiosk-4", sites: []))
        }
        let migrated: any FeedbackStore
        var shutdown: (() async -> Void)?
        var directory: String?
        var entriesBefore: [AuditEntry] = []
        switch backEnd {
        case .sqlite:
            let path = (try temporaryDirectory("store") as NSString).appendingPathComponent("store.sqlite")
            directory = (path as NSString).deletingLastPathComponent
            do {
                let store = try SQLiteStore(path: path)
                try await fill(store)
                entriesBefore = try await Self.entries(store)
                // Back to the schema of before the step.
                try await store.pool.write { db in
                    for statement in undo { try db.execute(sql: statement) }
                    try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v9-device-sites'")
                }
            }
            migrated = try SQLiteStore(path: path)
        case .postgres:
            let url = try await PostgresTestDatabase.create()
            let store = try await PostgresStore(url: url, maximumConnections: 2)
            try await fill(store)
            entriesBefore = try await Self.entries(store)
            await store.shutdown()
            try await PostgresTestDatabase.execute(undo + ["DELETE FROM schema_migrations WHERE name = 'v6-device-sites'"], on: url)
            let reopened = try await PostgresStore(url: url, maximumConnections: 2)
            migrated = reopened
            shutdown = { await reopened.shutdown() }
        }
        defer { if let directory { try? FileManager.default.removeItem(atPath: directory) } }
        #expect(try await migrated.device(id: "kiosk-1")?.sites == ["s1", "branch-unregistered"], "outcomes' sites, registered or not")
        #expect(try await migrated.device(id: "kiosk-2")?.sites == ["s3"], "consent events' sites")
        #expect(try await migrated.device(id: "kiosk-3")?.sites == [], "a kiosk that sent nothing is bound to nothing")
        #expect(try await migrated.redeemEnrollmentToken(sha256: "t-old", device: Fixture.device("kiosk-4"), now: Self.now) == .enrolled)
        #expect(try await migrated.device(id: "kiosk-4")?.sites == [], "a token issued before the upgrade binds no site")
        #expect(try await migrated.deviceSummaries().map(\.sites) == [["branch-unregistered", "s1"], ["s3"], [], []])
        #expect(Array(try await Self.entries(migrated).prefix(entriesBefore.count)) == entriesBefore)
        await shutdown?()
    }
}
