import Crypto
import Foundation
import NIOCore
import NIOSSL
import Synchronization

/// SHA-256 fingerprints of the client certificates presented on open connections. Looking
/// the certificate up costs tens of microseconds, and a kiosk sends many requests on one
/// keep-alive connection, so it is read once per connection and forgotten when it closes.
final class PeerCertificates: Sendable {
    private let fingerprints = Mutex<[ObjectIdentifier: String?]>([:])

    /// The fingerprint of the peer's certificate, or nil when it presented none.
    func fingerprint(of channel: any Channel) async throws -> String? {
        let id = ObjectIdentifier(channel)
        if let cached = fingerprints.withLock({ $0[id] }) { return cached }
        let certificate = try await channel.nioSSL_peerCertificate().get()
        let fingerprint = try certificate.map { SHA256.hash(data: try $0.toDERBytes()).map { String(format: "%02x", $0) }.joined() }
        let isNew = fingerprints.withLock { table -> Bool in
            let fresh = table[id] == nil
            table[id] = .some(fingerprint)
            return fresh
        }
        if isNew {
            channel.closeFuture.whenComplete { [weak self] _ in
                _ = self?.fingerprints.withLock { $0.removeValue(forKey: id) }
            }
        }
        return fingerprint
    }
}
