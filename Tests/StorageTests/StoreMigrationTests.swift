import AuditLog
import Compliance
import FeedbackWire
import Foundation
import PostgresTestSupport
import Storage
import TestSupport
import Testing

@Suite("SQLite pilot to PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
struct StoreMigrationTests {
    typealias Fixture = FeedbackStoreTests

    @Test("every table is copied, refusal counts, backlog, shadow scores and model rollouts included, and the copy reads as the original")
    func copy() async throws {
        let directory = try temporaryDirectory("migrate")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let pilot = try SQLiteStore(path: path)
        try await Fixture.enrolled(pilot, "kiosk-1")
        var unconsented = Fixture.outcome()
        unconsented.subject.pseudonym = String(repeating: "f", count: 64)
        var shadowed = Fixture.outcome(label: .impostor)
        shadowed.shadow = .init(modelVersion: "m2", score: -0.375)
        // Another subject's: the withdrawal below erases the first subject's outcomes.
        shadowed.subject.pseudonym = String(repeating: "2", count: 64)
        var batch = Fixture.incoming("kiosk-1", sequence: 1, outcomes: [Fixture.outcome(), shadowed, unconsented],
                                     consentEvents: [Fixture.consent(.grant), Fixture.consent(.grant, pseudonym: shadowed.subject.pseudonym)])
        batch.batch.queueBacklog = 12
        _ = try await pilot.storeBatch(batch)
        _ = try await pilot.storeBatch(Fixture.incoming("kiosk-1", sequence: 2, outcomes: [Fixture.outcome()],
                                                       consentEvents: [Fixture.consent(.withdraw, at: Fixture.now.addingTimeInterval(-10))]))
        try await pilot.addAPIToken(sha256: String(repeating: "ab", count: 32), role: "engineer", label: "erin", at: Fixture.now,
                                    actor: "test")
        try await ModelRolloutStoreTests.publishReleases(2, in: pilot)
        #expect(try await pilot.transitionModelRollout(version: 2, from: [.candidate], to: ModelRolloutStoreTests.canary(2), actor: "olga"))

        let url = try await PostgresTestDatabase.create()
        let report = try await StoreMigration.copy(sqlitePath: path, to: url)
        #expect(report.tables.allSatisfy { $0.sourceRows == $0.copiedRows })
        #expect(report.tables.first { $0.name == "refused_event_counts" }?.copiedRows == 2, "no-consent and consent-withdrawn")
        #expect(report.tables.first { $0.name == "nonces" }?.copiedRows == 2)
        #expect(report.auditEntries == (try await pilot.auditTreeSize()))

        let copy = try await PostgresStore(url: url, maximumConnections: 2)
        #expect(try await copy.deviceSummaries() == (try await pilot.deviceSummaries()))
        #expect(try await copy.deviceSummaries().first?.reportedBacklog == 12)
        #expect(try await copy.outcomeStats() == (try await pilot.outcomeStats()))
        #expect(try await copy.erasures() == (try await pilot.erasures()))
        #expect(try await copy.auditEntries(from: 0, to: report.auditEntries) == (try await pilot.auditEntries(from: 0, to: report.auditEntries)))
        #expect(try await copy.apiToken(sha256: String(repeating: "ab", count: 32))?.label == "erin")
        #expect(report.tables.first { $0.name == "model_rollouts" }?.copiedRows == 1)
        #expect(try await copy.modelRollouts() == (try await pilot.modelRollouts()))
        #expect(try await copy.modelRollout(version: 2) == ModelRolloutStoreTests.canary(2))
        let byScore = { (outcomes: [CalibrationOutcome]) in outcomes.sorted { ($0.score, $0.label) < ($1.score, $1.label) } }
        let copiedOutcomes = byScore(try await copy.calibrationOutcomes(from: nil, to: nil))
        #expect(copiedOutcomes == byScore(try await pilot.calibrationOutcomes(from: nil, to: nil)))
        #expect(copiedOutcomes.compactMap(\.shadowScore) == [-0.375], "the shadow score came along")
        // The copy carries on: a new consent event is numbered after the copied ones.
        guard case .stored = try await copy.storeBatch(Fixture.incoming("kiosk-1", sequence: 3, outcomes: [Fixture.outcome()])) else {
            Issue.record("the copy refused a new batch")
            await copy.shutdown()
            return
        }
        await copy.shutdown()

        await #expect(throws: StoreMigration.Failure.self, "a database holding data is refused") {
            _ = try await StoreMigration.copy(sqlitePath: path, to: url)
        }
    }

    @Test("a signed body SQLite keeps as a Zstandard frame reaches PostgreSQL as the bytes the kiosk signed")
    func signedBodies() async throws {
        let directory = try temporaryDirectory("migrate-bodies")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let pilot = try SQLiteStore(path: path)
        try await Fixture.enrolled(pilot, "kiosk-1")
        let incoming = Fixture.incoming("kiosk-1", sequence: 1, outcomes: (0..<50).map { _ in Fixture.outcome() })
        guard case .stored = try await pilot.storeBatch(incoming) else { Issue.record("not stored"); return }
        #expect(try await ShadowScoresStoreTests.storedBody(of: incoming.batchID, in: pilot).starts(with: [0x28, 0xB5, 0x2F, 0xFD]))

        let url = try await PostgresTestDatabase.create()
        _ = try await StoreMigration.copy(sqlitePath: path, to: url)
        let copy = try await PostgresStore(url: url, maximumConnections: 2)
        #expect(try await ShadowScoresStoreTests.storedBody(of: incoming.batchID, in: copy) == incoming.body)
        await copy.shutdown()
    }
}
