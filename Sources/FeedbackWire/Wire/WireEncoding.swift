import Foundation
import StrictJSON

extension MatchOutcome.ShadowScore {
    var json: JSONValue { .object([("model_version", .string(modelVersion)), ("score", .number(score))]) }
}

/// Conversions between the wire types and ``JSONValue``. The batch path avoids `JSONDecoder`
/// because it runs after schema validation on every upload and must be cheap.
extension MatchOutcome {
    public var json: JSONValue {
        let quality: [(key: String, value: JSONValue)] = [
            ("face_size_px", .number(Double(self.quality.faceSizePx))),
            ("sharpness", .number(self.quality.sharpness)),
            ("brightness", .number(self.quality.brightness)),
        ]
        var cohort: [(key: String, value: JSONValue)] = [
            ("site", .string(self.cohort.site)), ("camera_model", .string(self.cohort.cameraModel)),
        ]
        if !self.cohort.tags.isEmpty { cohort.append(("tags", .array(self.cohort.tags.map(JSONValue.string)))) }
        var members: [(key: String, value: JSONValue)] = [
            ("event_id", .string(eventID.uuidString.lowercased())),
            ("attempted_at", .string(RFC3339.format(attemptedAt))),
            ("model_version", .string(modelVersion)),
            ("threshold_version", .string(thresholdVersion)),
            ("cohort", .object(cohort)),
            ("score", .number(score)),
            ("decision", .string(decision.rawValue)),
            ("label", .string(label.rawValue)),
            ("label_source", .string(labelSource.rawValue)),
            ("quality", .object(quality)),
        ]
        if let livenessScore { members.append(("liveness_score", .number(livenessScore))) }
        var subjectMembers: [(key: String, value: JSONValue)] = [
            ("pseudonym", .string(subject.pseudonym)), ("consent_ref", .string(subject.consentRef)),
        ]
        // Version 1 is left out, so an outcome of a kiosk that predates key rotation keeps its bytes.
        if subject.keyVersion != 1 { subjectMembers.append(("key_version", .number(Double(subject.keyVersion)))) }
        members.append(("subject", .object(subjectMembers)))
        if let shadow {
            members.append(("shadow", shadow.json))
        }
        // Left out when empty, so an outcome without candidates keeps the bytes it always had.
        if !shadowScores.isEmpty { members.append(("shadow_scores", .array(shadowScores.map(\.json)))) }
        return .object(members)
    }

    /// The outcome's bytes, as queued on the kiosk and carried inside a batch.
    public func encoded() -> [UInt8] { json.serialized() }

    /// Builds an outcome from a value that already passed the outcome schema.
    public init(validated json: JSONValue) throws(WireDecodingError) {
        func string(_ key: String, in value: JSONValue) throws(WireDecodingError) -> String {
            guard let s = value[key]?.stringValue else { throw WireDecodingError(field: key) }
            return s
        }
        func number(_ key: String, in value: JSONValue) throws(WireDecodingError) -> Double {
            guard let n = value[key]?.numberValue else { throw WireDecodingError(field: key) }
            return n
        }
        guard let eventID = UUIDText.parse(try string("event_id", in: json)) else { throw WireDecodingError(field: "event_id") }
        guard let attemptedAt = RFC3339.parse(try string("attempted_at", in: json)) else { throw WireDecodingError(field: "attempted_at") }
        guard let cohortValue = json["cohort"], let qualityValue = json["quality"], let subjectValue = json["subject"] else {
            throw WireDecodingError(field: "cohort/quality/subject")
        }
        var shadow: ShadowScore?
        if let shadowValue = json["shadow"] {
            shadow = ShadowScore(modelVersion: try string("model_version", in: shadowValue), score: try number("score", in: shadowValue))
        }
        var shadowScores: [ShadowScore] = []
        if let items = json["shadow_scores"] {
            guard let array = items.arrayValue else { throw WireDecodingError(field: "shadow_scores") }
            for item in array {
                shadowScores.append(ShadowScore(modelVersion: try string("model_version", in: item), score: try number("score", in: item)))
            }
        }
        let modelVersion = try string("model_version", in: json)
        if let shadow, shadow.modelVersion == modelVersion {
            throw WireDecodingError(field: "shadow/model_version", problem: MatchOutcome.sameShadowVersionProblem)
        }
        if let (index, problem) = MatchOutcome.shadowScoresProblem(shadowScores.map(\.modelVersion), modelVersion: modelVersion,
                                                                   shadowVersion: shadow?.modelVersion) {
            throw WireDecodingError(field: "shadow_scores/\(index)/model_version", problem: problem)
        }
        guard let decision = Decision(rawValue: try string("decision", in: json)),
              let label = Label(rawValue: try string("label", in: json)),
              let labelSource = LabelSource(rawValue: try string("label_source", in: json))
        else { throw WireDecodingError(field: "decision/label/label_source") }
        self.init(
            eventID: eventID,
            attemptedAt: attemptedAt,
            modelVersion: modelVersion,
            thresholdVersion: try string("threshold_version", in: json),
            cohort: Cohort(site: try string("site", in: cohortValue),
                           cameraModel: try string("camera_model", in: cohortValue),
                           tags: cohortValue["tags"]?.arrayValue?.compactMap(\.stringValue) ?? []),
            score: try number("score", in: json),
            decision: decision,
            label: label,
            labelSource: labelSource,
            quality: CaptureQuality(faceSizePx: Int(try number("face_size_px", in: qualityValue)),
                                    sharpness: try number("sharpness", in: qualityValue),
                                    brightness: try number("brightness", in: qualityValue)),
            livenessScore: json["liveness_score"]?.numberValue,
            subject: SubjectReference(pseudonym: try string("pseudonym", in: subjectValue),
                                      consentRef: try string("consent_ref", in: subjectValue),
                                      keyVersion: subjectValue["key_version"]?.numberValue.map { Int($0) } ?? 1),
            shadow: shadow,
            shadowScores: shadowScores
        )
    }

