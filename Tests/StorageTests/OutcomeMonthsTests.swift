import Compliance
import FeedbackWire
import Foundation
import PostgresTestSupport
@testable import Storage
import Synchronization
import Testing

/// PostgreSQL's outcomes by month of attempt: each month a partition, a month whose outcomes
/// are all due dropped whole by the retention sweep, with the same erasures, counters and
/// statistics as the sweep row by row on SQLite.
@Suite("PostgreSQL outcomes by month", .enabled(if: PostgresTestDatabase.isAvailable))
struct OutcomeMonthsTests {
    typealias Fixture = FeedbackStoreTests
    typealias Sweep = RetentionSweepTests
    static let now = Fixture.now
    static let day: TimeInterval = 86_400

    /// (received days ago, [(subject, site, attempted days ago)]). The months 400 and 100 days
    /// back hold only `s1` (30 days' retention) and go whole, E's late upload of an old attempt
    /// included; the month 300 days back holds a `chicago` outcome (three years) and stays,
    /// so its `s1` outcome goes row by row.
    static let uploads: [(received: Double, outcomes: [(Character, String, Double)])] = [
        (400, [("A", "s1", 400), ("B", "s1", 399), ("C", "s1", 398)]),
        (300, [("A", "s1", 300), ("D", "chicago", 300)]),
        (100, [("B", "s1", 100), ("C", "s1", 101)]),
        (2, [("E", "s1", 2), ("E", "s1", 399), ("A", "s1", 1)]),
    ]

    static func attempt(_ daysAgo: Double) -> Date { now.addingTimeInterval(-daysAgo * day) }

