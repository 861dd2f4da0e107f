import Calibration
import Compliance
import FeedbackWire
import Foundation
import GRDB
import PostgresTestSupport
@testable import Storage
import StrictJSON
import TestSupport
import Testing

/// `outcomes.shadow_scores`: a policy search's candidates' scores of an attempt, stored only
/// under the subject's model-improvement consent, counted in the live statistics under each
/// candidate's model version, and added to stores from before them by a migration step.
@Suite("Shadow scores of policy candidates in the store")
struct ShadowScoresStoreTests {
    typealias Fixture = FeedbackStoreTests
    typealias Tests = LiveStatisticsPropertyTests
    static let now = Fixture.now
    static let anna = String(repeating: "a", count: 64)
    static let ben = String(repeating: "b", count: 64)

    static func outcome(_ pseudonym: String, at time: Date = now, candidates: [(String, Double)]) -> MatchOutcome {
        var outcome = Fixture.outcome()
        outcome.subject = .init(pseudonym: pseudonym, consentRef: "c")
        outcome.attemptedAt = time
        outcome.shadowScores = candidates.map { .init(modelVersion: $0.0, score: $0.1) }
        return outcome
    }

    /// Registers the model-improvement text the grants below cite.
    static func registerImprovementText(_ store: any FeedbackStore) async throws {
        let compliance = try #require(store as? any ComplianceStore)
        _ = try await compliance.addConsentText(ConsentText(purpose: .modelImprovement, version: "v1", language: "en",
                                                            sha256: Fixture.consentTextSHA256, effectiveAt: now.addingTimeInterval(-86_400),
                                                            material: false), actor: "test", at: now)
    }

    /// The signed bytes a batch row keeps (SQLite's frame decompressed, `StoredBatchBody`).
    static func body(of batchID: UUID, in store: any FeedbackStore) async throws -> [UInt8] {
        try StoredBatchBody.signedBytes(try await storedBody(of: batchID, in: store), limit: 1 << 20)
    }

