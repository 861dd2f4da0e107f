import Compliance
import FeedbackWire
import Foundation
import GRDB
@testable import Storage
import TestSupport
import Testing

/// The retention sweep against a reference computed here from the uploads themselves: an
/// outcome goes when the earlier of its attempt and its batch's arrival is before its
/// jurisdiction's cutoff. Outcomes sit on both sides of each cutoff, dated in the future or
/// not, in two jurisdictions; a sweep that missed any qualifying row, or took one too many,
/// leaves a subject with the wrong number of outcomes.
@Suite("Retention sweep")
struct RetentionSweepTests {
    typealias Fixture = FeedbackStoreTests
    static let now = Fixture.now
    static let day: TimeInterval = 86_400

    struct Upload {
        var receivedDaysAgo: Double
        /// (subject, site, attempted: days from now; positive is in the future)
        var outcomes: [(String, String, Double)]
    }

    static let subjects = "ABCDEFGHIJ".map(subject)
    static func subject(_ letter: Character) -> String { String(format: "%064x", 0xA11CE_00 + Int(letter.asciiValue ?? 0)) }

    static let uploads: [Upload] = [
        Upload(receivedDaysAgo: 1400, outcomes: [(subject("A"), "s1", -1450), (subject("B"), "chicago", -1420),
                                                 (subject("C"), "s1", 100), (subject("D"), "chicago", 100)]),
        Upload(receivedDaysAgo: 35, outcomes: [(subject("A"), "s1", -36), (subject("B"), "chicago", -36),
                                               (subject("E"), "s1", -20), (subject("F"), "s1", 5)]),
        Upload(receivedDaysAgo: 5, outcomes: [(subject("A"), "s1", -5), (subject("C"), "s1", -25), (subject("E"), "s1", -5),
                                              (subject("G"), "chicago", -1000), (subject("H"), "chicago", -1200)]),
        Upload(receivedDaysAgo: 0, outcomes: [(subject("B"), "chicago", -1500), (subject("I"), "s1", -31), (subject("J"), "s1", -29),
                                              (subject("J"), "chicago", -1094)]),
    ]

    /// default: 30 days; us-il (BIPA): ten years, cut to three.
    static func cutoff(site: String) -> Date {
        site == "chicago" ? RetentionSchedule.deletionCutoff(now: now, retentionDays: 3650, biometricLaw: "bipa")
                          : now.addingTimeInterval(-30 * day)
    }