    /// Sites, rules and consent as `RetentionSweepTests` has them, then the uploads.
    static func populate(_ store: any FeedbackStore) async throws {
        let compliance = try #require(store as? any ComplianceStore)
        try await Fixture.enrolled(store, "kiosk-1")
        try await compliance.upsertJurisdiction(JurisdictionRecord(name: "us-il", dataRegion: "us-central", biometricLaw: "bipa",
                                                                   requestDays: 45, pseudonymKey: Array(repeating: 7, count: 32)),
                                                actor: "test", at: now)
        #expect(try await compliance.upsertSite(SiteRecord(site: "chicago", jurisdiction: "us-il", publicPlace: true), actor: "test", at: now))
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: "us-il", purpose: .thresholdCalibration, days: 3650),
                                                  actor: "test", at: now))
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: JurisdictionRecord.defaultName, purpose: .thresholdCalibration,
                                                                days: 30), actor: "test", at: now))
        let grants = "ABCDE".map { Fixture.consent(.grant, pseudonym: Sweep.subject($0), at: attempt(1800)) }
        guard case .stored = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [], consentEvents: grants,
                                                                         receivedAt: attempt(1800)))
        else { Issue.record("grants not stored"); return }
        for (index, upload) in uploads.enumerated() {
            let outcomes = upload.outcomes.map { letter, site, attempted in
                var outcome = Fixture.outcome(site: site)
                outcome.subject = .init(pseudonym: Sweep.subject(letter), consentRef: "c")
                outcome.attemptedAt = attempt(attempted)
                outcome.score = 0.25 + attempted / 1000
                return outcome
            }
            let result = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: Int64(index + 2), outcomes: outcomes,
                                                                     consentEvents: [], receivedAt: attempt(upload.received)))
            guard case .stored = result else { Issue.record("upload \(index) not stored: \(result)"); return }
        }
    }

    /// The months whose outcomes are all of `s1` and end before its cutoff.
    static var dueMonths: Set<OutcomeMonth> {
        var sites: [OutcomeMonth: Set<String>] = [:]
        for upload in uploads {
            for (_, site, attempted) in upload.outcomes { sites[OutcomeMonth(containing: attempt(attempted)), default: []].insert(site) }
        }
        return Set(sites.filter { $0.value == ["s1"] && $0.key.end <= Sweep.cutoff(site: "s1") }.keys)
    }

    static func open() async throws -> PostgresStore {
        try await PostgresStore(url: try await PostgresTestDatabase.create(), maximumConnections: 4)
    }

    static func defaultPartitionRows(_ store: PostgresStore) async throws -> Int {
        try await store.read { db in try await db.scalar(Int.self, "SELECT COUNT(*) FROM \(OutcomeMonth.defaultPartition)") ?? -1 }
    }

    static func byMonth(_ months: [Date]) -> Set<OutcomeMonth> { Set(months.map { OutcomeMonth(containing: $0) }) }

    @Test("every month of attempts gets its partition; a sweep drops the months all due whole and erases as SQLite does row by row")
    func monthsDroppedWhole() async throws {
        let store = try await Self.open()
        let (sqlite, sqliteCleanup) = try await StoreBackEnd.sqlite.open()
        defer { sqliteCleanup() }
        do {
            try await Self.populate(store)
            try await Self.populate(sqlite)
            // The old attempts waited in the default partition until their months were made.
            #expect(try await Self.defaultPartitionRows(store) > 0)
            try await store.organizeOutcomeMonths(now: Self.now)
            #expect(try await Self.defaultPartitionRows(store) == 0)
            let before = Self.byMonth(try await store.outcomeMonths())
            let attempted = Set(Self.uploads.flatMap { $0.outcomes.map { OutcomeMonth(containing: Self.attempt($0.2)) } })
            let current = OutcomeMonth(containing: Self.now)
            #expect(attempted.union([current, current.next, current.next.next]).isSubset(of: before))
            #expect(Self.dueMonths.count == 2)

            let compliance = try #require(sqlite as? any ComplianceStore)
            // A window kept from before the sweep must not miss the months dropped.
            _ = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
            let swept = try await store.sweepRetention(now: Self.now)
            let sweptRowByRow = try await compliance.sweepRetention(now: Self.now)
            #expect(Self.byMonth(try await store.outcomeMonths()) == before.subtracting(Self.dueMonths))

            func perSubject(_ records: [ErasureRecord]) -> [String: Int] {
                records.reduce(into: [:]) { $0[$1.pseudonym, default: 0] += $1.outcomesErased }
            }
            #expect(perSubject(swept) == perSubject(sweptRowByRow))
            #expect(perSubject(swept) == [Sweep.subject("A"): 2, Sweep.subject("B"): 2, Sweep.subject("C"): 2, Sweep.subject("E"): 1])
            #expect(swept.map(\.batchesRedacted).reduce(0, +) == sweptRowByRow.map(\.batchesRedacted).reduce(0, +))
            #expect(swept.allSatisfy { $0.cause == .retention && $0.outcomesErased > 0 })
            #expect(try await store.erasures().count == swept.count)
            try await Self.expectSameStatistics(store, sqlite)
            #expect(try await store.sweepRetention(now: Self.now).isEmpty, "a second sweep finds nothing")

            // An attempt of a dropped month arriving late lands in the default partition, gets
            // its month back at the next sweep, and goes with it.
            let late = try #require(Self.dueMonths.min())
            var outcome = Fixture.outcome(site: "s1")
            outcome.subject = .init(pseudonym: Sweep.subject("E"), consentRef: "c")
            outcome.attemptedAt = late.end.addingTimeInterval(-3600)
            guard case .stored = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 10, outcomes: [outcome],
                                                                             consentEvents: [], receivedAt: Self.now))
            else { Issue.record("late upload not stored"); return }
            #expect(try await Self.defaultPartitionRows(store) == 1)
            let again = try await store.sweepRetention(now: Self.now)
            #expect(again.map(\.outcomesErased) == [1] && again.first?.batchesRedacted == 1)
            #expect(try await Self.defaultPartitionRows(store) == 0)
            #expect(!Self.byMonth(try await store.outcomeMonths()).contains(late))
            #expect(try await store.calibrationOutcomes(from: nil, to: nil).count == 3)
        } catch {
            await store.shutdown()
            throw error
        }
        await store.shutdown()
    }

    @Test("a month is read for its drop under its own partition's lock: uploads of this month go on meanwhile")
    func uploadsGoOnWhileAMonthIsRead() async throws {
        let store = try await Self.open()
        do {
            try await Self.populate(store)
            try await store.organizeOutcomeMonths(now: Self.now)
            let month = try #require(Self.dueMonths.min())
            // A late writer into the month holds its partition, as an upload of an old attempt would.
            let holding = Mutex(false), released = Mutex(false)
            let blocker = Task {
                try await store.write { db in
                    try await db.execute("LOCK TABLE \(month.partitionName) IN ROW EXCLUSIVE MODE")
                    holding.withLock { $0 = true }
                    while !released.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
                }
            }
            while !holding.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            let sweep = Task { try await store.sweepRetention(now: Self.now) }
            try await Task.sleep(for: .milliseconds(500))
            let stored = Mutex(false)
            let upload = Task {
                var outcome = Fixture.outcome(site: "s1")
                outcome.subject = .init(pseudonym: Sweep.subject("A"), consentRef: "c")
                outcome.attemptedAt = Self.now
                let result = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 10, outcomes: [outcome],
                                                                         consentEvents: [], receivedAt: Self.now))
                stored.withLock { $0 = true }
                return result
            }
            let deadline = ContinuousClock.now + .seconds(10)
            while !stored.withLock({ $0 }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(stored.withLock { $0 }, "an upload of this month waited for the drop of an old one")
            #expect(Self.byMonth(try await store.outcomeMonths()).contains(month), "the month went while its partition was held")
            released.withLock { $0 = true }
            try await blocker.value
            guard case .stored = try await upload.value else { Issue.record("the upload was not stored"); return }
            let swept = try await sweep.value
            #expect(!Self.byMonth(try await store.outcomeMonths()).contains(month))
            #expect(swept.map(\.outcomesErased).reduce(0, +) == 7)
            let outcomes = try await store.calibrationOutcomes(from: nil, to: nil)
            let rebuilt = try ScoreStatisticsRebuild.window(try ScoreStatisticsRebuild.daily(outcomes), firstDay: nil, lastDay: nil)
            #expect(try await store.scoreStatistics(firstDay: nil, lastDay: nil) == rebuilt)
            #expect(try await store.outcomeStats() == (try await LiveStatisticsPropertyTests.scannedOutcomeStats(store)))
        } catch {
            await store.shutdown()
            throw error
        }
        await store.shutdown()
    }

    static func expectSameStatistics(_ store: PostgresStore, _ sqlite: any FeedbackStore) async throws {
        let outcomes = try await store.calibrationOutcomes(from: nil, to: nil)
        #expect(ShadowScoresStoreTests.sorted(outcomes) == ShadowScoresStoreTests.sorted(try await sqlite.calibrationOutcomes(from: nil, to: nil)))
        let rebuilt = try ScoreStatisticsRebuild.window(try ScoreStatisticsRebuild.daily(outcomes), firstDay: nil, lastDay: nil)
        #expect(try await store.scoreStatistics(firstDay: nil, lastDay: nil) == rebuilt)
        #expect(try await store.outcomeStats() == (try await LiveStatisticsPropertyTests.scannedOutcomeStats(store)))
        #expect(try await store.outcomeStats() == (try await sqlite.outcomeStats()))
    }

    @Test("v15-outcomes-by-month moves the outcomes of an older database into their months, statistics untouched")
    func upgrade() async throws {
        let url = try await PostgresTestDatabase.create()
        let store = try await PostgresStore(url: url, maximumConnections: 2)
        var history = try await LiveStatisticsMigrationTests.populate(store, seed: 7)
        let outcomes = ShadowScoresStoreTests.sorted(try await store.calibrationOutcomes(from: nil, to: nil))
        let live = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
        // The table as it was before the step: one table, keyed by event id.
        let columns = StoreTables.outcomes.columns.map(\.name).joined(separator: ", ")
        try await store.write { db in
            try await db.execute("CREATE TABLE outcomes_flat AS SELECT \(columns) FROM outcomes")
            try await db.execute("DROP TABLE outcomes")
            try await db.execute("ALTER TABLE outcomes_flat RENAME TO outcomes")
            try await db.execute("ALTER TABLE outcomes ADD PRIMARY KEY (event_id)")
            try await db.execute("ALTER TABLE outcomes ADD FOREIGN KEY (batch_id) REFERENCES batches (batch_id)")
            for index in StoreTables.outcomes.indexes { try await db.execute(StoreTables.outcomes.createIndex(index.name)) }
            try await db.execute("DELETE FROM schema_migrations WHERE name = 'v15-outcomes-by-month'")
        }
        await store.shutdown()
        let upgraded = try await PostgresStore(url: url, maximumConnections: 2)
        do {
            #expect(ShadowScoresStoreTests.sorted(try await upgraded.calibrationOutcomes(from: nil, to: nil)) == outcomes)
            let months = Self.byMonth(try await upgraded.outcomeMonths())
            #expect(Set(outcomes.map { OutcomeMonth(containing: $0.attemptedAt) }).isSubset(of: months))
            #expect(try await Self.defaultPartitionRows(upgraded) == 0)
            #expect(try await upgraded.scoreStatistics(firstDay: nil, lastDay: nil) == live)
            #expect(try await LiveStatisticsPropertyTests.agree(upgraded, history: &history, context: "upgraded"))
            for _ in 0..<10 { _ = try await history.step(upgraded) }
            #expect(try await LiveStatisticsPropertyTests.agree(upgraded, history: &history, context: "after the upgrade"))
        } catch {
            await upgraded.shutdown()
            throw error
        }
        await upgraded.shutdown()
    }

    @Test("a month's name gives its month back; bounds are its first second and the next month's")
    func names() throws {
        let month = OutcomeMonth(containingDay: StatisticsBuckets.day(year: 2026, month: 12, day: 17))
        #expect(month.partitionName == "outcomes_2026_12")
        #expect(OutcomeMonth(partitionName: "outcomes_2026_12") == month)
        #expect(month.next.partitionName == "outcomes_2027_01")
        #expect(month.bounds == "FROM (1796083200) TO (1798761600)")
        for name in ["outcomes_default", "outcomes_2026_13", "outcomes_2026_1", "outcomes_0999_01", "outcomes_2026_12_x"] {
            #expect(OutcomeMonth(partitionName: name) == nil, "\(name)")
        }
    }
}
