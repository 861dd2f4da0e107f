@testable import Agent
import FeedbackWire
import Foundation
import StrictJSON
import Testing

/// The kiosk queues what the wire types write: outcomes and consent events built in code and
/// those read as JSON end up as the same bytes, checked by the same schema.
@Suite("The agent's record path")
struct RecordPathTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000.5)

    /// Runs `body` with an agent in a fresh directory, removed afterwards.
    static func withAgent(_ body: (KioskAgent) throws -> Void) throws {
        let directory = try UploadQueueTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try body(KioskAgent(files: AgentFiles(directory: directory)))
    }

    static func consent() -> ConsentEvent {
        ConsentEvent(eventID: UUID(), occurredAt: now, pseudonym: String(repeating: "e", count: 64), purpose: "threshold-calibration",
                     kind: .grant, method: .touch, site: "s1", textVersion: "v1", textSHA256: String(repeating: "a", count: 64))
    }

    /// The bytes of each member under `key` of the one batch sealed from everything recorded
    /// so far; the validator must accept the batch.
    static func sealed(_ agent: KioskAgent, _ key: String) throws -> [[UInt8]] {
        let queue = try agent.openQueue()
        try queue.seal(deviceID: "kiosk-1", batchSize: 100, at: now)
        let batches = try queue.sealedBatches()
        #expect(batches.count == 1)
        let body = try #require(batches.first).body
        _ = try OutcomeBatchValidator.shared.decode(body).get()
        return (try JSONValue.parse(body)[key]?.arrayValue ?? []).map { $0.serialized() }
    }

    @Test("an outcome built in code is queued as exactly its encoded bytes, in a batch the validator accepts")
    func typedOutcome() throws {
        try Self.withAgent { agent throws in
            var outcome = UploadQueueTests.outcome()
            outcome.cohort.tags = ["lobby"]
            outcome.livenessScore = 0.9
            #expect(try agent.record([outcome], now: Self.now) == [outcome])
            #expect(try Self.sealed(agent, "outcomes") == [outcome.encoded()])
        }
    }

    @Test("an outcome read as JSON, with id and time left to the agent, is queued as the bytes of the same value built in code")
    func jsonOutcomeMatchesTyped() throws {
        try Self.withAgent { agent throws in
            guard case var .object(members) = UploadQueueTests.outcome().json else { return }
            members.removeAll { $0.key == "event_id" || $0.key == "attempted_at" }
            let recorded = try #require(try agent.record([.object(members)], now: Self.now).first)
            var expected = UploadQueueTests.outcome()
            expected.eventID = recorded.eventID
            expected.attemptedAt = Self.now
            #expect(recorded == expected)
            #expect(try Self.sealed(agent, "outcomes") == [expected.encoded()])
        }
    }

    @Test("a value built in code meets the schema's checks too, and a refused call queues nothing")
    func typedOutcomeValidated() throws {
        try Self.withAgent { agent throws in
            var outOfRange = UploadQueueTests.outcome()
            outOfRange.score = 1.5
            var badPseudonym = UploadQueueTests.outcome()
            badPseudonym.subject.pseudonym = "Alice"
            for bad in [outOfRange, badPseudonym] {
                #expect(throws: AgentError.self) { try agent.record([UploadQueueTests.outcome(), bad], now: Self.now) }
            }
            var badConsent = Self.consent()
            badConsent.textSHA256 = "not-a-digest"
            #expect(throws: AgentError.self) { try agent.recordConsent([badConsent], now: Self.now) }
            #expect(try agent.openQueue().status().pendingOutcomes == 0)
        }
    }

    @Test("consent events from code and from JSON are queued as their encoded bytes, with id and time filled once")
    func consentEvents() throws {
        try Self.withAgent { agent throws in
            let typed = Self.consent()
            #expect(try agent.recordConsent([typed], now: Self.now) == [typed])
            guard case var .object(members) = Self.consent().json else { return }
            members.removeAll { $0.key == "event_id" || $0.key == "occurred_at" }
            let filled = try #require(try agent.recordConsent([.object(members)], now: Self.now).first)
            #expect(filled.occurredAt == Self.now && filled.eventID != typed.eventID)
            _ = try agent.record([UploadQueueTests.outcome()], now: Self.now)
            #expect(try Self.sealed(agent, "consent_events") == [typed.encoded(), filled.encoded()])
        }
    }
}
