import Compliance
import FeedbackWire
import Foundation
@testable import Storage
import Testing

/// Batches without consent events decide from consent state that earlier batches read
/// (SQLite's `SQLiteConsentMemo`). Each test lets a batch read a subject's consent in force,
/// changes that consent outside any batch, and expects the next batch to be refused: it would
/// be stored if the state read before were still used.
@Suite("Consent memo")
struct ConsentMemoTests {
    typealias Fixture = FeedbackStoreTests
    static let now = Fixture.now
    static let ben = String(repeating: "b", count: 64)

    static func outcome(_ pseudonym: String, at time: Date) -> MatchOutcome {
        var outcome = Fixture.outcome()
        outcome.subject = .init(pseudonym: pseudonym, consentRef: "c")
        outcome.attemptedAt = time
        return outcome
    }

    /// Stores a grant for Ben, then a batch of his without consent events (which reads his
    /// consent and keeps it); the next batch's sequence is 3.
    static func consentedAndRead(_ store: any FeedbackStore) async throws {
        try await Fixture.enrolled(store, "kiosk-1")
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [outcome(ben, at: now)],
                                                        consentEvents: [Fixture.consent(.grant, pseudonym: ben)]))
        guard case let .stored(bytes) = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 2,
                                                                                    outcomes: [outcome(ben, at: now.addingTimeInterval(5))],
                                                                                    consentEvents: [])) else {
            Issue.record("not stored")
            return
        }
        #expect(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes)).acceptedEvents == 1)
    }

    static func reasons(_ result: BatchStoreResult) throws -> [String] {
        guard case let .stored(bytes) = result else { Issue.record("not stored: \(result)"); return [] }
        return try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes)).refusedEvents.map(\.reason)
    }

    @Test("an erasure request made through the store is seen by the next batch", arguments: StoreBackEnd.available)
    func erasureThroughTheStore(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Self.consentedAndRead(store)
        let compliance = try #require(store as? any ComplianceStore)
        _ = try await compliance.eraseSubject(pseudonym: Self.ben, purposes: [.thresholdCalibration], cause: .request, trigger: "request-1",
                                              requestedAt: Self.now.addingTimeInterval(20), actor: "test", at: Self.now.addingTimeInterval(20))
        let later = Fixture.incoming("kiosk-1", sequence: 3, outcomes: [Self.outcome(Self.ben, at: Self.now.addingTimeInterval(30))],
                                     consentEvents: [])
        #expect(try Self.reasons(try await store.storeBatch(later)) == ["consent-withdrawn"])
    }

    @Test("a change committed by another connection to the file is seen by the next batch", arguments: StoreBackEnd.available)
    func erasureThroughAnotherConnection(backEnd: StoreBackEnd) async throws {
        let (store, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Self.consentedAndRead(store)
        let other = try #require(try await reopen() as? any ComplianceStore)
        _ = try await other.eraseSubject(pseudonym: Self.ben, purposes: [.thresholdCalibration], cause: .request, trigger: "request-1",
                                         requestedAt: Self.now.addingTimeInterval(20), actor: "test", at: Self.now.addingTimeInterval(20))
        let later = Fixture.incoming("kiosk-1", sequence: 3, outcomes: [Self.outcome(Self.ben, at: Self.now.addingTimeInterval(30))],
                                     consentEvents: [])
        #expect(try Self.reasons(try await store.storeBatch(later)) == ["consent-withdrawn"])
    }

    @Test("a limit committed by another connection keeps the next batch's outcomes out of the statistics", arguments: StoreBackEnd.available)
    func limitThroughAnotherConnection(backEnd: StoreBackEnd) async throws {
        let (store, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Self.consentedAndRead(store)
        let other = try await reopen()
        _ = try await other.storeBatch(Fixture.incoming("kiosk-1", sequence: 3, outcomes: [],
                                                        consentEvents: [Fixture.consent(.limit, pseudonym: Self.ben,
                                                                                        at: Self.now.addingTimeInterval(20))]))
        // Attempted before the limit, so stored; but no longer counted.
        let later = Fixture.incoming("kiosk-1", sequence: 4, outcomes: [Self.outcome(Self.ben, at: Self.now.addingTimeInterval(10))],
                                     consentEvents: [])
        #expect(try Self.reasons(try await store.storeBatch(later)) == [])
        let outcomes = try await store.calibrationOutcomes(from: nil, to: nil)
        #expect(outcomes.isEmpty, "a restricted subject's outcomes are not calibrated on")
        #expect(try await store.scoreStatistics(firstDay: nil, lastDay: nil)
                == (try ScoreStatisticsRebuild.window(ScoreStatisticsRebuild.daily(outcomes), firstDay: nil, lastDay: nil)))
    }

    @Test("a withdrawal in a batch is seen by the batches after it", arguments: StoreBackEnd.available)
    func withdrawalInABatch(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Self.consentedAndRead(store)
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 3, outcomes: [],
                                                        consentEvents: [Fixture.consent(.withdraw, pseudonym: Self.ben,
                                                                                        at: Self.now.addingTimeInterval(20))]))
        let later = Fixture.incoming("kiosk-1", sequence: 4, outcomes: [Self.outcome(Self.ben, at: Self.now.addingTimeInterval(30))],
                                     consentEvents: [])
        #expect(try Self.reasons(try await store.storeBatch(later)) == ["consent-withdrawn"])
    }
}
