import FeedbackWire
import Foundation
import Testing

@Suite("Time-ordered (version 7) UUIDs")
struct TimeOrderedUUIDTests {
    @Test("RFC 9562's example version 7 UUID is laid out bit for bit")
    func rfcExample() {
        // RFC 9562, appendix A.6: 2022-02-22 19:22:22 UTC, rand_a 0xCC3, rand_b 0x18C4DC0C0C07398F.
        let id = TimeOrderedUUID.make(at: Date(timeIntervalSince1970: 1_645_557_742), randomA: 0xCC3, randomB: 0x18C4_DC0C_0C07_398F)
        #expect(id.uuidString == "017F22E2-79B0-7CC3-98C4-DC0C0C07398F")
    }

    @Test("version and variant bits hold whatever the random parts are")
    func versionAndVariant() {
        let id = TimeOrderedUUID.make(at: Date(timeIntervalSince1970: 1_700_000_000.123), randomA: .max, randomB: .max)
        #expect(id.uuid.6 >> 4 == 7)
        #expect(id.uuid.8 >> 6 == 0b10)
        #expect(id.uuidString.lowercased().hasPrefix(String(format: "%012llx", UInt64(1_700_000_000_123)).prefix(8)))
    }

    @Test("times outside the 48 bits take the nearest end instead of trapping")
    func outOfRange() {
        let early = TimeOrderedUUID.make(at: Date(timeIntervalSince1970: -86_400), randomA: 0, randomB: 0)
        #expect(early.uuidString.hasPrefix("00000000-0000-7000-8000"))
        let late = TimeOrderedUUID.make(at: Date(timeIntervalSince1970: 1e15), randomA: 0, randomB: 0)
        #expect(late.uuidString.hasPrefix("FFFFFFFF-FFFF-7000-8000"))
    }

    @Test("a later millisecond sorts later as the lowercase text the store keeps")
    func sortsByTime() {
        // Half a millisecond in, so that rounding the sum never falls back to the millisecond before.
        let start = Date(timeIntervalSince1970: 1_764_000_000.0005)
        var previous = TimeOrderedUUID.make(at: start).uuidString.lowercased()
        for step in 1...500 {
            let next = TimeOrderedUUID.make(at: start.addingTimeInterval(Double(step) / 1000)).uuidString.lowercased()
            #expect(previous < next)
            previous = next
        }
    }

    @Test("ids made in the same millisecond differ")
    func distinct() {
        let now = Date()
        let ids = Set((0..<1_000).map { _ in TimeOrderedUUID.make(at: now) })
        #expect(ids.count == 1_000)
    }
}
