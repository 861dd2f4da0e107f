import Crypto
import Foundation
import SwiftASN1
import X509

extension CertificateAuthority {
    /// A certificate for `successor`'s key and name, issued by this authority: during a device-CA
    /// rotation, a kiosk that still pins only this authority verifies a chain through it to
    /// certificates the successor issued, and one that pins the successor ignores it.
    public func crossSign(_ successor: Certificate, now: Date = .now) throws -> Certificate {
        let successorKeyID = (try? successor.extensions.subjectKeyIdentifier?.keyIdentifier)
            ?? SubjectKeyIdentifier(hash: successor.publicKey).keyIdentifier
        let issuerKeyID = (try? certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
        // Never outlives the issuer: a chain through it is worth no more than the issuer is.
        let notAfter = min(successor.notValidAfter, certificate.notValidAfter)
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: successor.publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: notAfter,
            issuer: certificate.subject,
            subject: successor.subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(keyIdentifier: successorKeyID)
                AuthorityKeyIdentifier(keyIdentifier: issuerKeyID)
            },
            issuerPrivateKey: Certificate.PrivateKey(privateKey))
    }

    /// The authority among `certificates` whose key is `privateKeyPEM`: after a rotation the
    /// CA file holds every authority still trusted, and the key file the one that issues.
    public static func load(bundle certificates: [Certificate], privateKeyPEM: String) throws -> CertificateAuthority {
        let key = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        let publicKey = Certificate.PublicKey(key.publicKey)
        guard let certificate = certificates.last(where: { $0.publicKey == publicKey }) else {
            throw BundleError.noCertificateForKey
        }
        return CertificateAuthority(certificate: certificate, privateKey: key)
    }

    public enum BundleError: Error, CustomStringConvertible {
        case noCertificateForKey
        public var description: String { "no certificate in the CA file belongs to the CA's private key" }
    }
}

extension Certificate {
    /// Every certificate of a PEM file, in order.
    public static func bundle(pem: String) throws -> [Certificate] {
        try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
    }
}
