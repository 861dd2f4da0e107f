import FeedbackWire
import Foundation
@testable import Storage
import Testing

/// What a batch's upload works out before it waits for SQLite's writer must be what the writer
/// would have made itself.
@Suite("Prepared batches")
struct PreparedBatchTests {
    typealias Contract = FeedbackStoreTests

    @Test("a consent event's intake made before the wait is the one the writer makes once the event's text is registered; none for a withdrawal")
    func consentIntakesMadeBefore() throws {
        let events = [Contract.consent(.grant), Contract.consent(.limit), Contract.consent(.reconsent), Contract.consent(.withdraw),
                      Contract.consent(.grant, pseudonym: String(repeating: "ab", count: 32), purpose: .modelImprovement)]
        let incoming = Contract.incoming("kiosk-1", sequence: 3, outcomes: [Contract.outcome()], consentEvents: events)
        let prepared = try PreparedBatch(incoming, sql: SQLiteStore.sql)
        #expect(prepared.consentIntakes.count == events.count)
        for (event, madeBefore) in zip(events, prepared.consentIntakes) {
            guard event.kind != .withdraw else {
                #expect(madeBefore == nil)
                continue
            }
            let intake = try #require(madeBefore)
            let made = try ConsentEventIntake(event, deviceID: "kiosk-1", batchID: prepared.batchID, receivedAt: incoming.receivedAt,
                                              registeredHashes: [String(repeating: "0", count: 64), event.textSHA256],
                                              now: Date().addingTimeInterval(5), sql: SQLiteStore.sql)
            #expect(intake.refusal == nil && made.refusal == nil)
            #expect(intake.insert == made.insert)
            #expect(intake.erasure == nil && made.erasure == nil)
            for index in [0, 41, 1_000_003] {
                #expect(try intake.audit.entryBytes(index: index) == made.audit.entryBytes(index: index))
            }
        }
    }
}
