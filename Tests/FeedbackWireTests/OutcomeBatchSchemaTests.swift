@testable import FeedbackWire
import Foundation
@testable import StrictJSON
import TestSupport
import Testing

@Suite("The outcome batch schema and its decoder")
struct OutcomeBatchSchemaTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("the embedded schema is exactly the published file in schemas/")
    func embeddedMatchesPublished() throws {
        for (name, text) in OutcomeBatchValidator.schemaDocuments {
            let published = try Data(contentsOf: Self.repositoryRoot.appendingPathComponent("schemas").appendingPathComponent(name))
            #expect(try JSONValue.parse([UInt8](published)) == JSONValue.parse(text),
                    "run scripts/embed-schemas.sh after editing schemas/\(name)")
        }
    }

    @Test("a batch survives encoding and decoding unchanged")
    func roundTrip() throws {
        let batch = SampleBatch.batch(count: 3)
        let decoded = try OutcomeBatchValidator.shared.decode(batch.encoded()).get()
        #expect(decoded == batch)
    }

    static func violations(_ mutate: (inout [(key: String, value: JSONValue)]) -> Void) -> [JSONSchemaViolation] {
        guard case var .object(members) = SampleBatch.batch(count: 1).json else { return [] }
        mutate(&members)
        switch OutcomeBatchValidator.shared.decode(JSONValue.object(members).serialized()) {
        case .success: return []
        case let .failure(.schema(v)): return v
        case .failure(.malformedJSON): return [JSONSchemaViolation(pointer: "?", keyword: "json", message: "")]
        }
    }

    static func setOutcomeField(_ key: String, _ value: JSONValue?) -> (inout [(key: String, value: JSONValue)]) -> Void {
        { members in
            guard let index = members.firstIndex(where: { $0.key == "outcomes" }),
                  case var .array(items) = members[index].value, case var .object(fields) = items[0] else { return }
            fields.removeAll { $0.key == key }
            if let value { fields.append((key, value)) }
            items[0] = .object(fields)
            members[index].value = .array(items)
        }
    }

    @Test("violations name the offending field with a JSON pointer", arguments: [
        ("score", JSONValue.number(1.5), "/outcomes/0/score", "maximum"),
        ("score", JSONValue.string("high"), "/outcomes/0/score", "type"),
        ("label", JSONValue.string("maybe"), "/outcomes/0/label", "enum"),
        ("event_id", JSONValue.string("not-a-uuid"), "/outcomes/0/event_id", "format"),
        ("embedding", JSONValue.array([.number(0.1), .number(0.2)]), "/outcomes/0/embedding", "additionalProperties"),
        ("image", JSONValue.string("/9j/4AAQ"), "/outcomes/0/image", "additionalProperties"),
    ])
    func pointers(field: String, value: JSONValue, pointer: String, keyword: String) {
        let found = Self.violations(Self.setOutcomeField(field, value))
        #expect(found.contains { $0.pointer == pointer && $0.keyword == keyword }, "\(found)")
    }

    @Test("a missing required field is reported at its own pointer")
    func missing() {
        let found = Self.violations(Self.setOutcomeField("subject", nil))
        #expect(found == [JSONSchemaViolation(pointer: "/outcomes/0/subject", keyword: "required", message: "is required")])
    }

    @Test("empty batches and wrong protocol are refused")
    func batchLevel() {
        let empty = Self.violations { members in
            if let i = members.firstIndex(where: { $0.key == "outcomes" }) { members[i].value = .array([]) }
        }
        // A batch must carry at least one outcome or one consent event.
        #expect(empty.contains { $0.pointer == "" && $0.keyword == "anyOf" })
        let wrongProtocol = Self.violations { members in
            if let i = members.firstIndex(where: { $0.key == "protocol" }) { members[i].value = .string("v0") }
        }
        #expect(wrongProtocol.contains { $0.pointer == "/protocol" && $0.keyword == "const" })
    }

    @Test("malformed JSON is told apart from schema violations")
    func malformed() {
        guard case .failure(.malformedJSON) = OutcomeBatchValidator.shared.decode(Array("{\"protocol\":".utf8)) else {
            Issue.record("expected malformed JSON")
            return
        }
    }
}
