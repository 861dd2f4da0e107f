import Compliance
import FeedbackWire
import Foundation
import GRDB
import GRDBSQLite
import PostgresTestSupport
@testable import Storage
import TestSupport
import Testing

/// Whether a batch's subjects are restricted is read for every batch that records consent.
/// It must cost what the subjects' limits cost, not what their whole consent history does: a
/// subject who consents again at every visit would otherwise slow each later batch.
@Suite("Restricted subjects read by their limits")
struct ConsentLimitsIndexTests {
    typealias Fixture = FeedbackStoreTests

    static let occasional = String(repeating: "a1", count: 32)
    static let regular = String(repeating: "b2", count: 32)
    static let limited = String(repeating: "c3", count: 32)

    /// `occasional` consented once, `regular` 300 times, `limited` once and then limited the use.
    static func store(_ store: any FeedbackStore) async throws {
        try await Fixture.enrolled(store, "kiosk-1")
        let start = Fixture.now.addingTimeInterval(-86_400)
        var events = [Fixture.consent(.grant, pseudonym: occasional, at: start), Fixture.consent(.grant, pseudonym: limited, at: start),
                      Fixture.consent(.limit, pseudonym: limited, at: start.addingTimeInterval(60))]
        events += (0..<300).map { Fixture.consent(.grant, pseudonym: regular, at: start.addingTimeInterval(Double($0) * 60)) }
        for (index, slice) in events[...].slices(of: 100).enumerated() {
            let stored = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: Int64(index + 1), outcomes: [], consentEvents: Array(slice)))
            guard case .stored = stored else { Issue.record("batch \(index + 1): \(stored)"); return }
        }
    }

    @Test("SQLite: the look-up visits as many rows for a subject with 300 consent events as for one with one")
    func sqliteSteps() async throws {
        let directory = try temporaryDirectory("consent-limits")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
        try await Self.store(store)
        let sql = SQLiteStore.sql
        func lookUp(_ subjects: [String]) async throws -> (restricted: [String], steps: Int32) {
            try await store.pool.read { db in
                let statement = try db.bound(sql.restrictedSubjects(among: subjects))
                // The counter belongs to the compiled statement, which the connection keeps: cleared first.
                _ = sqlite3_stmt_status(statement.sqliteStatement, SQLITE_STMTSTATUS_VM_STEP, 1)
                let restricted = try String.fetchAll(statement)
                return (restricted, sqlite3_stmt_status(statement.sqliteStatement, SQLITE_STMTSTATUS_VM_STEP, 0))
            }
        }
        let occasional = try await lookUp([Self.occasional]), regular = try await lookUp([Self.regular])
        #expect(occasional.restricted.isEmpty && regular.restricted.isEmpty)
        // Reading a subject's consent events through consent_by_subject took several steps for each.
        #expect(regular.steps == occasional.steps && regular.steps < 300, "\(regular.steps) steps for 300 events, \(occasional.steps) for one")
        #expect(try await lookUp([Self.occasional, Self.regular, Self.limited]).restricted == [Self.limited])
    }

    @Test("PostgreSQL keeps the same partial index, and reads the same restriction", .enabled(if: PostgresTestDatabase.isAvailable))
    func postgresIndex() async throws {
        let (opened, _, cleanup) = try await StoreBackEnd.postgres.open()
        defer { cleanup() }
        let store = try #require(opened as? PostgresStore)
        try await Self.store(store)
        let definition = try await store.read { db in
            try await db.fetchOne(StoreStatement("SELECT indexdef FROM pg_indexes WHERE indexname = 'consent_limits'")).map { try $0.text("indexdef") }
        }
        let index = try #require(definition)
        #expect(index.contains("(subject_pseudonym, purpose)") && index.contains("'limit'") && index.contains("refusal IS NULL"), "\(index)")
        let restricted = try await store.read { db in
            try await db.fetchAll(PostgresStore.sql.restrictedSubjects(among: [Self.occasional, Self.regular, Self.limited]))
                .map { try $0.text("subject_pseudonym") }
        }
        #expect(restricted == [Self.limited])
    }
}
