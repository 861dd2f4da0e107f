import FeedbackWire
import Foundation
import StrictJSON
import Testing
@testable import AuditLog

@Suite("Audit entries: canonical bytes")
struct AuditEntryTests {
    @Test("the canonical form is compact JSON in the fixed member order")
    func canonicalBytes() throws {
        let entry = try AuditEntry(index: 7, time: "2026-11-26T15:46:32.123Z", kind: .deviceRevoked, actor: "token:erin (compliance)",
                                   details: [("device", .string("psn-kiosk-9f2c")), ("reason", .string("lost"))])
        #expect(entry.entryBytes.text == #"{"index":7,"time":"2026-11-26T15:46:32.123Z","kind":"device_revoked","actor":"token:erin (compliance)","details":{"device":"psn-kiosk-9f2c","reason":"lost"}}"#)
        #expect(entry.leafHash == MerkleTree.leafHash(entry.entryBytes))
    }

    @Test("every kind round-trips through its bytes", arguments: AuditEntry.Kind.allCases)
    func roundTrip(kind: AuditEntry.Kind) throws {
        let entry = try AuditEntry(index: 3, time: AuditFixtures.baseTime, kind: kind, actor: "system",
                                   details: [("n", .number(1.5)), ("list", .array([.null, .bool(true)])), ("text", .string("a\"b\\c\n"))])
        let decoded = try AuditEntry(entryBytes: entry.entryBytes)
        #expect(decoded == entry)
        #expect(decoded.kind == kind)
        #expect(decoded.entryBytes == entry.entryBytes)
    }

    @Test("bytes that are not the canonical form are refused", arguments: [
        (#"{"index":0,"time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"system","details":{}"#, "notJSON"),
        (#"{"index":0,"time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"system","details":{}} "#, "notCanonical"),
        (#"{"index":0, "time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"system","details":{}}"#, "notCanonical"),
        (#"{"index":0.0,"time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"system","details":{}}"#, "notCanonical"),
        (#"{"time":"2026-11-26T15:46:32.123Z","index":0,"kind":"erasure","actor":"system","details":{}}"#, "wrongMembers"),
        (#"{"index":0,"time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"system"}"#, "wrongMembers"),
        (#"{"index":0,"time":"2026-11-26T15:46:32.123+01:00","kind":"erasure","actor":"system","details":{}}"#, "invalidTime"),
        (#"{"index":0,"time":"yesterday","kind":"erasure","actor":"system","details":{}}"#, "invalidTime"),
        (#"{"index":0,"time":"2026-11-26T15:46:32.123Z","kind":"coffee_break","actor":"system","details":{}}"#, "unknownKind"),
        (#"{"index":-1,"time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"system","details":{}}"#, "indexOutOfRange"),
        (#"{"index":0.5,"time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"system","details":{}}"#, "wrongType"),
        (#"{"index":0,"time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"","details":{}}"#, "invalidActor"),
        (#"{"index":0,"time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"system","details":[]}"#, "wrongType"),
        (#"[1]"#, "notAnObject"),
    ])
    func refusals(text: String, expected: String) {
        do {
            _ = try AuditEntry(entryBytes: Array(text.utf8))
            Issue.record("accepted \(text)")
        } catch {
            #expect(Self.caseName(error) == expected, "\(error)")
        }
    }

    static func caseName(_ error: AuditEntryError) -> String {
        switch error {
        case .indexOutOfRange: "indexOutOfRange"
        case .invalidTime: "invalidTime"
        case .invalidActor: "invalidActor"
        case .duplicateDetail: "duplicateDetail"
        case .notJSON: "notJSON"
        case .notAnObject: "notAnObject"
        case .wrongMembers: "wrongMembers"
        case .wrongType: "wrongType"
        case .unknownKind: "unknownKind"
        case .notCanonical: "notCanonical"
        }
    }

    @Test("entries cannot be made with values that would not read back")
    func invalidValues() {
        #expect(throws: AuditEntryError.invalidTime("2026-11-26 15:46")) {
            try AuditEntry(index: 0, time: "2026-11-26 15:46", kind: .erasure, actor: "system")
        }
        #expect(throws: AuditEntryError.invalidActor("a\nb")) { try AuditEntry(index: 0, time: AuditFixtures.baseTime, kind: .erasure, actor: "a\nb") }
        #expect(throws: AuditEntryError.duplicateDetail("x")) {
            try AuditEntry(index: 0, time: AuditFixtures.baseTime, kind: .erasure, actor: "system", details: [("x", .null), ("x", .null)])
        }
        #expect(throws: AuditEntryError.indexOutOfRange(-3)) { try AuditEntry(index: -3, time: AuditFixtures.baseTime, kind: .erasure, actor: "system") }
        // Control characters in and beyond ASCII; other characters beyond it are fine.
        for actor in ["a\u{7F}b", "a\u{85}b", "token:é\u{9F}", "\u{0}"] {
            #expect(throws: AuditEntryError.invalidActor(actor)) { try AuditEntry(index: 0, time: AuditFixtures.baseTime, kind: .erasure, actor: actor) }
        }
        #expect(throws: Never.self) { try AuditEntry(index: 0, time: AuditFixtures.baseTime, kind: .erasure, actor: "token:éva (compliance) 😀") }
        // Many details are checked through a set, a few pairwise: the first repeated key either way.
        for count in [2, 32, 33, 100] {
            let details = (0..<count).map { (key: "k\($0)", value: JSONValue.null) } + [("k1", .null), ("k0", .null)]
            #expect(throws: AuditEntryError.duplicateDetail("k1")) {
                try AuditEntry(index: 0, time: AuditFixtures.baseTime, kind: .erasure, actor: "system", details: details)
            }
        }
    }

    @Test("an entry written before its index is known gives, once numbered, the bytes of the entry made with that index",
          arguments: AuditEntry.Kind.allCases)
    func unnumbered(kind: AuditEntry.Kind) throws {
        let time = Date(timeIntervalSince1970: 1_796_592_111.079_209)
        let details: [(key: String, value: JSONValue)] = [("n", .number(1.5)), ("list", .array([.null, .bool(true)])),
                                                          ("text", .string("a\"b\\c\n é")), ("empty", .object([]))]
        let unnumbered = try UnnumberedAuditEntry(time: time, kind: kind, actor: "device:kiosk-1", details: details)
        for index in [0, 1, 9, 10, 99, 100, 12_345, 999_999, 1 << 31, 1 << 40, AuditEntry.largestIndex - 1, AuditEntry.largestIndex] {
            #expect(try unnumbered.entryBytes(index: index)
                    == AuditEntry(index: index, time: time, kind: kind, actor: "device:kiosk-1", details: details).entryBytes, "index \(index)")
        }
        #expect(throws: AuditEntryError.indexOutOfRange(-1)) { try unnumbered.entryBytes(index: -1) }
        #expect(throws: AuditEntryError.indexOutOfRange(AuditEntry.largestIndex + 1)) {
            try unnumbered.entryBytes(index: AuditEntry.largestIndex + 1)
        }
        // Checked as an entry is: refused when made, not when numbered.
        #expect(throws: AuditEntryError.invalidActor("a\nb")) { try UnnumberedAuditEntry(time: time, kind: kind, actor: "a\nb") }
        #expect(throws: AuditEntryError.duplicateDetail("x")) {
            try UnnumberedAuditEntry(time: time, kind: kind, actor: "system", details: [("x", .null), ("x", .null)])
        }
    }
}
