import Crypto
import Foundation
import X509

/// A kiosk's two keys: a P-256 key for its TLS client certificate, and an Ed25519 key that
/// signs every upload. The enrollment request proves possession of both: the CSR is signed
/// by the TLS key, and ``EnrollmentProof`` by the signing key.
public struct DeviceKeys: Sendable {
    public let tlsKey: P256.Signing.PrivateKey
    public let signingKey: Curve25519.Signing.PrivateKey

    public init(tlsKey: P256.Signing.PrivateKey = .init(), signingKey: Curve25519.Signing.PrivateKey = .init()) {
        self.tlsKey = tlsKey
        self.signingKey = signingKey
    }

    public func certificateSigningRequestPEM(deviceID: String) throws -> String {
        let subject = try DistinguishedName {
            OrganizationName("FaceLoop")
            CommonName(deviceID)
        }
        let csr = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: Certificate.PrivateKey(tlsKey),
            attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
        return try csr.serializeAsPEM().pemString
    }
}

/// The Ed25519 signature by which an enrolling kiosk binds its signing key to its enrollment
/// token and certificate request.
public enum EnrollmentProof {
    public static func message(deviceID: String, token: String, csrPEM: String) -> Data {
        let csrDigest = SHA256.hash(data: Data(csrPEM.utf8)).map { String(format: "%02x", $0) }.joined()
        return Data("faceloop-enroll-v1\n\(deviceID)\n\(token)\n\(csrDigest)".utf8)
    }

    public static func sign(deviceID: String, token: String, csrPEM: String,
                            key: Curve25519.Signing.PrivateKey) throws -> Data {
        try key.signature(for: message(deviceID: deviceID, token: token, csrPEM: csrPEM))
    }

    public static func isValid(_ proof: Data, deviceID: String, token: String, csrPEM: String,
                               publicKey: Curve25519.Signing.PublicKey) -> Bool {
        publicKey.isValidSignature(proof, for: message(deviceID: deviceID, token: token, csrPEM: csrPEM))
    }
}
