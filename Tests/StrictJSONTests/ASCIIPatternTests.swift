import Foundation
@testable import StrictJSON
import Testing

@Suite("Patterns matched without the regex engine")
struct ASCIIPatternTests {
    static let patterns = [
        "^[0-9a-f]{64}$", "^[A-Za-z0-9_.:-]{1,128}$", "^[A-Za-z0-9_.:-]{1,64}$", "^[a-z0-9][a-z0-9-]{2,62}$",
        "^[a-c]{1,3}[a-c]$", "^ab?c*$", "^\\d{2}-\\w+$", "^[-a]{0,}b+$", "^[a-]{2}$", "^a{0}b$", "^[\\-.]+$", "^$",
        "^x[0-9]{2,}y?$", "^[a\\]]+$",
    ]

    /// Short strings over an alphabet with the characters the patterns name, their neighbours,
    /// a line feed (ICU's `$` once let one through) and non-ASCII letters and digits.
    static func strings(count: Int) -> [String] {
        let alphabet = Array("abcxyABC0129_-:./\n é１")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        return (0..<count).map { _ in String((0..<next(9)).map { _ in alphabet[next(alphabet.count)] }) }
    }

    @Test("decides exactly as the ECMA-262 pattern through the engine", arguments: patterns)
    func agreesWithTheEngine(_ source: String) throws {
        let fast = try #require(ASCIIPattern(source), "\(source) has the simple shape")
        let regex = try NSRegularExpression(pattern: ECMAPattern.icuPattern(source))
        var probes = Self.strings(count: 4_000)
        probes += [String(repeating: "a", count: 64), String(repeating: "0", count: 64), String(repeating: "f", count: 63),
                   String(repeating: "f", count: 64) + "\n", "ab-", "abc", "12-x", "12-", "x12", "x123y", "xy", "b", ""]
        for probe in probes {
            let engine = regex.firstMatch(in: probe, options: [], range: NSRange(probe.startIndex..<probe.endIndex, in: probe)) != nil
            #expect(fast.matches(probe) == engine, "\(source) on \(probe.debugDescription)")
        }
    }

    @Test("the patterns above reach both ways of matching: one walk, and every position an atom can end at")
    func bothWaysAreCompared() throws {
        let shapes = try Self.patterns.map { try #require(ASCIIPattern($0)).fixedUntilLast }
        #expect(shapes.filter { $0 }.count >= 4)
        #expect(shapes.filter { !$0 }.count >= 4)
    }

    @Test("leaves every other shape to the engine")
    func declines() {
        for source in ["^(a|b)$", "^.$", "^[^a]$", "a$", "^a", "^a|b$", "^a{2,1}$", "^a+?$", "^\\s$", "^é$", "^\\bx$"] {
            #expect(ASCIIPattern(source) == nil, "\(source)")
        }
    }
}