    /// Why a shadow score under the outcome's own model version is refused: it would count
    /// the deployed model's attempts twice and compare the model with itself.
    static let sameShadowVersionProblem = "must differ from the outcome's model_version (a shadow score is a candidate model's)"

    /// The first entry of `shadow_scores` (its index and why) that counts a model twice: one
    /// under the outcome's own model version, under `shadow`'s, or under an earlier entry's.
    /// Each score counts under its model version in the live statistics, so any of these
    /// would count one attempt twice for one model or compare a model with itself.
    static func shadowScoresProblem(_ versions: [String], modelVersion: String, shadowVersion: String?) -> (Int, String)? {
        var seen: Set<String> = []
        for (index, version) in versions.enumerated() {
            if version == modelVersion { return (index, sameShadowVersionProblem) }
            if version == shadowVersion { return (index, shadowScoresShadowVersionProblem) }
            if !seen.insert(version).inserted { return (index, repeatedShadowScoreVersionProblem) }
        }
        return nil
    }

    static let shadowScoresShadowVersionProblem = "must differ from shadow's model_version (that candidate is already scored there)"
    static let repeatedShadowScoreVersionProblem = "must differ from every other entry's model_version (one score per candidate)"

    /// The pointers, relative to an outcome that passed the schema, of what the schema cannot
    /// say: a shadow score under the outcome's own model version, and `shadow_scores` entries
    /// that repeat a model version (the outcome's, `shadow`'s or one another's).
    static func crossFieldViolations(of json: JSONValue, at pointer: String) -> [JSONSchemaViolation] {
        var violations: [JSONSchemaViolation] = []
        let modelVersion = json["model_version"]?.stringValue
        let shadowVersion = json["shadow"]?["model_version"]?.stringValue
        if let shadowVersion, shadowVersion == modelVersion {
            violations.append(JSONSchemaViolation(pointer: pointer + "/shadow/model_version", keyword: "shadow-model-version",
                                                  message: sameShadowVersionProblem))
        }
        if let modelVersion, let items = json["shadow_scores"]?.arrayValue,
           let (index, problem) = shadowScoresProblem(items.map { $0["model_version"]?.stringValue ?? "" }, modelVersion: modelVersion,
                                                      shadowVersion: shadowVersion) {
            violations.append(JSONSchemaViolation(pointer: pointer + "/shadow_scores/\(index)/model_version",
                                                  keyword: "shadow-scores-model-version", message: problem))
        }
        return violations
    }
}

extension OutcomeBatch {
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("protocol", .string(OutcomeBatch.protocolName)),
            ("device_id", .string(deviceID)),
            ("sequence", .number(Double(sequence))),
            ("created_at", .string(RFC3339.format(createdAt))),
        ]
        if let queueBacklog { members.append(("queue_backlog", .number(Double(queueBacklog)))) }
        if !consentEvents.isEmpty { members.append(("consent_events", .array(consentEvents.map(\.json)))) }
        members.append(("outcomes", .array(outcomes.map(\.json))))
        return .object(members)
    }

    /// The exact bytes that are uploaded, digested and signed.
    public func encoded() -> [UInt8] { json.serialized() }

    public init(validated json: JSONValue) throws(WireDecodingError) {
        guard let deviceID = json["device_id"]?.stringValue else { throw WireDecodingError(field: "device_id") }
        guard let sequence = json["sequence"]?.numberValue else { throw WireDecodingError(field: "sequence") }
        guard let created = json["created_at"]?.stringValue.flatMap(RFC3339.parse) else { throw WireDecodingError(field: "created_at") }
        guard let items = json["outcomes"]?.arrayValue else { throw WireDecodingError(field: "outcomes") }
        var outcomes: [MatchOutcome] = []
        outcomes.reserveCapacity(items.count)
        for item in items { outcomes.append(try MatchOutcome(validated: item)) }
        var consentEvents: [ConsentEvent] = []
        for item in json["consent_events"]?.arrayValue ?? [] { consentEvents.append(try ConsentEvent(validated: item)) }
        self.init(deviceID: deviceID, sequence: Int64(sequence), createdAt: created, outcomes: outcomes, consentEvents: consentEvents,
                  queueBacklog: json["queue_backlog"]?.numberValue.map { Int($0) })
    }
}

/// A validated value lacked a field the wire type needs: a mismatch between the schema and
/// the code, reported instead of trapping.
public struct WireDecodingError: Error, Sendable, CustomStringConvertible {
    public let field: String
    /// What is wrong with it; a value can pass its schema and still be refused by a rule
    /// across two fields that a schema cannot state.
    public let problem: String

    init(field: String, problem: String = "is missing or has the wrong type") {
        self.field = field
        self.problem = problem
    }

    public var description: String { "field \(field) \(problem)" }
}

/// JSON coders for the API's Codable payloads: snake_case keys are spelled out in each
/// type's CodingKeys, dates are RFC 3339 in UTC.
public enum WireJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = RFC3339.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 date-time: \(text)")
            }
            return date
        }
        return decoder
    }
}
