import Calibration
import Synchronization
import ThresholdAPI

/// Stored threshold releases decoded once: a release's payload never changes once stored, and
/// one over 2,000 cohorts took about 40 ms of JSON decoding each time the page, drift or a
/// computation read it.
enum DecodedReleases {
    /// A few releases are read again and again (the published one, the proposal, the page's list).
    static let capacity = 16

    private static let decoded = Mutex<[[UInt8]: ThresholdRelease]>([:])

    /// `ThresholdReleaseCoding.decode`, remembered by the payload's bytes.
    static func decode(_ payload: [UInt8]) throws -> ThresholdRelease {
        if let release = decoded.withLock({ $0[payload] }) { return release }
        let release = try ThresholdReleaseCoding.decode(payload)
        decoded.withLock { decoded in
            if decoded.count >= capacity { decoded.removeAll(keepingCapacity: true) }
            decoded[payload] = release
        }
        return release
    }
}
