import Foundation
@testable import StrictJSON
import Testing

@Suite("JSON parsing and serialisation")
struct JSONTests {
    @Test("strict RFC 8259 parsing", arguments: [
        ("{\"a\":1,}", "member name"),
        ("{\"a\":1,\"a\":2}", "duplicate"),
        ("[1 2]", "expected"),
        ("01", "unexpected data"),
        ("\"\\ud800\"", "surrogate"),
        ("{\"a\":NaN}", "unexpected character"),
        ("1e999", "out of range"),
        ("\"a\u{01}\"", "control"),
        ("", "end of input"),
    ])
    func rejects(input: String, reason: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(input) }
        do {
            _ = try JSONValue.parse(input)
        } catch {
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    @Test("nesting is bounded")
    func depth() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONSyntaxError.self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect(throws: Never.self) { try JSONValue.parse(fine) }
    }

    @Test("values round-trip through the writer, including escapes and unicode")
    func roundTrip() throws {
        let text = #"{"s":"a\"b\\c\n\u0001é😀","n":[0,-1,1.5,1e-05,9007199254740991],"b":[true,false,null],"o":{}}"#
        let value = try JSONValue.parse(text)
        #expect(try JSONValue.parse(value.serialized()) == value)
        #expect(value["s"]?.stringValue == "a\"b\\c\n\u{01}é😀")
        #expect(value["n"]?[4]?.numberValue == 9_007_199_254_740_991)
        #expect(value.serializedString.contains("9007199254740991"))
    }

    @Test("RFC 3339 dates parse with offsets and fractions, and format in UTC")
    func dates() throws {
        let date = try #require(RFC3339.parse("2026-11-26T15:46:32.125+01:00"))
        #expect(date.timeIntervalSince1970 == 1_795_704_392.125)
        #expect(RFC3339.format(date) == "2026-11-26T14:46:32.125Z")
        #expect(RFC3339.parse("2026-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parse("2026-11-26 15:46:32Z") == nil)
        #expect(RFC3339.parse("2026-11-26T15:46:32") == nil)
        #expect(RFC3339.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
    }
}
