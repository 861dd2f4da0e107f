import Calibration
import Foundation
import PostgresTestSupport
@testable import Storage
import Testing

/// `PostgresStatisticsWindows`: a window one node keeps follows every node's commits through
/// the change log, and is read from the rows again when the log may miss one.
/// (`LiveStatisticsPropertyTests` checks the windows brought up to date against the rebuild
/// after every kind of write.)
@Suite("Kept windows of live statistics on PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
struct PostgresStatisticsWindowsTests {
    typealias Tests = LiveStatisticsPropertyTests

    static func rebuilt(_ store: any FeedbackStore, _ window: StatisticsWindow) async throws -> LiveStatistics {
        try ScoreStatisticsRebuild.window(ScoreStatisticsRebuild.daily(try await store.calibrationOutcomes(from: nil, to: nil)),
                                          firstDay: window.firstDay, lastDay: window.lastDay)
    }

    static let whole = StatisticsWindow(firstDay: nil, lastDay: nil)
    static let week = StatisticsWindow(firstDay: Tests.firstDay + 3, lastDay: Tests.firstDay + 9)

    /// Both windows read through `reader` equal the rebuild.
    static func agree(_ reader: PostgresStore) async throws -> Bool {
        for window in [whole, week] {
            guard try await reader.scoreStatistics(firstDay: window.firstDay, lastDay: window.lastDay)
                    == (try await rebuilt(reader, window)) else { return false }
        }
        return true
    }

    static func snapshotNow(_ store: PostgresStore) async throws -> (snapshot: String, at: Double) {
        try await store.read { db in
            let row = try #require(try await db.fetchOne(StoreStatement("""
                SELECT pg_current_snapshot()::text AS snapshot, CAST(extract(epoch FROM clock_timestamp()) AS DOUBLE PRECISION) AS at
                """)))
            return (try row.text("snapshot"), try row.real("at"))
        }
    }

    static func prune(_ store: PostgresStore, asOf noted: (snapshot: String, at: Double)) async throws {
        try await store.write { db in
            for statement in StatisticsChangesSQL.prune(noted.snapshot, takenAt: noted.at) { try await db.execute(statement) }
        }
    }

    static func loggedChanges(_ store: PostgresStore) async throws -> Int {
        try await store.read { db in try await db.scalar(Int.self, "SELECT COUNT(*) FROM statistics_changes") ?? -1 }
    }

    @Test("a window kept by one node follows another node's batches and erasures; after a gap in the log it is read again")
    func twoNodes() async throws {
        let url = try await PostgresTestDatabase.create()
        let reader = try await PostgresStore(url: url, maximumConnections: 2)
        let other = try await PostgresStore(url: url, maximumConnections: 2)
        do {
            var history = History(seed: 5)
            try await Tests.prepare(reader, &history)
            for _ in 0..<3 { _ = try await history.store(in: reader, outcomes: (0..<8).map { _ in history.outcome() }, consentEvents: []) }
            #expect(try await Self.agree(reader))
            #expect(reader.statisticsWindows.updatesApplied == 0)
            #expect(!(try await reader.scoreStatistics(firstDay: nil, lastDay: nil)).cohorts.isEmpty)
            #expect(reader.statisticsWindows.updatesApplied == 1)

            // The other node's batch, then its erasure, reach the windows through the log.
            let before = try await reader.scoreStatistics(firstDay: nil, lastDay: nil)
            _ = try await history.store(in: other, outcomes: (0..<8).map { _ in history.outcome() }, consentEvents: [])
            #expect(try await Self.agree(reader))
            _ = try await other.eraseSubject(pseudonym: Tests.subjects[0], purposes: [.outcomeStorage], cause: .request, trigger: nil,
                                             requestedAt: Date(), actor: "test", at: Date())
            #expect(try await Self.agree(reader))
            #expect(try await reader.scoreStatistics(firstDay: nil, lastDay: nil) != before)
            #expect(reader.statisticsWindows.updatesApplied == 7)

            // A node brings its windows up to date between requests.
            _ = try await history.store(in: other, outcomes: (0..<8).map { _ in history.outcome() }, consentEvents: [])
            try await reader.bringStatisticsWindowsUpToDate()
            #expect(reader.statisticsWindows.updatesApplied == 9)
            #expect(try await Self.agree(reader))

            // Statistics rows changed without logging (a month dropped whole): both windows are
            // read from the rows.
            try await other.write { db in try await db.execute(StatisticsChangesSQL.forgetEarlierReads) }
            _ = try await history.store(in: other, outcomes: (0..<8).map { _ in history.outcome() }, consentEvents: [])
            var applied = reader.statisticsWindows.updatesApplied
            #expect(try await Self.agree(reader))
            #expect(reader.statisticsWindows.updatesApplied == applied)

            // The log pruned of changes a kept window has not seen: read from the rows too.
            _ = try await history.store(in: other, outcomes: (0..<8).map { _ in history.outcome() }, consentEvents: [])
            try await Self.prune(other, asOf: try await Self.snapshotNow(other))
            applied = reader.statisticsWindows.updatesApplied
            #expect(try await Self.agree(reader))
            #expect(reader.statisticsWindows.updatesApplied == applied)
            #expect(try await Self.loggedChanges(other) == 0)

            // A prune drops only what its snapshot saw: a later commit stays logged, and reaches
            // the windows read after that snapshot.
            let earlier = try await Self.snapshotNow(other)
            #expect(try await Self.agree(reader))
            _ = try await history.store(in: other, outcomes: (0..<8).map { _ in history.outcome() }, consentEvents: [])
            try await Self.prune(other, asOf: earlier)
            #expect(try await Self.loggedChanges(other) > 0)
            applied = reader.statisticsWindows.updatesApplied
            #expect(try await Self.agree(reader))
            #expect(reader.statisticsWindows.updatesApplied == applied + 2)
        } catch {
            await reader.shutdown()
            await other.shutdown()
            throw error
        }
        await reader.shutdown()
        await other.shutdown()
    }
}
