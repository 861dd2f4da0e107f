import Foundation
import StrictJSON
import Testing

@Suite("UUIDs as the wire writes them")
struct UUIDTextTests {
    @Test("random UUIDs, in either case, parse to what Foundation parses")
    func agreesWithFoundation() {
        for _ in 0..<1_000 {
            let uuid = UUID()
            #expect(UUIDText.parse(uuid.uuidString) == uuid)
            #expect(UUIDText.parse(uuid.uuidString.lowercased()) == uuid)
        }
        #expect(UUIDText.parse("00000000-0000-0000-0000-000000000000") == UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        #expect(UUIDText.parse("FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF") == UUID(uuidString: "ffffffff-ffff-ffff-ffff-ffffffffffff"))
    }

    @Test("anything but 8-4-4-4-12 hex digits is refused", arguments: [
        "", "6ba7b810-9dad-11d1-80b4-00c04fd430c", "6ba7b810-9dad-11d1-80b4-00c04fd430c8a", "6ba7b8109dad-11d1-80b4-00c04fd430c8a",
        "6ba7b810_9dad-11d1-80b4-00c04fd430c8", "6ba7b810-9dad-11d1-80b4+00c04fd430c8", "6ba7b81g-9dad-11d1-80b4-00c04fd430c8",
        " ba7b810-9dad-11d1-80b4-00c04fd430c8", "+ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810-0x9d-11d1-80b4-00c04fd430c8",
        "{ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810-9dad-11d1-80b4-00c04fd430é",
    ])
    func refused(_ text: String) {
        #expect(UUIDText.parse(text) == nil)
    }
}
