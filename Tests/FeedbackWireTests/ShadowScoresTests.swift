@testable import FeedbackWire
import Foundation
@testable import StrictJSON
import TestSupport
import Testing

/// An outcome may carry the scores of a policy search's candidate releases (`shadow_scores`):
/// 1…16 closed objects, each one number under a model version that no other score of the
/// outcome (its own, `shadow`'s or another entry's) uses.
@Suite("Shadow scores of candidate releases on the wire")
struct ShadowScoresTests {
    static func scores(_ versions: [String]) -> [MatchOutcome.ShadowScore] {
        versions.enumerated().map { .init(modelVersion: $1, score: 0.25 + Double($0) / 64) }
    }

    /// The sample batch with one outcome carrying `shadow` (when given) and a `shadow_scores`
    /// member `value`, decoded.
    static func decode(shadowScores value: JSONValue, shadow: String? = nil) throws -> Result<OutcomeBatch, OutcomeBatchValidator.Failure> {
        let batch = SampleBatch.batch(count: 1)
        guard case var .object(members) = batch.json, let index = members.firstIndex(where: { $0.key == "outcomes" }),
              case var .object(fields) = batch.outcomes[0].json else { return .failure(.schema([])) }
        if let shadow { fields.append(("shadow", try JSONValue.parse(shadow))) }
        fields.append(("shadow_scores", value))
        members[index].value = .array([.object(fields)])
        return OutcomeBatchValidator.shared.decode(JSONValue.object(members).serialized())
    }

    static func violations(shadowScores text: String, shadow: String? = nil) throws -> [JSONSchemaViolation] {
        if case let .failure(.schema(found)) = try decode(shadowScores: try JSONValue.parse(text), shadow: shadow) { return found }
        return []
    }

    @Test("an outcome with shadow scores (and a shadow) survives the batch's encoding and decoding, in the documented shape")
    func roundTrip() throws {
        var outcome = SampleBatch.outcome(0)
        outcome.shadow = .init(modelVersion: "dlib-resnet-v1:adapter-2", score: 0.5)
        outcome.shadowScores = Self.scores((7...22).map { "dlib-resnet-v1:adapter-\($0)" })
        let batch = OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: SampleBatch.attemptedAt, outcomes: [outcome])
        #expect(try OutcomeBatchValidator.shared.decode(batch.encoded()).get() == batch)
        let json = try JSONValue.parse(outcome.encoded())
        #expect(json["shadow_scores"]?.arrayValue?.count == MatchOutcome.maxShadowScores)
        #expect(json["shadow_scores"]?.arrayValue?.first == .object([("model_version", .string("dlib-resnet-v1:adapter-7")), ("score", .number(0.25))]))
        #expect(OutcomeBatchValidator.shared.outcomeSchema.validate(json).isEmpty)
        #expect(try MatchOutcome(validated: json) == outcome)
    }

    @Test("an outcome without shadow scores is written without the member and decodes to none")
    func absentUnchanged() throws {
        let outcome = SampleBatch.outcome(0)
        #expect(!String(decoding: outcome.encoded(), as: UTF8.self).contains("shadow_scores"))
        #expect(try MatchOutcome(validated: JSONValue.parse(outcome.encoded())).shadowScores.isEmpty)
    }

    @Test("the schema refuses an empty or oversized list, a non-list, an extra member, a score outside [-1, 1] and a bad version",
          arguments: [
              (#"[]"#, "/outcomes/0/shadow_scores", "minItems"),
              ("[" + (1...17).map { #"{"model_version":"c-\#($0)","score":0.5}"# }.joined(separator: ",") + "]", "/outcomes/0/shadow_scores", "maxItems"),
              (#"{"model_version":"c-1","score":0.5}"#, "/outcomes/0/shadow_scores", "type"),
              (#"[0.1,0.2,0.3]"#, "/outcomes/0/shadow_scores/0", "type"),
              (#"[{"model_version":"c-1","score":0.5,"note":"x"}]"#, "/outcomes/0/shadow_scores/0/note", "additionalProperties"),
              (#"[{"model_version":"c-1","score":1.5}]"#, "/outcomes/0/shadow_scores/0/score", "maximum"),
              (#"[{"model_version":"c-1","score":-1.01}]"#, "/outcomes/0/shadow_scores/0/score", "minimum"),
              (#"[{"model_version":"c-1"}]"#, "/outcomes/0/shadow_scores/0/score", "required"),
              (#"[{"model_version":"c 1","score":0.5}]"#, "/outcomes/0/shadow_scores/0/model_version", "pattern"),
              (#"[{"model_version":"c-1","score":0.5},{"model_version":"c-2","score":[0.1,0.2]}]"#, "/outcomes/0/shadow_scores/1/score", "type"),
          ])
    func schemaRefusals(shadowScores: String, pointer: String, keyword: String) throws {
        let found = try Self.violations(shadowScores: shadowScores)
        #expect(found.contains { $0.pointer == pointer && $0.keyword == keyword }, "\(found)")
    }

    @Test("a shadow score repeating a model version (the outcome's, shadow's or another entry's) is refused with its pointer, by the batch and by the outcome decoder",
          arguments: [
              (["c-1", "dlib-resnet-v1"], 1, "must differ from the outcome's model_version"),
              (["c-1", "c-2", "cand-s"], 2, "must differ from shadow's model_version"),
              (["c-1", "c-2", "c-1"], 2, "must differ from every other entry's model_version"),
          ])
    func repeatedVersionRefused(versions: [String], index: Int, problem: String) throws {
        let shadow = #"{"model_version":"cand-s","score":0.1}"#
        let value = JSONValue.array(Self.scores(versions).map(\.json))
        let found = try Self.violations(shadowScores: value.serializedText, shadow: shadow)
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.pointer == "/outcomes/0/shadow_scores/\(index)/model_version")
        #expect(found.first?.keyword == "shadow-scores-model-version")
        #expect(found.first?.message.contains(problem) == true)

        var outcome = SampleBatch.outcome(0)
        outcome.shadow = .init(modelVersion: "cand-s", score: 0.1)
        outcome.shadowScores = Self.scores(versions)
        #expect(OutcomeBatchValidator.shared.outcomeSchema.validate(outcome.json).isEmpty, "the schema alone cannot compare the versions")
        do {
            _ = try MatchOutcome(validated: outcome.json)
            Issue.record("the outcome decoder accepted a repeated version")
        } catch {
            #expect(error.field == "shadow_scores/\(index)/model_version")
            #expect(error.problem.contains(problem))
        }
    }

    @Test("distinct versions beside a shadow pass, and the refusal is not fooled by a version that only differs from the others in score")
    func distinctVersionsPass() throws {
        let shadow = #"{"model_version":"cand-s","score":0.1}"#
        let value = JSONValue.array(Self.scores(["c-1", "c-2", "c-3"]).map(\.json))
        let batch = try Self.decode(shadowScores: value, shadow: shadow).get()
        #expect(batch.outcomes[0].shadowScores.map(\.modelVersion) == ["c-1", "c-2", "c-3"])
        #expect(batch.outcomes[0].shadow?.modelVersion == "cand-s")
    }
}

extension JSONValue {
    fileprivate var serializedText: String { String(decoding: serialized(), as: UTF8.self) }
}