    /// The jurisdictions, rules, grants and `uploads`; the outcomes each subject keeps and loses.
    static func upload(to store: any FeedbackStore) async throws -> (kept: [String: Int], erased: [String: Int]) {
        let compliance = try #require(store as? any ComplianceStore)
        try await Fixture.enrolled(store, "kiosk-1")
        try await compliance.upsertJurisdiction(JurisdictionRecord(name: "us-il", dataRegion: "us-central", biometricLaw: "bipa",
                                                                   requestDays: 45, pseudonymKey: Array(repeating: 7, count: 32)),
                                                actor: "test", at: Self.now)
        #expect(try await compliance.upsertSite(SiteRecord(site: "chicago", jurisdiction: "us-il", publicPlace: true), actor: "test", at: Self.now))
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: "us-il", purpose: .thresholdCalibration, days: 3650),
                                                  actor: "test", at: Self.now))
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: JurisdictionRecord.defaultName, purpose: .thresholdCalibration,
                                                                days: 30), actor: "test", at: Self.now))
        let grants = Self.subjects.map { Fixture.consent(.grant, pseudonym: $0, at: Self.now.addingTimeInterval(-1800 * Self.day)) }
        guard case .stored = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [], consentEvents: grants,
                                                                         receivedAt: Self.now.addingTimeInterval(-1800 * Self.day)))
        else { throw UploadFailure("grants not stored") }

        var kept: [String: Int] = [:], erased: [String: Int] = [:]
        for (index, upload) in Self.uploads.enumerated() {
            let received = Self.now.addingTimeInterval(-upload.receivedDaysAgo * Self.day)
            let outcomes = upload.outcomes.map { subject, site, attempted in
                var outcome = Fixture.outcome(site: site)
                outcome.subject = .init(pseudonym: subject, consentRef: "c")
                outcome.attemptedAt = Self.now.addingTimeInterval(attempted * Self.day)
                if min(outcome.attemptedAt, received) < Self.cutoff(site: site) { erased[subject, default: 0] += 1 }
                else { kept[subject, default: 0] += 1 }
                return outcome
            }
            let result = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: Int64(index + 2), outcomes: outcomes,
                                                                     consentEvents: [], receivedAt: received))
            guard case let .stored(bytes) = result else { throw UploadFailure("upload \(index) not stored: \(result)") }
            #expect(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes)).acceptedEvents == outcomes.count)
        }
        // The cases are all there: kept and erased in both jurisdictions, by attempt and by arrival.
        #expect(erased.values.reduce(0, +) == 10 && kept.values.reduce(0, +) == 7, "erased \(erased), kept \(kept)")
        return (kept, erased)
    }

    struct UploadFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test("a sweep erases exactly the outcomes held since before their jurisdiction's cutoff, by attempt or by arrival",
          arguments: StoreBackEnd.available)
    func exactSweep(backEnd: StoreBackEnd) async throws {
        let (store, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let (kept, erased) = try await Self.upload(to: store)
        try await Self.sweep(store, reopen: reopen, kept: kept, erased: erased)
    }

    static func sweep(_ store: any FeedbackStore, reopen: () async throws -> any FeedbackStore,
                      kept: [String: Int], erased: [String: Int]) async throws {
        let compliance = try #require(store as? any ComplianceStore)
        #expect(try await compliance.overdueRetention(now: Self.now).map(\.outcomes).reduce(0, +) == 10)
        let swept = try await compliance.sweepRetention(now: Self.now)
        var sweptBySubject: [String: Int] = [:]
        for record in swept { sweptBySubject[record.pseudonym, default: 0] += record.outcomesErased }
        #expect(sweptBySubject == erased)
        #expect(swept.allSatisfy { $0.outcomesErased > 0 && $0.cause == .retention })
        for subject in Self.subjects {
            #expect(try await compliance.subjectExport(pseudonym: subject).outcomes.count == kept[subject] ?? 0, "\(subject)")
        }
        #expect(try await store.outcomeStats().totalEvents == 7)
        #expect(try await compliance.erasures().count == swept.count, "no erasure recorded for a subject with nothing to erase")
        let reopened = try #require(try await reopen() as? any ComplianceStore)
        #expect(try await reopened.sweepRetention(now: Self.now).isEmpty, "a second sweep finds nothing")
        #expect(try await reopened.overdueRetention(now: Self.now).isEmpty)
    }

    /// The step that gave SQLite's outcomes their batch's arrival (`received_at`) and dropped
    /// `outcomes_by_batch`, which retention used to find outcomes by arrival: a file from
    /// before it, holding outcomes dated far in the future of their arrival, sweeps as before.
    @Test("SQLite v20-outcomes-with-arrival: an older file's outcomes get their batch's arrival, and sweep exactly")
    func upgradeKeepsArrival() async throws {
        let directory = try temporaryDirectory("retention-upgrade")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let store = try SQLiteStore(path: path)
        let (kept, erased) = try await Self.upload(to: store)
        // The outcomes table as v19 left it: the reference to batches, the batch index, no arrival.
        let columns = StoreTables.outcomes.columns.map(\.name).joined(separator: ", ")
        try await store.pool.write { db in
            try db.execute(sql: "ALTER TABLE outcomes RENAME TO outcomes_v20")
            try db.execute(sql: StoreTables.outcomes.create(.sqlite))
            try db.execute(sql: "INSERT INTO outcomes (\(columns)) SELECT \(columns) FROM outcomes_v20")
            try db.execute(sql: "DROP TABLE outcomes_v20")
            for index in ["outcomes_by_subject", "outcomes_by_batch", "outcomes_by_time"] {
                try db.execute(sql: StoreTables.outcomes.createIndex(index))
            }
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v20-outcomes-with-arrival'")
        }
        let old = try await store.pool.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_list(outcomes)") }
        #expect(old.count == 1, "the file is as v19 left it")

        let upgraded = try SQLiteStore(path: path)
        try await upgraded.pool.read { db in
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_list(outcomes)").isEmpty)
            let indexes = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outcomes' AND sql IS NOT NULL ORDER BY name")
            #expect(indexes == ["outcomes_by_subject", "outcomes_by_time", "outcomes_dated_after_arrival"])
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outcomes") == 17)
            #expect(try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM outcomes o JOIN batches b ON b.batch_id = o.batch_id WHERE o.received_at = b.received_at
                """) == 17)
            // Attempted after their batch arrived (C and D a century of days after): four of them.
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outcomes WHERE received_at < attempted_at") == 4)
            // Retention reads those through the partial index, and no query of it reads every outcome.
            let overdue = SQLiteStore.sql.overdueOutcomes(jurisdiction: JurisdictionRecord.defaultName, heldBefore: Self.now)
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + overdue.sql, arguments: overdue.sqliteArguments)
                .map { $0["detail"] as String }
            #expect(plan.contains { $0.contains("USING INDEX outcomes_dated_after_arrival") }, "\(plan)")
            #expect(!plan.contains { $0.hasPrefix("SCAN o") }, "\(plan)")
        }
        try await Self.sweep(upgraded, reopen: { try SQLiteStore(path: path) }, kept: kept, erased: erased)
    }
}
