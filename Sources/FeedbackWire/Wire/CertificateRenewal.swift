import Foundation
import StrictJSON

/// Kiosk → server: a new TLS key's certificate signing request (`POST /v1/kiosk/certificate-renewals`),
/// JSON per `schemas/certificate-renewal.schema.json`, signed exactly like an upload.
public struct CertificateRenewalRequest: Sendable, Codable, Equatable {
    public var csr: String

    public init(csr: String) {
        self.csr = csr
    }

    public func encoded() throws -> [UInt8] {
        [UInt8](try WireJSON.encoder().encode(self))
    }

    public typealias Invalid = EmbeddedSchemaCheck.Invalid

    static let schema = EmbeddedSchemaCheck(root: "certificate-renewal.schema.json")

    /// Strict parsing (duplicate members, lone surrogates…), then the published schema.
    public static func decode(_ body: [UInt8]) throws(Invalid) -> CertificateRenewalRequest {
        let json = try schema.check(body)
        guard let csr = json["csr"]?.stringValue else {
            throw .schema([JSONSchemaViolation(pointer: "/csr", keyword: "type", message: "must be a string")])
        }
        return CertificateRenewalRequest(csr: csr)
    }
}

/// Server → kiosk: the new certificate, the CA certificates the kiosk is to pin from now on
/// (they replace its `ca.crt`), and when the new certificate expires.
public struct CertificateRenewalResponse: Sendable, Codable, Equatable {
    public var certificate: String
    public var caCertificates: [String]
    public var notAfter: Date

    public init(certificate: String, caCertificates: [String], notAfter: Date) {
        self.certificate = certificate
        self.caCertificates = caCertificates
        self.notAfter = notAfter
    }

    enum CodingKeys: String, CodingKey {
        case certificate, caCertificates = "ca_certificates", notAfter = "not_after"
    }
}
