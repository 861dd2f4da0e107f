import SwiftASN1
import Crypto
import DeviceIdentity
import Feedback
import Foundation
import Hummingbird
import NIOCore
import Storage
import X509

/// Kiosk enrollment: an admin issues a one-time token for a device id; the kiosk redeems it
/// with a CSR (its TLS key) and its Ed25519 upload key, and receives its certificate.
struct EnrollmentRoutes: Sendable {
    let store: any FeedbackStore
    let authority: CertificateAuthority
    let admin: AdminAuthenticator
    let releaseKey: Curve25519.Signing.PublicKey
    let tokenTTL: TimeInterval
    let now: @Sendable () -> Date

    func register(on router: Router<FeedbackRequestContext>) {
        router.post("/v1/admin/enrollment-tokens") { request, context in
            try await self.admin.requireAdmin(request)
            let body = try await JSONBody.decode(EnrollmentTokenRequest.self, from: request)
            try Self.checkDeviceID(body.deviceID)
            let ttl = body.ttlSeconds.map(TimeInterval.init) ?? self.tokenTTL
            guard ttl >= 60, ttl <= 30 * 86_400 else {
                throw ProblemResponse(.invalidRequest, "ttl_seconds must be between 60 and 2592000")
            }
            let token = APIToken.generate()
            let created = self.now()
            let record = StoredEnrollmentToken(sha256: APIToken.sha256(token), deviceID: body.deviceID,
                                               createdAt: created, expiresAt: created.addingTimeInterval(ttl))
            try await self.store.addEnrollmentToken(record)
            return try JSONBody.response(EnrollmentToken(deviceID: body.deviceID, token: token, expiresAt: record.expiresAt),
                                         status: .created)
        }

        router.post("/v1/enrollments") { request, context in
            let body = try await JSONBody.decode(EnrollmentRequest.self, from: request)
            try Self.checkDeviceID(body.deviceID)
            guard let rawKey = Data(base64Encoded: body.signingKey),
                  let signingKey = try? Curve25519.Signing.PublicKey(rawRepresentation: rawKey) else {
                throw ProblemResponse(.invalidRequest, "signing_key must be a base64 raw 32-byte Ed25519 public key")
            }
            guard let proof = Data(base64Encoded: body.proof),
                  EnrollmentProof.isValid(proof, deviceID: body.deviceID, token: body.token, csrPEM: body.csrPEM, publicKey: signingKey)
            else {
                throw ProblemResponse(.invalidRequest, "proof is not a valid Ed25519 signature by signing_key")
            }
            let tokenSHA256 = APIToken.sha256(body.token)
            switch try await self.store.previewEnrollment(sha256: tokenSHA256, deviceID: body.deviceID, signingKey: rawKey, now: self.now()) {
            case nil, .enrolled: break
            case let .alreadyEnrolled(der): return try self.enrolledResponse(body.deviceID, certificate: try Certificate(derEncoded: [UInt8](der)))
            case .invalidToken: throw Self.invalidToken(body.deviceID)
            case .deviceExists: throw Self.deviceExists(body.deviceID)
            }
            let certificate: Certificate
            do {
                certificate = try self.authority.issueDeviceCertificate(csrPEM: body.csrPEM, deviceID: body.deviceID, now: self.now())
            } catch let error as CertificateAuthority.EnrollmentError {
                throw ProblemResponse(.csrInvalid, error.description)
            }
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            let device = NewDevice(deviceID: body.deviceID, signingKey: rawKey, certificateDER: Data(serializer.serializedBytes),
                                   certificateFingerprint: try certificate.sha256Fingerprint,
                                   certificateSerial: certificate.serialNumberHex, certificateNotAfter: certificate.notValidAfter)
            switch try await self.store.redeemEnrollmentToken(sha256: tokenSHA256, device: device, now: self.now()) {
            case .enrolled:
                context.logger.notice("device enrolled", metadata: ["device": "\(body.deviceID)"])
                return try self.enrolledResponse(body.deviceID, certificate: certificate)
            case let .alreadyEnrolled(der):
                return try self.enrolledResponse(body.deviceID, certificate: try Certificate(derEncoded: [UInt8](der)))
            case .invalidToken:
                throw Self.invalidToken(body.deviceID)
            case .deviceExists:
                throw Self.deviceExists(body.deviceID)
            }
        }
    }

    private func enrolledResponse(_ deviceID: String, certificate: Certificate) throws -> Response {
        try JSONBody.response(
            EnrollmentResponse(deviceID: deviceID, certificatePEM: try certificate.serializeAsPEM().pemString,
                               caCertificatePEM: try authority.certificatePEM, certificateNotAfter: certificate.notValidAfter,
                               releaseSigningKey: releaseKey.rawRepresentation.base64EncodedString()),
            status: .created)
    }

    private static func invalidToken(_ deviceID: String) -> ProblemResponse {
        ProblemResponse(.enrollmentTokenInvalid, "ask an administrator for a new token for \(deviceID)")
    }

    private static func deviceExists(_ deviceID: String) -> ProblemResponse {
        ProblemResponse(.deviceExists, "\(deviceID) is already enrolled")
    }

    static func checkDeviceID(_ id: String) throws {
        guard DeviceID.isValid(id) else {
            throw ProblemResponse(.invalidRequest, "device_id must match ^[a-z0-9][a-z0-9-]{2,62}$")
        }
    }
}

