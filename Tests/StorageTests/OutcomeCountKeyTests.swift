@testable import Storage
import Testing

@Suite("Outcome counter keys")
struct OutcomeCountKeyTests {
    @Test("keys sort by their fields' bytes, device first, as the counters are written")
    func byteOrder() {
        let parts = ["", "a", "b", "B", "ab", "é", "kiosk-2", "kiosk-10"]
        var keys: [OutcomeCountKey] = []
        for device in parts.prefix(4) {
            for site in parts.suffix(4) {
                for camera in ["c", "C"] {
                    for label in ["genuine", "impostor"] { keys.append(OutcomeCountKey(deviceID: device, site: site, cameraModel: camera, label: label)) }
                }
            }
        }
        func bytes(_ key: OutcomeCountKey) -> [[UInt8]] { [key.deviceID, key.site, key.cameraModel, key.label].map { Array($0.utf8) } }
        for a in keys {
            for b in keys {
                let reference = bytes(a).lexicographicallyPrecedes(bytes(b)) { $0.lexicographicallyPrecedes($1) }
                #expect((a < b) == reference, "\(a) < \(b)")
            }
        }
    }
}
