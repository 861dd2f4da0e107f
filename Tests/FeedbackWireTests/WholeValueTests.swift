@testable import FeedbackWire
import Foundation
@testable import StrictJSON
import TestSupport
import Testing

/// Identifiers match their pattern as a whole, and nothing beyond the schema's information
/// (over-long numbers, sub-nanosecond fractions) or an event from the future gets through.
@Suite("Whole values, bounded literals and times")
struct WholeValueTests {
    static let pseudonym = String(repeating: "ab", count: 32)

    /// The sample batch's JSON with one exact substring replaced.
    static func variant(_ from: String, _ to: String) throws -> [UInt8] {
        let text = String(decoding: SampleBatch.batch(count: 1).encoded(), as: UTF8.self)
        #expect(text.contains(from), "the sample batch has no \(from)")
        return Array(text.replacingOccurrences(of: from, with: to).utf8)
    }

    static func isSchemaViolation(_ body: [UInt8]) -> Bool {
        if case .failure(.schema) = OutcomeBatchValidator.shared.decode(body) { return true }
        return false
    }

    @Test("a pseudonym or site with a final line break, a line separator or fullwidth digits is refused",
          arguments: [
              ("\"pseudonym\":\"\(pseudonym)\"", "\"pseudonym\":\"\(pseudonym)\\n\""),
              ("\"pseudonym\":\"\(pseudonym)\"", "\"pseudonym\":\"\(pseudonym)\\r\\n\""),
              ("\"pseudonym\":\"\(pseudonym)\"", "\"pseudonym\":\"\(pseudonym)\\u2028\""),
              ("\"pseudonym\":\"\(pseudonym)\"", "\"pseudonym\":\"\(String(pseudonym.dropLast()))１\""),
              ("\"site\":\"branch-042\"", "\"site\":\"branch-042\\n\""),
              ("\"site\":\"branch-042\"", "\"site\":\"branch-042\\u2028\""),
              ("\"site\":\"branch-042\"", "\"site\":\"branch-０４２\""),
              ("\"consent_ref\":\"consent-7\"", "\"consent_ref\":\"consent-7\\u2029\""),
          ])
    func variantsRefused(from: String, to: String) throws {
        #expect(!Self.isSchemaViolation(try Self.variant(from, from)), "the unchanged batch is valid")
        #expect(Self.isSchemaViolation(try Self.variant(from, to)), "\(to) passed")
    }

    @Test("ECMA-262 semantics: `$` only at the very end, `\\d` and `\\w` ASCII only; other classes refused")
    func ecmaSemantics() throws {
        let schema = try JSONSchema(documents: ["s.json": try JSONValue.parse(#"{"type":"string","pattern":"^\\d{2}\\w$"}"#)], root: "s.json")
        #expect(schema.validate(.string("12a")).isEmpty)
        for refused in ["12a\n", "１２a", "12é", "12a\u{2028}"] {
            #expect(!schema.validate(.string(refused)).isEmpty, "\(refused.debugDescription) passed")
        }
        #expect(throws: JSONSchemaDefinitionError.self) {
            try JSONSchema(documents: ["s.json": try JSONValue.parse(#"{"type":"string","pattern":"^\\s$"}"#)], root: "s.json")
        }
    }

    @Test("hex identifiers are ASCII: fullwidth and uppercase digits are not lowercase hex")
    func asciiHex() {
        #expect(Self.pseudonym.isLowercaseHex(count: 64))
        #expect(!(String(Self.pseudonym.dropLast()) + "ｆ").isLowercaseHex(count: 64))
        #expect(!(String(Self.pseudonym.dropLast()) + "F").isLowercaseHex(count: 64))
        #expect(!(Self.pseudonym + "\n").isLowercaseHex(count: 64))
        #expect(!String(Self.pseudonym.dropLast()).isLowercaseHex(count: 64))
    }

    @Test("number literals longer than a double needs are refused; the longest shortest form passes")
    func numberLength() throws {
        #expect(try JSONValue.parse("-2.2250738585072014e-308") == .number(-2.2250738585072014e-308))
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse("0.8125000000000000000000000000000001") }
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse("[1, " + String(repeating: "0", count: 40) + "1]") }
    }

    @Test("date-times carry at most nine fraction digits")
    func fractionDigits() {
        #expect(RFC3339.parse("2026-11-26T15:46:32.123456789Z") != nil)
        #expect(RFC3339.parse("2026-11-26T15:46:32.1234567890Z") == nil)
        #expect(RFC3339.parse("2026-11-26T15:46:32.1234567890000000000000001Z") == nil)
    }

    @Test("the first event dated after a moment is found, consent events first, with its pointer")
    func futureEvents() {
        var batch = SampleBatch.batch(count: 3)
        let latest = Date(timeIntervalSince1970: 1_790_000_001)
        #expect(batch.firstEvent(datedAfter: latest)?.pointer == "/outcomes/2/attempted_at")
        #expect(batch.firstEvent(datedAfter: latest.addingTimeInterval(1)) == nil)
        batch.consentEvents = [ConsentEvent(eventID: UUID(), occurredAt: latest.addingTimeInterval(60), pseudonym: Self.pseudonym,
                                            purpose: "threshold-calibration", kind: .grant, method: .touch, site: "branch-042",
                                            textVersion: "v1", textSHA256: String(repeating: "0", count: 64))]
        #expect(batch.firstEvent(datedAfter: latest)?.pointer == "/consent_events/0/occurred_at")
    }
}
