@testable import FeedbackWire
import Foundation
@testable import StrictJSON
import TestSupport
import Testing

/// An outcome may carry a candidate model's score of the same attempt (`shadow`): a closed
/// object holding one number under a model version that is not the outcome's own.
@Suite("Shadow scores on the wire")
struct ShadowScoreTests {
    static func shadowed(_ shadow: MatchOutcome.ShadowScore?) -> MatchOutcome {
        var outcome = SampleBatch.outcome(0)
        outcome.shadow = shadow
        return outcome
    }

    /// The sample batch with one outcome whose `shadow` member is `value`, decoded.
    static func decode(shadow value: JSONValue) -> Result<OutcomeBatch, OutcomeBatchValidator.Failure> {
        let batch = SampleBatch.batch(count: 1)
        guard case var .object(members) = batch.json, let index = members.firstIndex(where: { $0.key == "outcomes" }),
              case var .object(fields) = batch.outcomes[0].json else { return .failure(.schema([])) }
        fields.append(("shadow", value))
        members[index].value = .array([.object(fields)])
        return OutcomeBatchValidator.shared.decode(JSONValue.object(members).serialized())
    }

    static func violations(shadow value: JSONValue) -> [JSONSchemaViolation] {
        if case let .failure(.schema(found)) = decode(shadow: value) { return found }
        return []
    }

    @Test("an outcome with a shadow score survives the batch's encoding and decoding, and its JSON is the documented shape")
    func roundTrip() throws {
        let outcome = Self.shadowed(.init(modelVersion: "dlib-resnet-v1:adapter-2", score: -0.40625))
        let batch = OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: SampleBatch.attemptedAt, outcomes: [outcome])
        #expect(try OutcomeBatchValidator.shared.decode(batch.encoded()).get() == batch)
        let json = try JSONValue.parse(outcome.encoded())
        #expect(json["shadow"] == .object([("model_version", .string("dlib-resnet-v1:adapter-2")), ("score", .number(-0.40625))]))
        #expect(OutcomeBatchValidator.shared.outcomeSchema.validate(json).isEmpty)
        #expect(try MatchOutcome(validated: json) == outcome)
    }

    @Test("an outcome without a shadow score is written exactly as before the field existed")
    func absentShadowUnchanged() throws {
        let outcome = SampleBatch.outcome(0)
        let text = String(decoding: outcome.encoded(), as: UTF8.self)
        #expect(!text.contains("shadow"))
        let expected = #"{"event_id":"\#(outcome.eventID.uuidString.lowercased())","attempted_at":"2026-09-21T14:13:20.000Z","#
            + #""model_version":"dlib-resnet-v1","threshold_version":"t-0001","#
            + #""cohort":{"site":"branch-042","camera_model":"cam-x1","tags":["lobby"]},"score":0.8125,"decision":"accept","#
            + #""label":"genuine","label_source":"fallback_id_check","quality":{"face_size_px":180,"sharpness":143.5,"brightness":0.52},"#
            + #""liveness_score":0.97,"subject":{"pseudonym":"\#(String(repeating: "ab", count: 32))","consent_ref":"consent-7"}}"#
        #expect(text == expected)
        #expect(try MatchOutcome(validated: JSONValue.parse(outcome.encoded())).shadow == nil)
    }

    @Test("the schema refuses an extra member, a score outside [-1, 1], a missing member, a bad version and a descriptor-like array",
          arguments: [
              (#"{"model_version":"cand-2","score":0.5,"note":"x"}"#, "/outcomes/0/shadow/note", "additionalProperties"),
              (#"{"model_version":"cand-2","score":1.0001}"#, "/outcomes/0/shadow/score", "maximum"),
              (#"{"model_version":"cand-2","score":-1.5}"#, "/outcomes/0/shadow/score", "minimum"),
              (#"{"model_version":"cand-2","score":"0.5"}"#, "/outcomes/0/shadow/score", "type"),
              (#"{"model_version":"cand-2"}"#, "/outcomes/0/shadow/score", "required"),
              (#"{"score":0.5}"#, "/outcomes/0/shadow/model_version", "required"),
              (#"{"model_version":"cand 2","score":0.5}"#, "/outcomes/0/shadow/model_version", "pattern"),
              (#"{"model_version":"\#(String(repeating: "v", count: 65))","score":0.5}"#, "/outcomes/0/shadow/model_version", "pattern"),
              (#"{"model_version":"cand-2","score":[0.1,0.2,0.3]}"#, "/outcomes/0/shadow/score", "type"),
              (#"[0.1,0.2,0.3,0.4]"#, "/outcomes/0/shadow", "type"),
              (#"0.5"#, "/outcomes/0/shadow", "type"),
          ])
    func schemaRefusals(shadow: String, pointer: String, keyword: String) throws {
        let found = Self.violations(shadow: try JSONValue.parse(shadow))
        #expect(found.contains { $0.pointer == pointer && $0.keyword == keyword }, "\(found)")
    }

    @Test("a shadow score under the outcome's own model version is refused with a pointer and a reason, by the batch and by the outcome decoder")
    func sameVersionRefused() throws {
        let valid = Self.decode(shadow: try JSONValue.parse(#"{"model_version":"cand-2","score":0.5}"#))
        #expect((try? valid.get())?.outcomes.first?.shadow == .init(modelVersion: "cand-2", score: 0.5))

        let found = Self.violations(shadow: try JSONValue.parse(#"{"model_version":"dlib-resnet-v1","score":0.5}"#))
        #expect(found.count == 1)
        #expect(found.first?.pointer == "/outcomes/0/shadow/model_version")
        #expect(found.first?.message.contains("must differ from the outcome's model_version") == true)

        let json = Self.shadowed(.init(modelVersion: "dlib-resnet-v1", score: 0.5)).json
        #expect(OutcomeBatchValidator.shared.outcomeSchema.validate(json).isEmpty, "the schema alone cannot compare the two versions")
        #expect(throws: WireDecodingError.self) { try MatchOutcome(validated: json) }
        do {
            _ = try MatchOutcome(validated: json)
        } catch {
            #expect(error.description == "field shadow/model_version must differ from the outcome's model_version (a shadow score is a candidate model's)")
        }
    }
}
