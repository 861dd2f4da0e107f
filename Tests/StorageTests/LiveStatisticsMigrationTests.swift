import Calibration
import Compliance
import FeedbackWire
import Foundation
import GRDB
import PostgresTestSupport
@testable import Storage
import TestSupport
import Testing

/// Stores from before the live statistics: the migration step builds them (and the counters)
/// from the outcomes they hold, restricted subjects left out; `faceloop admin migrate-store`
/// carries them to PostgreSQL as rows, and the copy answers as the rebuild there does.
@Suite("Live score statistics: upgrade and migrate-store")
struct LiveStatisticsMigrationTests {
    typealias Fixture = FeedbackStoreTests
    typealias Tests = LiveStatisticsPropertyTests

    /// A store with a random history of 25 steps, limits and sweeps included.
    static func populate(_ store: any FeedbackStore, seed: UInt64) async throws -> History {
        var history = History(seed: seed)
        try await Tests.prepare(store, &history)
        for _ in 0..<25 { _ = try await history.step(store) }
        // At least one subject restricted when the migration runs.
        _ = try await history.store(in: store, outcomes: [history.outcome(subject: Tests.subjects[0])],
                                    consentEvents: [history.consent(.limit, Tests.subjects[0])])
        return history
    }

    @Test("SQLite v14-score-statistics builds the rows and counters from the outcomes of an older file", arguments: [3, 4])
    func sqliteUpgrade(seed: UInt64) async throws {
        let directory = try temporaryDirectory("statistics-upgrade")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let store = try SQLiteStore(path: path)
        var history = try await Self.populate(store, seed: seed)
        let live = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
        let counted = try await store.outcomeStats()
        #expect(!live.cohorts.isEmpty)
        // The file as it was before the step.
        try await store.pool.write { db in
            for table in ["score_statistics", "outcome_counts", "batch_counts"] { try db.execute(sql: "DROP TABLE \(table)") }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v14-score-statistics'")
        }
        let upgraded = try SQLiteStore(path: path)
        #expect(try await upgraded.scoreStatistics(firstDay: nil, lastDay: nil) == live)
        #expect(try await upgraded.outcomeStats() == counted)
        #expect(try await Tests.agree(upgraded, history: &history, context: "upgraded"))
        // And it carries on from there.
        for _ in 0..<10 { _ = try await history.step(upgraded) }
        #expect(try await Tests.agree(upgraded, history: &history, context: "after the upgrade"))
    }

    @Test("PostgreSQL v11-score-statistics builds the rows and counters from the outcomes of an older database",
          .enabled(if: PostgresTestDatabase.isAvailable))
    func postgresUpgrade() async throws {
        let url = try await PostgresTestDatabase.create()
        let store = try await PostgresStore(url: url, maximumConnections: 2)
        var history = try await Self.populate(store, seed: 5)
        let live = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
        let counted = try await store.outcomeStats()
        try await store.write { db in
            for table in ["score_statistics", "outcome_counts", "batch_counts"] { try await db.execute("DROP TABLE \(table)") }
            try await db.execute("DELETE FROM schema_migrations WHERE name = 'v11-score-statistics'")
        }
        await store.shutdown()
        let upgraded = try await PostgresStore(url: url, maximumConnections: 2)
        do {
            #expect(try await upgraded.scoreStatistics(firstDay: nil, lastDay: nil) == live)
            #expect(try await upgraded.outcomeStats() == counted)
            #expect(try await Tests.agree(upgraded, history: &history, context: "upgraded"))
        } catch {
            await upgraded.shutdown()
            throw error
        }
        await upgraded.shutdown()
    }

    @Test("migrate-store copies the statistics rows and counters; the copy equals the pilot's and the rebuild from the copied outcomes",
          .enabled(if: PostgresTestDatabase.isAvailable))
    func migrateStore() async throws {
        let directory = try temporaryDirectory("statistics-migrate")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let pilot = try SQLiteStore(path: path)
        var history = try await Self.populate(pilot, seed: 6)
        let url = try await PostgresTestDatabase.create()
        let report = try await StoreMigration.copy(sqlitePath: path, to: url)
        for table in ["score_statistics", "outcome_counts", "batch_counts"] {
            let copied = try #require(report.tables.first { $0.name == table })
            #expect(copied.copiedRows == copied.sourceRows && copied.copiedRows > 0, "\(table)")
        }
        let copy = try await PostgresStore(url: url, maximumConnections: 2)
        do {
            // Outcomes with their shadow_scores, as the pilot holds them.
            let copied = ShadowScoresStoreTests.sorted(try await copy.calibrationOutcomes(from: nil, to: nil))
            #expect(copied == ShadowScoresStoreTests.sorted(try await pilot.calibrationOutcomes(from: nil, to: nil)))
            #expect(copied.contains { !$0.shadowScores.isEmpty })
            for (first, last) in [(nil, nil), (Tests.firstDay + 3, Tests.firstDay + 35), (Tests.firstDay + 7, nil)] as [(Int?, Int?)] {
                #expect(try await copy.scoreStatistics(firstDay: first, lastDay: last)
                        == (try await pilot.scoreStatistics(firstDay: first, lastDay: last)))
            }
            #expect(try await copy.outcomeStats() == (try await pilot.outcomeStats()))
            #expect(try await Tests.agree(copy, history: &history, context: "copied"))
            for _ in 0..<10 { _ = try await history.step(copy) }
            #expect(try await Tests.agree(copy, history: &history, context: "after the copy"))
        } catch {
            await copy.shutdown()
            throw error
        }
        await copy.shutdown()
    }
}
