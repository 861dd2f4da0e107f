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

    @Test("RFC 3339 format writes each field as UTC calendar arithmetic gives it, and parses back to the millisecond")
    func formattedFields() throws {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = try #require(TimeZone(identifier: "UTC"))
        // Years 1900–2199: Foundation's calendar is proleptic Gregorian there. A fixed LCG, so a
        // failure repeats.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<5_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let millis = Int64(state >> 20) % 9_467_280_000_000 - 2_208_988_800_000
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            let parts = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let expected = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
                                  parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, Int((millis % 1000 + 1000) % 1000))
            let formatted = RFC3339.format(date)
            #expect(formatted == expected)
            #expect(RFC3339.parse(formatted).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } == millis)
        }
        #expect(RFC3339.format(Date(timeIntervalSince1970: -62_135_596_800)) == "0001-01-01T00:00:00.000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 253_402_300_799.5)) == "9999-12-31T23:59:59.500Z")
    }
}