    /// The batch row's `body` column as it is.
    static func storedBody(of batchID: UUID, in store: any FeedbackStore) async throws -> [UInt8] {
        let statement = StoreStatement("SELECT body FROM batches WHERE batch_id = ?", batchID.uuidString.lowercased())
        if let sqlite = store as? SQLiteStore {
            return try await sqlite.pool.read { db in try #require(try db.fetchOne(statement)).bytes("body") }
        }
        let postgres = try #require(store as? PostgresStore)
        return try await postgres.read { db in try #require(try await db.fetchOne(statement)).bytes("body") }
    }

    @Test("ingest: shadow_scores are stored only for a subject whose model-improvement consent is in force at the attempt; the receipt counts the others, whose outcomes are stored without them",
          arguments: StoreBackEnd.available)
    func consentAtIngest(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let compliance = try #require(store as? any ComplianceStore)
        try await Fixture.enrolled(store, "kiosk-1")
        try await Self.registerImprovementText(store)
        let storageGrant = Self.now.addingTimeInterval(-7200), improvementGrant = Self.now.addingTimeInterval(-3600)
        let consents = [Fixture.consent(.grant, pseudonym: Self.anna, at: storageGrant), Fixture.consent(.grant, pseudonym: Self.ben, at: storageGrant),
                        Fixture.consent(.grant, pseudonym: Self.anna, at: improvementGrant, purpose: .modelImprovement)]
        let annas = Self.outcome(Self.anna, candidates: [("p1", 0.71), ("p2", 0.64)])
        // Attempted before Anna's model-improvement grant, after her outcome-storage grant.
        let annasEarlier = Self.outcome(Self.anna, at: improvementGrant.addingTimeInterval(-60), candidates: [("p1", 0.5)])
        let bens = Self.outcome(Self.ben, candidates: [("p1", 0.33), ("p2", 0.36), ("p3", 0.31)])
        let plain = Self.outcome(Self.ben, candidates: [])
        let incoming = Fixture.incoming("kiosk-1", sequence: 1, outcomes: [annas, annasEarlier, bens, plain], consentEvents: consents)
        guard case let .stored(bytes) = try await store.storeBatch(incoming) else { Issue.record("not stored"); return }
        let receipt = try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes))
        #expect(receipt.acceptedEvents == 4 && receipt.refusedEvents.isEmpty)
        #expect(receipt.shadowScoresDropped == 4, "Ben's three and Anna's one from before her grant")
        #expect(try JSONValue.parse(bytes)["shadow_scores_dropped"]?.numberValue == 4)

        let stored = try await store.calibrationOutcomes(from: nil, to: nil)
        #expect(stored.count == 4)
        #expect(stored.filter { !$0.shadowScores.isEmpty }.map(\.shadowScores) == [annas.shadowScores])
        #expect(stored.filter { $0.subjectPseudonym == Self.ben }.allSatisfy { $0.shadowScores.isEmpty })
        // Counted under each candidate's model version, Anna's outcome only.
        let live = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
        for candidate in ["p1", "p2"] {
            #expect(live.cohorts[CohortKey(modelVersion: candidate, cameraModel: "c1", cohort: "s1")]?.outcomeCount == 1, "\(candidate)")
        }
        #expect(live.cohorts[CohortKey(modelVersion: "p3", cameraModel: "c1", cohort: "s1")]?.outcomeCount == nil)
        let agrees = live == (try await store.rebuiltStatistics())
        #expect(agrees, "live equals the rebuild")
        // The signed body still held Ben's scores: it is emptied, as for a refused outcome.
        #expect(try await Self.body(of: incoming.batchID, in: store).isEmpty)
        // Anna sees what is held: her scores, in her access export.
        let exported = try await compliance.subjectExport(pseudonym: Self.anna).outcomes.compactMap { $0["shadow_scores"]?.arrayValue }
        #expect(exported.map(\.count).sorted() == [0, 2])
        // A resend gets the original receipt.
        let again = Fixture.incoming("kiosk-1", sequence: 1, outcomes: [annas, annasEarlier, bens, plain], consentEvents: consents)
        #expect(again.upload.body == incoming.upload.body)
        #expect(try await store.storeBatch(again) == .alreadyStored(receipt: bytes))

        // With no scores dropped the body is kept.
        let kept = Fixture.incoming("kiosk-1", sequence: 2, outcomes: [Self.outcome(Self.anna, candidates: [("p3", 0.9)])], consentEvents: [])
        guard case let .stored(keptBytes) = try await store.storeBatch(kept) else { Issue.record("not stored"); return }
        #expect(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(keptBytes)).shadowScoresDropped == 0)
        #expect(try await Self.body(of: kept.batchID, in: store) == kept.upload.body)
        #expect(try await store.scoreStatistics(firstDay: nil, lastDay: nil)
            .cohorts[CohortKey(modelVersion: "p3", cameraModel: "c1", cohort: "s1")]?.outcomeCount == 1)
    }

    @Test("reading only the attempts another model also scored: `shadow` or `shadow_scores`, from the time asked", arguments: StoreBackEnd.available)
    func scoredInShadowOnly(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        try await Self.registerImprovementText(store)
        let grant = Self.now.addingTimeInterval(-7 * 86_400)
        let consents = [Fixture.consent(.grant, pseudonym: Self.anna, at: grant),
                        Fixture.consent(.grant, pseudonym: Self.anna, at: grant, purpose: .modelImprovement)]
        var plain = Self.outcome(Self.anna, candidates: [])
        plain.score = 0.61
        var shadowed = Self.outcome(Self.anna, candidates: [])
        shadowed.score = 0.62
        shadowed.shadow = .init(modelVersion: "m9", score: 0.42)
        var candidates = Self.outcome(Self.anna, candidates: [("p1", 0.71)])
        candidates.score = 0.63
        var earlier = Self.outcome(Self.anna, at: Self.now.addingTimeInterval(-3 * 86_400), candidates: [("p1", 0.2)])
        earlier.score = 0.64
        earlier.shadow = .init(modelVersion: "m9", score: 0.1)
        let incoming = Fixture.incoming("kiosk-1", sequence: 1, outcomes: [plain, shadowed, candidates, earlier], consentEvents: consents)
        #expect(try await store.storeBatch(incoming).isStored)

        let since = Self.now.addingTimeInterval(-86_400)
        let paired = try await store.calibrationOutcomes(from: since, to: nil, scoredInShadowOnly: true)
        #expect(paired.map(\.score).sorted() == [0.62, 0.63])
        #expect(paired.contains { $0.shadowModelVersion == "m9" && $0.shadowScore == 0.42 })
        #expect(paired.contains { $0.shadowScores.map(\.modelVersion) == ["p1"] })
        #expect(try await store.calibrationOutcomes(from: since, to: nil).count == 3, "every outcome of the time asked")
        #expect(try await store.calibrationOutcomes(from: nil, to: nil, scoredInShadowOnly: true).count == 3)
    }

    @Test("a model-improvement withdrawal clears the subject's stored shadow_scores and the bodies that carried them, uncounts them, and keeps the outcomes; later uploads' are dropped",
          arguments: StoreBackEnd.available)
    func improvementWithdrawal(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let compliance = try #require(store as? any ComplianceStore)
        try await Fixture.enrolled(store, "kiosk-1")
        try await Self.registerImprovementText(store)
        let grant = Self.now.addingTimeInterval(-7200)
        let consents = [Self.anna, Self.ben].flatMap { subject in
            [Fixture.consent(.grant, pseudonym: subject, at: grant), Fixture.consent(.grant, pseudonym: subject, at: grant, purpose: .modelImprovement)]
        }
        let first = Fixture.incoming("kiosk-1", sequence: 1, outcomes: [Self.outcome(Self.anna, candidates: [("p1", 0.7), ("p2", 0.6)]),
                                                                         Self.outcome(Self.ben, candidates: [("p1", 0.4)])],
                                     consentEvents: consents)
        #expect(try await store.storeBatch(first).isStored)
        let second = Fixture.incoming("kiosk-1", sequence: 2, outcomes: [Self.outcome(Self.anna, candidates: [])], consentEvents: [])
        #expect(try await store.storeBatch(second).isStored)
        let p1 = CohortKey(modelVersion: "p1", cameraModel: "c1", cohort: "s1"), p2 = CohortKey(modelVersion: "p2", cameraModel: "c1", cohort: "s1")
        #expect(try await store.scoreStatistics(firstDay: nil, lastDay: nil).cohorts[p1]?.outcomeCount == 2)

        let withdrawal = Fixture.incoming("kiosk-1", sequence: 3,
                                          outcomes: [Self.outcome(Self.anna, at: Self.now.addingTimeInterval(60), candidates: [("p2", 0.8)])],
                                          consentEvents: [Fixture.consent(.withdraw, pseudonym: Self.anna, at: Self.now.addingTimeInterval(120),
                                                                          purpose: .modelImprovement)])
        guard case let .stored(bytes) = try await store.storeBatch(withdrawal) else { Issue.record("not stored"); return }
        let receipt = try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes))
        #expect(receipt.acceptedEvents == 1 && receipt.shadowScoresDropped == 1, "the withdrawal reaches back to the attempt before it")

        let stored = try await store.calibrationOutcomes(from: nil, to: nil)
        #expect(stored.count == 4, "every outcome stays")
        #expect(stored.filter { $0.subjectPseudonym == Self.anna }.allSatisfy { $0.shadowScores.isEmpty })
        #expect(stored.filter { $0.subjectPseudonym == Self.ben }.map(\.shadowScores) == [[.init(modelVersion: "p1", score: 0.4)]])
        let live = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
        #expect(live.cohorts[p1]?.outcomeCount == 1 && live.cohorts[p2]?.outcomeCount == nil)
        let agrees = live == (try await store.rebuiltStatistics())
        #expect(agrees, "live equals the rebuild")
        #expect(try await Self.body(of: first.batchID, in: store).isEmpty, "the body held Anna's scores")
        #expect(try await Self.body(of: second.batchID, in: store) == second.upload.body, "this one held none")
        let erasure = try #require(try await compliance.erasures().first { $0.purpose == .modelImprovement })
        #expect(erasure.pseudonym == Self.anna && erasure.cause == .withdrawal && erasure.outcomesErased == 1 && erasure.batchesRedacted == 1)
        #expect(erasure.locations == ["server:outcome-shadow-scores", "server:batch-bodies"])
        #expect(try await compliance.subjectExport(pseudonym: Self.anna).outcomes.allSatisfy { $0["shadow_scores"]?.arrayValue?.isEmpty == true })
    }

    @Test("a receipt stored before shadow_scores_dropped reads as none dropped")
    func oldReceipt() throws {
        let old = #"{"accepted_events":1,"batch_id":"0b6f6d1e-5d3c-4d1f-9a57-6c0f0a3e2b11","consent_events":0,"content_digest":"x","device_id":"kiosk-1","protocol":"faceloop.receipt.v1","refused_events":[],"sequence":1,"stored_at":"2026-11-26T15:46:33.001Z"}"#
        #expect(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(old.utf8)).shadowScoresDropped == 0)
    }

    @Test("the column's text: compact, members in order, scores read back as the same doubles; NULL for none; anything else is an error")
    func columnText() throws {
        let scores: [MatchOutcome.ShadowScore] = [.init(modelVersion: "p\"1", score: 0.1 + 0.2), .init(modelVersion: "p2", score: 1e-7),
                                                  .init(modelVersion: "p3", score: 1)]
        let text = try #require(ShadowScoresColumn.encode(scores))
        #expect(text == #"[{"model_version":"p\"1","score":0.30000000000000004},{"model_version":"p2","score":1e-07},{"model_version":"p3","score":1}]"#)
        #expect(try ShadowScoresColumn.decode(text) == scores)
        #expect(ShadowScoresColumn.encode([]) == nil)
        #expect(try ShadowScoresColumn.decode(nil) == [])
        for malformed in ["", "[]", "{}", #"[{"model_version":"p1"}]"#, #"[{"score":0.5}]"#, "[1]"] {
            #expect(throws: ShadowScoresColumn.Malformed.self, "\(malformed)") { try ShadowScoresColumn.decode(malformed) }
        }
    }

    /// A store of outcomes without `shadow_scores` (`History(shadowScores: false)`), brought
    /// back to before v14 and v15: no column, no statistics tables.
    static func populate(_ store: any FeedbackStore, seed: UInt64) async throws -> History {
        var history = History(seed: seed, shadowScores: false)
        try await Tests.prepare(store, &history)
        for _ in 0..<20 { _ = try await history.step(store) }
        return history
    }

    /// In an order of their own: a rewritten table may scan in another.
    static func sorted(_ outcomes: [CalibrationOutcome]) -> [CalibrationOutcome] {
        outcomes.sorted { "\($0.attemptedAt.timeIntervalSince1970) \($0.subjectPseudonym) \($0.modelVersion) \($0.score) \($0.label)"
            < "\($1.attemptedAt.timeIntervalSince1970) \($1.subjectPseudonym) \($1.modelVersion) \($1.score) \($1.label)" }
    }

    /// After the upgrade: the outcomes and statistics as before; new outcomes keep their
    /// `shadow_scores`, counted live as the rebuild counts them.
    static func checkUpgraded(_ upgraded: any FeedbackStore, outcomes: [CalibrationOutcome], live: LiveStatistics,
                              history: inout History) async throws {
        #expect(Self.sorted(try await upgraded.calibrationOutcomes(from: nil, to: nil)) == Self.sorted(outcomes))
        #expect(try await upgraded.scoreStatistics(firstDay: nil, lastDay: nil) == live)
        #expect(try await Tests.agree(upgraded, history: &history, context: "upgraded"))
        history.shadowScores = true
        for _ in 0..<15 { _ = try await history.step(upgraded) }
        #expect(try await upgraded.calibrationOutcomes(from: nil, to: nil).contains { !$0.shadowScores.isEmpty })
        #expect(try await Tests.agree(upgraded, history: &history, context: "after the upgrade"))
    }

    @Test("SQLite v15-shadow-scores: a file from before it (and before v14) upgrades; v14's fill reads no shadow_scores there",
          arguments: [7, 8])
    func sqliteUpgrade(seed: UInt64) async throws {
        let directory = try temporaryDirectory("shadow-scores-upgrade")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let store = try SQLiteStore(path: path)
        var history = try await Self.populate(store, seed: seed)
        let outcomes = try await store.calibrationOutcomes(from: nil, to: nil)
        let live = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
        #expect(!live.cohorts.isEmpty)
        try await store.pool.write { db in
            for table in ["score_statistics", "outcome_counts", "batch_counts"] { try db.execute(sql: "DROP TABLE \(table)") }
            try db.execute(sql: "ALTER TABLE outcomes DROP COLUMN shadow_scores")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier IN ('v14-score-statistics', 'v15-shadow-scores')")
        }
        let upgraded = try SQLiteStore(path: path)
        let columns = try await upgraded.pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('outcomes')") }
        #expect(columns.last == "shadow_scores")
        try await Self.checkUpgraded(upgraded, outcomes: outcomes, live: live, history: &history)
    }

    @Test("PostgreSQL v12-shadow-scores: a database from before it (and before v11) upgrades; v11's fill reads no shadow_scores there",
          .enabled(if: PostgresTestDatabase.isAvailable))
    func postgresUpgrade() async throws {
        let url = try await PostgresTestDatabase.create()
        let store = try await PostgresStore(url: url, maximumConnections: 2)
        var history = try await Self.populate(store, seed: 9)
        let outcomes = try await store.calibrationOutcomes(from: nil, to: nil)
        let live = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
        try await store.write { db in
            for table in ["score_statistics", "outcome_counts", "batch_counts"] { try await db.execute("DROP TABLE \(table)") }
            try await db.execute("ALTER TABLE outcomes DROP COLUMN shadow_scores")
            try await db.execute("DELETE FROM schema_migrations WHERE name IN ('v11-score-statistics', 'v12-shadow-scores')")
        }
        await store.shutdown()
        let upgraded = try await PostgresStore(url: url, maximumConnections: 2)
        do {
            let columns = try await upgraded.read { db in
                try await db.fetchAll("""
                    SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'outcomes'
                    ORDER BY ordinal_position
                    """).map { try $0.text("column_name") }
            }
            #expect(columns.last == "shadow_scores")
            try await Self.checkUpgraded(upgraded, outcomes: outcomes, live: live, history: &history)
        } catch {
            await upgraded.shutdown()
            throw error
        }
        await upgraded.shutdown()
    }
}

extension FeedbackStore {
    /// The reference the live statistics must equal.
    func rebuiltStatistics() async throws -> LiveStatistics {
        try ScoreStatisticsRebuild.window(ScoreStatisticsRebuild.daily(try await calibrationOutcomes(from: nil, to: nil)),
                                          firstDay: nil, lastDay: nil)
    }
}
