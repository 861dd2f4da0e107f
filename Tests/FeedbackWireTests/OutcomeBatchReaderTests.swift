import FeedbackWire
import Foundation
import StrictJSON
import Testing

/// The one-pass reader of uploads against the general way (parse, schema, decode): whatever
/// the reader accepts, the general way accepts as the same batch, and it declines a valid
/// upload only for what it leaves out on purpose (escapes, non-ASCII).
@Suite("The one-pass upload reader")
struct OutcomeBatchReaderTests {
    static let grant = ConsentEvent(eventID: UUID(), occurredAt: Date(timeIntervalSince1970: 1_790_000_000.25),
                                    pseudonym: String(repeating: "0f", count: 32), purpose: "threshold-calibration", kind: .grant,
                                    method: .eSignature, site: "branch-7", textVersion: "v2.1", textSHA256: String(repeating: "e3", count: 32),
                                    keyVersion: 3)

    /// Every member the schema allows, each kind of value once.
    static let full: MatchOutcome = MatchOutcome(
        eventID: UUID(), attemptedAt: Date(timeIntervalSince1970: 1_790_000_001.5), modelVersion: "dlib-resnet-v1",
        thresholdVersion: "t-0001", cohort: .init(site: "branch-7", cameraModel: "cam:x_1.2", tags: ["lobby", "night"]),
        score: -0.8125, decision: .reject, label: .impostor, labelSource: .userDispute,
        quality: .init(faceSizePx: 180, sharpness: 143.5, brightness: 0.52), livenessScore: 0.97,
        subject: .init(pseudonym: String(repeating: "ab", count: 32), consentRef: "consent-7", keyVersion: 2),
        shadow: .init(modelVersion: "candidate-1", score: 0.25),
        shadowScores: [.init(modelVersion: "policy-a", score: 0.5), .init(modelVersion: "policy-b", score: -1)])

