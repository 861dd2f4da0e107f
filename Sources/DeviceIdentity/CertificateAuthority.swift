import Crypto
import Foundation
import SwiftASN1
import X509

/// FaceLoop's private certificate authority: it issues the server's TLS certificate and one
/// client certificate per enrolled kiosk. Keys are ECDSA P-256, which every TLS stack and
/// `openssl verify` accept.
///
/// ```swift
/// let ca = try CertificateAuthority.create(commonName: "FaceLoop Device CA")
/// let server = try ca.issueServerCertificate(hosts: ["localhost", "127.0.0.1"], publicKey: key.publicKey)
/// ```
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    let privateKey: P256.Signing.PrivateKey

    public init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    public static func create(commonName: String, now: Date = .now, validityYears: Int = 10) throws -> CertificateAuthority {
        try create(subject: try DistinguishedName {
            OrganizationName("FaceLoop")
            CommonName(commonName)
        }, now: now, validityYears: validityYears)
    }

    /// A CA named `subject`. A rotation gives the new CA its predecessor's name, so that the
    /// cross certificate between them is self-issued and does not count against the old CA's
    /// path length of 0 (RFC 5280, 4.2.1.9): OpenSSL then accepts the bridged path too.
    public static func create(subject name: DistinguishedName, now: Date = .now, validityYears: Int = 10) throws -> CertificateAuthority {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(Double(validityYears) * 365.25 * 86_400),
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        return CertificateAuthority(certificate: certificate, privateKey: key)
    }

    public static func load(certificatePEM: String, privateKeyPEM: String) throws -> CertificateAuthority {
        CertificateAuthority(certificate: try Certificate(pemEncoded: certificatePEM),
                             privateKey: try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM))
    }

    public var certificatePEM: String {
        get throws { try certificate.serializeAsPEM().pemString }
    }

    public var privateKeyPEM: String { privateKey.pemRepresentation }

    /// A TLS server certificate for the given DNS names and IP addresses.
    public func issueServerCertificate(hosts: [String], publicKey: P256.Signing.PublicKey, now: Date = .now,
                                       validityDays: Int = 825) throws -> Certificate {
        var names: [GeneralName] = []
        for host in hosts {
            if let address = IPAddressBytes(host) {
                names.append(.ipAddress(ASN1OctetString(contentBytes: address[...])))
            } else {
                names.append(.dnsName(host))
            }
        }
        let subject = try DistinguishedName {
            OrganizationName("FaceLoop")
            CommonName(hosts.first ?? "faceloop-server")
        }
        return try issue(subject: subject, publicKey: Certificate.PublicKey(publicKey), now: now, validityDays: validityDays) {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(names)
        }
    }

    public enum EnrollmentError: Error, Sendable, CustomStringConvertible {
        case unreadableRequest(String)
        case badRequestSignature
        case wrongSubject(expected: String, found: String)
        case unsupportedKey
        case extraContent

        public var description: String {
            switch self {
            case let .unreadableRequest(reason): return "the certificate signing request cannot be read: \(reason)"
            case .badRequestSignature: return "the certificate signing request is not signed by its own key"
            case let .wrongSubject(expected, found): return "the request's common name is \"\(found)\", expected \"\(expected)\""
            case .unsupportedKey: return "the request's key must be ECDSA P-256"
            case .extraContent:
                return "the request may name only the device (common name) and optionally the organisation FaceLoop, with no attributes"
            }
        }
    }

    /// A TLS client certificate for one kiosk. The request must be self-signed, carry a P-256
    /// key and name the device in its common name.
    public func issueDeviceCertificate(csrPEM: String, deviceID: String, now: Date = .now,
                                       validityDays: Int = 397) throws -> Certificate {
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(pemEncoded: csrPEM)
        } catch {
            throw EnrollmentError.unreadableRequest(String(describing: error))
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else { throw EnrollmentError.badRequestSignature }
        guard P256.Signing.PublicKey(csr.publicKey) != nil else { throw EnrollmentError.unsupportedKey }
        let commonName = csr.subject.commonName ?? ""
        guard commonName == deviceID else { throw EnrollmentError.wrongSubject(expected: deviceID, found: commonName) }
        // Nothing but the device's name and key may ride in a request: a kiosk must not be able
        // to send anything else (a face crop, a descriptor) through the certificate path.
        guard csr.attributes.isEmpty, Self.namesOnlyTheDevice(csr.subject) else { throw EnrollmentError.extraContent }
        let subject = try DistinguishedName {
            OrganizationName("FaceLoop")
            OrganizationalUnitName("kiosk")
            CommonName(deviceID)
        }
        return try issue(subject: subject, publicKey: csr.publicKey, now: now, validityDays: validityDays) {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true))
            try ExtendedKeyUsage([.clientAuth])
        }
    }

    static func namesOnlyTheDevice(_ subject: DistinguishedName) -> Bool {
        var commonNames = 0
        for rdn in subject {
            for attribute in rdn {
                switch attribute.type {
                case .RDNAttributeType.commonName: commonNames += 1
                case .RDNAttributeType.organizationName:
                    guard String(describing: attribute.value) == "FaceLoop" else { return false }
                default: return false
                }
            }
        }
        return commonNames == 1
    }

    private func issue(subject: DistinguishedName, publicKey: Certificate.PublicKey, now: Date, validityDays: Int,
                       @ExtensionsBuilder extensions: () throws -> Result<Certificate.Extensions, any Error>) throws -> Certificate {
        var all = try extensions().get()
        try all.append(Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: issuerKeyIdentifier), critical: false))
        try all.append(Certificate.Extension(SubjectKeyIdentifier(hash: publicKey), critical: false))
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(Double(validityDays) * 86_400),
            issuer: certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: all,
            issuerPrivateKey: Certificate.PrivateKey(privateKey))
    }

    private var issuerKeyIdentifier: ArraySlice<UInt8> {
        (try? certificate.extensions.subjectKeyIdentifier?.keyIdentifier) ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
    }
}

extension DistinguishedName {
    /// The first common name, if any.
    public var commonName: String? {
        for rdn in self {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return String(describing: attribute.value)
            }
        }
        return nil
    }
}

/// Network-order bytes of a dotted IPv4 address (IPv6 literals are left to DNS names).
func IPAddressBytes(_ text: String) -> [UInt8]? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var bytes: [UInt8] = []
    for part in parts {
        guard let value = UInt8(part) else { return nil }
        bytes.append(value)
    }
    return bytes
}

extension Certificate {
    /// The DER encoding: what the store keeps and what NIOSSL loads.
    public var derBytes: [UInt8] {
        get throws {
            var serializer = DER.Serializer()
            try serializer.serialize(self)
            return serializer.serializedBytes
        }
    }

    /// SHA-256 of the DER encoding, lowercase hex: how the server recognises a presented
    /// client certificate.
    public var sha256Fingerprint: String {
        get throws { SHA256.hash(data: try derBytes).map { String(format: "%02x", $0) }.joined() }
    }

    public var serialNumberHex: String {
        serialNumber.bytes.map { String(format: "%02x", $0) }.joined()
    }
}
