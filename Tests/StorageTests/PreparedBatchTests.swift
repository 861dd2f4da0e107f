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

    @Test("outcome inserts packed as they are spelled equal the statements' arguments packed afterwards",
          arguments: [1, 15, 16, 17, 100])
    func outcomeInsertsPacked(count: Int) throws {
        let outcomes = (0..<count).map { index -> MatchOutcome in
            var outcome = Contract.outcome(label: index % 3 == 0 ? .impostor : .genuine, site: "site-\(index % 4)")
            outcome.eventID = UUID()
            outcome.livenessScore = index % 2 == 0 ? nil : Double(index) / 100
            outcome.cohort.tags = index % 5 == 0 ? [] : ["lobby", "t\(index % 2)"]
            outcome.subject.keyVersion = 1 + index % 3
            if index % 4 == 1 { outcome.shadow = .init(modelVersion: "m2", score: 0.25) }
            if index % 6 == 2 { outcome.shadowScores = [.init(modelVersion: "m3", score: -0.5), .init(modelVersion: "m4", score: 1)] }
            return outcome
        }
        let sql = SQLiteStore.sql
        let receivedAt = Date(timeIntervalSince1970: 1_800_000_000.125)
        let listed = sql.insertOutcomes(outcomes, batchID: "b-1", deviceID: "kiosk-1", receivedAt: receivedAt)
        let packed = sql.packedOutcomeInserts(outcomes, batchID: "b-1", deviceID: "kiosk-1", receivedAt: receivedAt)
        #expect(packed.map(\.sql) == listed.map(\.sql))
        #expect(packed.map(\.sqlitePacked) == listed.map { SQLitePackedArguments($0.arguments) })
        #expect(packed.allSatisfy { $0.arguments.isEmpty })
        // What the writer reads back from a packed statement when an id turns out stored.
        #expect(packed.first?.sqlitePacked?.text(at: 0) == outcomes.first?.eventID.uuidString.lowercased())
        #expect(packed.first?.sqlitePacked?.text(at: 1) == "b-1")
        #expect(packed.first?.sqlitePacked?.text(at: 3) == nil)
    }
}