    static func batches() -> [OutcomeBatch] {
        var random = SystemRandomNumberGenerator()
        let labels: [MatchOutcome.Label] = [.genuine, .impostor, .unknown]
        let sources = MatchOutcome.LabelSource.allCases
        var plain: [MatchOutcome] = []
        for index in 0..<40 {
            let cohort = MatchOutcome.Cohort(site: "branch-\(index % 4)", cameraModel: "cam", tags: index % 2 == 0 ? [] : ["t\(index)"])
            let quality = MatchOutcome.CaptureQuality(faceSizePx: index * 997 % 100_001, sharpness: Double.random(in: 0...1_000_000, using: &random),
                                                      brightness: Double(index) / 40)
            let subject = MatchOutcome.SubjectReference(pseudonym: String(format: "%064x", index),
                                                        consentRef: String(repeating: "c", count: 1 + index % 128))
            let liveness: Double? = index % 5 == 0 ? nil : Double.random(in: 0...1, using: &random)
            plain.append(MatchOutcome(eventID: UUID(), attemptedAt: Date(timeIntervalSince1970: 1_790_000_000 + Double(index) * 0.001),
                                      modelVersion: "m\(index % 3)", thresholdVersion: "initial", cohort: cohort,
                                      score: Double.random(in: -1...1, using: &random), decision: index % 2 == 0 ? .accept : .reject,
                                      label: labels[index % 3], labelSource: sources[index % sources.count], quality: quality,
                                      livenessScore: liveness, subject: subject))
        }
        return [
            OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: Date(timeIntervalSince1970: 1_790_000_100), outcomes: [full]),
            OutcomeBatch(deviceID: "k-2", sequence: 9_007_199_254_740_991, createdAt: Date(timeIntervalSince1970: 1_790_000_100.123),
                         outcomes: plain, consentEvents: [grant], queueBacklog: 100_000_000),
            OutcomeBatch(deviceID: "kiosk-3", sequence: 7, createdAt: Date(timeIntervalSince1970: 0), outcomes: [], consentEvents: [grant],
                         queueBacklog: 0),
        ]
    }

    @Test("uploads as agents write them are read directly, as the general way reads them")
    func agentsUploads() throws {
        for batch in Self.batches() {
            let body = batch.encoded()
            #expect(OutcomeBatchValidator.readDirectly(body) == batch)
            #expect(try OutcomeBatchValidator.shared.decodeBySchema(body).get() == batch)
        }
    }

    /// The full batch as a document with `marker` in place of the value at `path`, so that a
    /// value can be spelled in ways a ``JSONValue`` does not keep (number forms, escapes).
    static func document(replacing path: [String], with replacement: Replacement) -> JSONValue {
        let batch = OutcomeBatch(deviceID: "kiosk-001", sequence: 5, createdAt: Date(timeIntervalSince1970: 1_790_000_100),
                                 outcomes: [full], consentEvents: [grant], queueBacklog: 12)
        return edit(batch.json, path[...], replacement)
    }

    enum Replacement {
        case marker
        case remove
        case addUnknown
        case duplicate
    }

    static let marker = "@@value@@"

    static func edit(_ value: JSONValue, _ path: ArraySlice<String>, _ replacement: Replacement) -> JSONValue {
        guard let head = path.first else {
            switch replacement {
            case .marker: return .string(marker)
            case .addUnknown:
                guard case var .object(members) = value else { return value }
                members.append(("x_unknown", .number(1)))
                return .object(members)
            case .remove, .duplicate: return value
            }
        }
        switch value {
        case var .object(members):
            guard let index = members.firstIndex(where: { $0.key == head }) else { return value }
            if path.count == 1, replacement == .remove {
                members.remove(at: index)
            } else if path.count == 1, replacement == .duplicate {
                members.append(members[index])
            } else {
                members[index].value = edit(members[index].value, path.dropFirst(), replacement)
            }
            return .object(members)
        case var .array(items):
            guard let index = Int(head), items.indices.contains(index) else { return value }
            items[index] = edit(items[index], path.dropFirst(), replacement)
            return .array(items)
        default:
            return value
        }
    }

    /// Every path into the full batch, objects and arrays included.
    static func paths(_ value: JSONValue, _ prefix: [String] = []) -> [[String]] {
        switch value {
        case let .object(members): return [prefix] + members.flatMap { paths($0.value, prefix + [$0.key]) }
        case let .array(items): return [prefix] + items.indices.flatMap { paths(items[$0], prefix + [String($0)]) }
        default: return [prefix]
        }
    }

    /// Values spelled as raw JSON text, valid somewhere and wrong elsewhere, near every bound
    /// and rule the schema states.
    static let spellings: [String] = {
        var values = [
            "null", "true", "false", "[]", "{}", #"[1]"#, #"["lobby"]"#, #"["lobby","lobby"]"#, #"["a","b","c","d","e","f","g","h"]"#,
            #"["a","b","c","d","e","f","g","h","i"]"#, #"{"model_version":"c2","score":0.5}"#, #"[{"model_version":"c2","score":0.5}]"#,
            #"[{"model_version":"c2","score":0.5},{"model_version":"c2","score":0.1}]"#, #"{"model_version":"dlib-resnet-v1","score":0}"#,
            "0", "-0", "0.0", "1", "-1", "1.0", "1e0", "1E+0", "10e-1", "0.5", "5e-1", "-0.8125", "0.30000000000000004",
            "1.0000000000000002", "-1.0000000000000002", "0.9999999999999999", "1e-7", "123456789012345678", "1e22", "1e23", "2",
            "3", "12", "100000", "100001", "100000.0", "1000000", "1000001", "1000000.5", "99999999", "100000000", "100000001",
            "9007199254740991", "9007199254740992", "1.5", "01", "1.", ".5", "+1", "1e", "-", "--1", "1e999", "-1e999",
            "0.00000000000000000000000000001", "123456789012345678901234567890123", " \n\t0.5 \r", "NaN",
            #""""#, #""a""#, #""a b""#, #""é""#, #""\u0061""#, #""a\"b""#, "\"a\u{7F}b\"", "\"tab\there\"",
            #""faceloop.outcomes.v1""#, #""faceloop.outcomes.v2""#, #""kiosk-001""#, #""Kiosk-001""#, #""-kiosk""#, #""ab""#,
            #""dlib-resnet-v1""#, #""t-0001""#, #""cam:x_1.2""#, #""consent-7""#,
        ]
        for word in ["accept", "reject", "genuine", "impostor", "unknown", "fallback_id_check", "operator", "user_dispute", "none",
                     "threshold-calibration", "model-improvement", "quality-monitoring", "grant", "withdraw", "limit", "reconsent",
                     "touch", "e_signature", "paper", "Accept", "accept "] {
            values.append("\"\(word)\"")
        }
        values += [String(repeating: "a", count: 63), String(repeating: "a", count: 64), String(repeating: "a", count: 65),
                   String(repeating: "c", count: 128), String(repeating: "c", count: 129)].map { "\"\($0)\"" }
        values += [String(repeating: "ab", count: 32), String(repeating: "AB", count: 32), String(repeating: "ab", count: 31) + "a",
                   String(repeating: "ab", count: 31) + "ag"].map { "\"\($0)\"" }
        values += ["6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6BA7B810-9DAD-11D1-80B4-00C04FD430C8", "6ba7b810-9dad-11d1-80b4-00c04fd430c",
                   "{6ba7b810-9dad-11d1-80b4-00c04fd430c8}", "6ba7b8109dad11d180b400c04fd430c8"].map { "\"\($0)\"" }
        values += ["2026-11-26T15:46:32Z", "2026-11-26T15:46:32.123Z", "2026-11-26t15:46:32z", "2024-02-29T00:00:00Z",
                   "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-26T15:46:32+01:00", "2026-11-26T15:46:32-23:59",
                   "2026-11-26T15:46:60Z", "2026-11-26T15:46:32.1234567891Z", "2026-11-26 15:46:32Z", "2026-11-26T15:46:32"]
            .map { "\"\($0)\"" }
        return values
    }()

    @Test("on every member, spelled every way, the reader reads what the general way accepts, as the same batch, or declines")
    func agreesWithTheGeneralWay() throws {
        let base = Self.document(replacing: [], with: .remove)
        var readDirectly = 0, leftToGeneral = 0, refused = 0
        for path in Self.paths(base) {
            var bodies: [[UInt8]] = []
            let marked = Self.document(replacing: path, with: .marker).serialized()
            for spelling in Self.spellings {
                bodies.append(Self.replace(marker: "\"\(Self.marker)\"", in: marked, with: spelling))
            }
            bodies.append(Self.document(replacing: path, with: .remove).serialized())
            bodies.append(Self.document(replacing: path, with: .duplicate).serialized())
            bodies.append(Self.document(replacing: path, with: .addUnknown).serialized())
            for body in bodies {
                let direct = OutcomeBatchValidator.readDirectly(body)
                let general = OutcomeBatchValidator.shared.decodeBySchema(body)
                switch (direct, general) {
                case let (direct?, .success(batch)):
                    #expect(direct == batch, "\(String(decoding: body, as: UTF8.self))")
                    readDirectly += 1
                case (_?, .failure):
                    Issue.record("read directly but refused by the schema: \(String(decoding: body, as: UTF8.self))")
                case (nil, .success):
                    // Only what the reader leaves out on purpose goes the general way.
                    let plain = body.allSatisfy { $0 >= 0x20 && $0 < 0x80 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }
                        && !body.contains(UInt8(ascii: "\\"))
                    #expect(!plain, "declined a valid upload: \(String(decoding: body, as: UTF8.self))")
                    leftToGeneral += 1
                case (nil, .failure):
                    refused += 1
                }
            }
        }
        // The catalogue reaches all three answers, many times each.
        #expect(readDirectly > 300)
        #expect(leftToGeneral > 5)
        #expect(refused > 2000)
    }

    @Test("outcomes whose shadow scores repeat a model version are left to the general way, which names the field")
    func crossFieldRules() throws {
        var outcome = Self.full
        for shadowScores: [MatchOutcome.ShadowScore] in [
            [.init(modelVersion: "dlib-resnet-v1", score: 0)], [.init(modelVersion: "candidate-1", score: 0)],
            [.init(modelVersion: "p", score: 0), .init(modelVersion: "p", score: 1)],
        ] {
            outcome.shadowScores = shadowScores
            let body = OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: Date(), outcomes: [outcome]).encoded()
            #expect(OutcomeBatchValidator.readDirectly(body) == nil)
            guard case let .failure(.schema(violations)) = OutcomeBatchValidator.shared.decode(body) else {
                Issue.record("accepted \(shadowScores)")
                continue
            }
            #expect(violations.map(\.pointer).allSatisfy { $0.hasPrefix("/outcomes/0/shadow_scores/") })
        }
        outcome.shadowScores = []
        outcome.shadow = .init(modelVersion: "dlib-resnet-v1", score: 0)
        let body = OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: Date(), outcomes: [outcome]).encoded()
        #expect(OutcomeBatchValidator.readDirectly(body) == nil)
        guard case let .failure(.schema(violations)) = OutcomeBatchValidator.shared.decode(body) else {
            Issue.record("accepted a shadow score under the outcome's own model version")
            return
        }
        #expect(violations.map(\.pointer) == ["/outcomes/0/shadow/model_version"])
    }

    @Test("more than 1,000 outcomes or consent events, or trailing bytes, are left to the general way")
    func limits() throws {
        let createdAt = Date(timeIntervalSince1970: 1_790_000_100.5)
        var outcome = Self.full
        outcome.shadow = nil
        outcome.shadowScores = []
        let many = OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: createdAt, outcomes: Array(repeating: outcome, count: 1001))
        #expect(OutcomeBatchValidator.readDirectly(many.encoded()) == nil)
        let thousand = OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: createdAt, outcomes: Array(repeating: outcome, count: 1000))
        #expect(OutcomeBatchValidator.readDirectly(thousand.encoded()) == thousand)
        let events = OutcomeBatch(deviceID: "kiosk-001", sequence: 1, createdAt: createdAt, outcomes: [],
                                  consentEvents: Array(repeating: Self.grant, count: 1001))
        #expect(OutcomeBatchValidator.readDirectly(events.encoded()) == nil)
        let body = thousand.encoded()
        #expect(OutcomeBatchValidator.readDirectly(body + Array(" \n".utf8)) == thousand)
        #expect(OutcomeBatchValidator.readDirectly(body + Array("{}".utf8)) == nil)
        #expect(OutcomeBatchValidator.readDirectly(Array(body.dropLast())) == nil)
        #expect(OutcomeBatchValidator.readDirectly([0xEF, 0xBB, 0xBF] + body) == nil)
    }

    static func replace(marker: String, in body: [UInt8], with text: String) -> [UInt8] {
        let marker = Array(marker.utf8)
        guard let start = body.indices.first(where: { body[$0...].starts(with: marker) }) else { return body }
        return Array(body[..<start]) + Array(text.utf8) + Array(body[(start + marker.count)...])
    }
}
