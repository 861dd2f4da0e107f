@testable import FeedbackWire
import Foundation
@testable import StrictJSON
import TestSupport
import Testing

/// Each wire shape has one writer: the type's own `json`, whose bytes are `encoded()`. Batches
/// embed exactly those bytes, and they pass the published schema.
@Suite("One writer per wire shape")
struct WireWriterTests {
    static func consent(_ kind: ConsentEvent.Kind = .grant) -> ConsentEvent {
        ConsentEvent(eventID: UUID(), occurredAt: Date(timeIntervalSince1970: 1_789_000_000.25), pseudonym: String(repeating: "ab", count: 32),
                     purpose: "threshold-calibration", kind: kind, method: .eSignature, site: "branch-042", textVersion: "v3",
                     textSHA256: String(repeating: "0f", count: 32))
    }

    /// The sample outcome, and one without the optional members (no tags, no liveness score).
    static func outcomes() -> [MatchOutcome] {
        var bare = SampleBatch.outcome(1)
        bare.cohort.tags = []
        bare.livenessScore = nil
        bare.labelSource = .none
        bare.label = .unknown
        return [SampleBatch.outcome(0), bare]
    }

    /// Each value's bytes are its JSON, pass `schema`, decode to the same value and stand
    /// unchanged under `member` of the batch that carries them.
    func checkWriter<Event: WireEvent>(_ values: [Event], schema: JSONSchema, in batch: OutcomeBatch, member: String) throws {
        let carried = try JSONValue.parse(batch.encoded())[member]?.arrayValue ?? []
        #expect(carried.count == values.count)
        for (value, inBatch) in zip(values, carried) {
            let bytes = value.encoded()
            #expect(bytes == value.json.serialized())
            let parsed = try JSONValue.parse(bytes)
            #expect(schema.validate(parsed).isEmpty)
            #expect(try Event(validated: parsed) == value)
            #expect(inBatch.serialized() == bytes)
        }
    }

    @Test("an outcome's bytes pass the schema, decode to the same outcome and are what a batch carries")
    func outcomeBytes() throws {
        let outcomes = Self.outcomes()
        try checkWriter(outcomes, schema: OutcomeBatchValidator.shared.outcomeSchema,
                        in: OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: Date(), outcomes: outcomes), member: "outcomes")
        let keys = Set(try JSONValue.parse(outcomes[1].encoded()).objectValue?.map(\.key) ?? [])
        #expect(!keys.contains("liveness_score"), "absent optional members are left out, not null")
    }

    @Test("a consent event's bytes pass the schema, decode to the same event and are what a batch carries")
    func consentBytes() throws {
        let events = ConsentEvent.Kind.allCases.map(Self.consent)
        try checkWriter(events, schema: OutcomeBatchValidator.shared.consentEventSchema,
                        in: OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: Date(), outcomes: [], consentEvents: events),
                        member: "consent_events")
    }

    @Test("the wire types have no second, automatic encoder")
    func noAutomaticCoding() {
        #expect(!(MatchOutcome.self is any Encodable.Type))
        #expect(!(ConsentEvent.self is any Encodable.Type))
        #expect(!(OutcomeBatch.self is any Encodable.Type))
    }
}

/// What the writer checks need of a wire type.
protocol WireEvent: Equatable {
    var json: JSONValue { get }
    func encoded() -> [UInt8]
    init(validated json: JSONValue) throws(WireDecodingError)
}

extension MatchOutcome: WireEvent {}
extension ConsentEvent: WireEvent {}
