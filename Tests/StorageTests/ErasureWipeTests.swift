import Compliance
import FeedbackWire
import Foundation
import GRDB
@testable import Storage
import TestSupport
import Testing

@Suite("Erased outcomes leave the SQLite files")
struct ErasureWipeTests {
    typealias Fixture = FeedbackStoreTests
    static let now = Fixture.now
    static let day: TimeInterval = 86_400
    /// Only the erased outcomes carry it (as a cohort tag and consent reference), in their rows
    /// and in the signed bodies of their batches. The pseudonym itself stays, by design, in
    /// the consent events, the erasure record and the audit log.
    static let marker = "wipe-marker-5e1f0c2a"

    enum Erasure: String, CaseIterable, CustomTestStringConvertible {
        case request, withdrawal, retention
        var testDescription: String { rawValue }
    }

    static func outcomes(_ count: Int) -> [MatchOutcome] {
        (0..<count).map { _ in
            var outcome = Fixture.outcome()
            outcome.attemptedAt = now.addingTimeInterval(-400 * day)
            outcome.cohort = .init(site: "s1", cameraModel: "c1", tags: [marker])
            outcome.subject = .init(pseudonym: Fixture.subject, consentRef: marker)
            return outcome
        }
    }

    static func contains(_ path: String) throws -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return false }
        return try Data(contentsOf: URL(fileURLWithPath: path)).range(of: Data(marker.utf8)) != nil
    }

    @Test("neither the database file nor its -wal file holds an erased outcome's bytes after the erasure commits",
          arguments: Erasure.allCases)
    func wiped(erasure: Erasure) async throws {
        let directory = try temporaryDirectory("wipe")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let store = try SQLiteStore(path: path)
        try await Fixture.enrolled(store, "kiosk-1")
        let grant = Fixture.consent(.grant, at: Self.now.addingTimeInterval(-500 * Self.day))

        // One batch checkpointed into the database file, one still in the log.
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: Self.outcomes(40), consentEvents: [grant]))
        try await store.truncateLog()
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 2, outcomes: Self.outcomes(40), consentEvents: []))
        #expect(try Self.contains(path), "the test needs the outcomes in the database file")
        #expect(try Self.contains(path + "-wal"), "the test needs the outcomes in the log")

        switch erasure {
        case .request:
            let records = try await store.eraseSubject(pseudonym: Fixture.subject, purposes: [.thresholdCalibration], cause: .request,
                                                       trigger: nil, requestedAt: Self.now, actor: "test", at: Self.now)
            #expect(records.map(\.outcomesErased) == [80])
        case .withdrawal:
            let withdrawal = Fixture.consent(.withdraw, at: Self.now.addingTimeInterval(-Self.day))
            _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 3, outcomes: [], consentEvents: [withdrawal]))
        case .retention:
            #expect(try await store.sweepRetention(now: Self.now).map(\.outcomesErased) == [80])
        }

        #expect(try await store.outcomeStats().totalEvents == 0)
        #expect(try !Self.contains(path), "erased bytes left in the database file")
        #expect(try !Self.contains(path + "-wal"), "erased bytes left in the -wal file")
        #expect(try await store.integrityCheck() == "ok")
    }

    @Test("every connection of the store runs with secure_delete on")
    func secureDelete() async throws {
        let directory = try temporaryDirectory("wipe")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
        #expect(try await store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA secure_delete") } == 1)
        #expect(try await store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA secure_delete") } == 1)
    }
}
