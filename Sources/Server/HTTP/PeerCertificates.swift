import Crypto
import FeedbackWire
import Foundation
import NIOCore
import NIOSSL
import StrictJSON
import Synchronization
import X509

/// The client certificate presented on a connection: its SHA-256 fingerprint and validity.
struct PeerCertificate: Sendable, Equatable {
    var fingerprint: String
    var notValidBefore: Date
    var notValidAfter: Date

    func isValid(at time: Date) -> Bool { notValidBefore <= time && time <= notValidAfter }
}

/// The client certificates presented on open connections. Looking the certificate up costs
/// tens of microseconds, and a kiosk sends many requests on one keep-alive connection, so it
/// is read once per connection and forgotten when it closes.
final class PeerCertificates: Sendable {
    private let certificates = Mutex<[ObjectIdentifier: PeerCertificate?]>([:])

    /// The fingerprint of the peer's certificate, or nil when it presented none.
    func fingerprint(of channel: any Channel) async throws -> String? {
        try await certificate(of: channel)?.fingerprint
    }

    /// The peer's certificate, or nil when it presented none.
    func certificate(of channel: any Channel) async throws -> PeerCertificate? {
        let id = ObjectIdentifier(channel)
        if let cached = certificates.withLock({ $0[id] }) { return cached }
        let presented = try await channel.nioSSL_peerCertificate().get()
        let certificate = try presented.map { presented -> PeerCertificate in
            let der = try presented.toDERBytes()
            let parsed = try Certificate(derEncoded: der)
            return PeerCertificate(fingerprint: SHA256.hash(data: der).lowercaseHex,
                                   notValidBefore: parsed.notValidBefore, notValidAfter: parsed.notValidAfter)
        }
        let isNew = certificates.withLock { table -> Bool in
            let fresh = table[id] == nil
            table[id] = .some(certificate)
            return fresh
        }
        if isNew {
            channel.closeFuture.whenComplete { [weak self] _ in
                _ = self?.certificates.withLock { $0.removeValue(forKey: id) }
            }
        }
        return certificate
    }
}
