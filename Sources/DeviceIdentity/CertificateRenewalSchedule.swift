import Crypto
import Foundation
import SwiftASN1
import X509

/// When a kiosk renews its client certificate: once two thirds of its life have passed, so
/// that a 397-day certificate is renewed about 132 days before it expires and a kiosk that is
/// offline or refused for weeks still has time to try again.
public enum CertificateRenewalSchedule {
    public static let fractionOfLifetime = 2.0 / 3.0

    public static func renewalTime(notValidBefore: Date, notValidAfter: Date) -> Date {
        notValidBefore.addingTimeInterval(notValidAfter.timeIntervalSince(notValidBefore) * fractionOfLifetime)
    }

    public static func isDue(notValidBefore: Date, notValidAfter: Date, now: Date) -> Bool {
        now >= renewalTime(notValidBefore: notValidBefore, notValidAfter: notValidAfter)
    }
}

/// A PEM certificate as a kiosk checks it: its dates, subject, key and issuer, without the
/// agent linking the X.509 library itself.
public struct PEMCertificate: Sendable {
    let certificate: Certificate

    public init(pem: String) throws {
        certificate = try Certificate(pemEncoded: pem)
    }

    /// Every certificate of a PEM bundle, in order; throws when there is none or one is unreadable.
    public static func bundle(_ pem: String) throws -> [PEMCertificate] {
        let certificates = try PEMDocument.parseMultiple(pemString: pem).map { PEMCertificate(try Certificate(pemDocument: $0)) }
        guard !certificates.isEmpty else { throw PEMError.empty }
        return certificates
    }

    init(_ certificate: Certificate) {
        self.certificate = certificate
    }

    public enum PEMError: Error, CustomStringConvertible {
        case empty
        public var description: String { "no certificate in the PEM text" }
    }

    public var notValidBefore: Date { certificate.notValidBefore }
    public var notValidAfter: Date { certificate.notValidAfter }
    public var commonName: String? { certificate.subject.commonName }
    public var fingerprint: String { get throws { try certificate.sha256Fingerprint } }

    /// Whether the certificate is for this private key.
    public func certifies(_ key: P256.Signing.PrivateKey) -> Bool {
        certificate.publicKey == Certificate.PublicKey(key.publicKey)
    }

    /// Whether one of `authorities` issued it: the issuer's name and a valid signature.
    public func isIssued(byOneOf authorities: [PEMCertificate]) -> Bool {
        authorities.contains { authority in
            certificate.issuer == authority.certificate.subject
                && authority.certificate.publicKey.isValidSignature(certificate.signature, for: certificate)
        }
    }
}
