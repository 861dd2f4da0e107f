import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import Storage
import X509

/// Kiosk enrollment: an admin issues a one-time token for a device id; the kiosk redeems it
/// with a CSR (its TLS key) and its Ed25519 upload key, and receives its certificate.
struct EnrollmentService: Sendable {
    let store: any FeedbackStore
    /// The device CA that issues now, the CAs the kiosk is to pin, and the release key it pins.
    let keys: ServerKeys
    let tokenTTL: TimeInterval
    let now: @Sendable () -> Date

    /// How an enrollment ended: `isNew` is false for a retry answered with the certificate issued before.
    struct Enrolled: Sendable {
        let response: EnrollmentResponse
        let isNew: Bool
    }

    /// A token for one device id and the registered sites it will serve.
    func issueToken(_ request: EnrollmentTokenRequest) async throws -> EnrollmentToken {
        try Self.checkDeviceID(request.deviceID)
        let sites = try Self.checkSites(request.sites)
        let ttl = request.ttlSeconds.map(TimeInterval.init) ?? tokenTTL
        guard ttl >= 60, ttl <= 30 * 86_400 else {
            throw ProblemResponse(.invalidRequest, "ttl_seconds must be between 60 and 2592000")
        }
        let token = APIToken.generate()
        let created = now()
        let record = StoredEnrollmentToken(sha256: APIToken.sha256(token), deviceID: request.deviceID,
                                           createdAt: created, expiresAt: created.addingTimeInterval(ttl), sites: sites)
        try await Self.bindingSites { try await store.addEnrollmentToken(record) }
        return EnrollmentToken(deviceID: request.deviceID, sites: sites, token: token, expiresAt: record.expiresAt)
    }

    /// Checks the proof and the token before the CA signs anything, then redeems the token
    /// and the device in one transaction.
    func enroll(_ request: EnrollmentRequest) async throws -> Enrolled {
        try Self.checkDeviceID(request.deviceID)
        guard let rawKey = Data(base64Encoded: request.signingKey),
              let signingKey = try? Curve25519.Signing.PublicKey(rawRepresentation: rawKey) else {
            throw ProblemResponse(.invalidRequest, "signing_key must be a base64 raw 32-byte Ed25519 public key")
        }
        guard let proof = Data(base64Encoded: request.proof),
              EnrollmentProof.isValid(proof, deviceID: request.deviceID, token: request.token, csrPEM: request.csrPEM, publicKey: signingKey)
        else {
            throw ProblemResponse(.invalidRequest, "proof is not a valid Ed25519 signature by signing_key")
        }
        let tokenSHA256 = APIToken.sha256(request.token)
        if let preview = try await store.previewEnrollment(sha256: tokenSHA256, deviceID: request.deviceID, signingKey: rawKey, now: now()),
           preview != .enrolled {
            return try enrolled(request.deviceID, redemption: preview, issued: nil)
        }
        let certificate: Certificate
        do {
            certificate = try keys.current.deviceCA.issueDeviceCertificate(csrPEM: request.csrPEM, deviceID: request.deviceID, now: now())
        } catch let error as CertificateAuthority.EnrollmentError {
            throw ProblemResponse(.csrInvalid, error.description)
        }
        let device = NewDevice(deviceID: request.deviceID, signingKey: rawKey, certificateDER: Data(try certificate.derBytes),
                               certificateFingerprint: try certificate.sha256Fingerprint,
                               certificateSerial: certificate.serialNumberHex, certificateNotAfter: certificate.notValidAfter)
        let redemption = try await store.redeemEnrollmentToken(sha256: tokenSHA256, device: device, now: now())
        return try enrolled(request.deviceID, redemption: redemption, issued: certificate)
    }

    /// The answer to a redemption: the new certificate, the one issued before, or the refusal.
    private func enrolled(_ deviceID: String, redemption: EnrollmentRedemption, issued: Certificate?) throws -> Enrolled {
        let certificate: Certificate
        switch redemption {
        case .enrolled:
            guard let issued else { throw ProblemResponse(.internalError, "\(deviceID) was enrolled without a certificate") }
            certificate = issued
        case let .alreadyEnrolled(der):
            certificate = try Certificate(derEncoded: [UInt8](der))
        case .invalidToken:
            throw ProblemResponse(.enrollmentTokenInvalid, "ask an administrator for a new token for \(deviceID)")
        case .deviceExists:
            throw ProblemResponse(.deviceExists, "\(deviceID) is already enrolled")
        }
        let response = EnrollmentResponse(
            deviceID: deviceID, certificatePEM: try certificate.serializeAsPEM().pemString, caCertificatePEM: try ServerKeyFiles.pem(keys.current.trustedAuthorities),
            certificateNotAfter: certificate.notValidAfter, releaseSigningKey: keys.current.releaseAnchor.rawRepresentation.base64EncodedString())
        return Enrolled(response: response, isNew: redemption == .enrolled)
    }

    /// The sites a kiosk is to serve: 1 to 64 site names, each once, sorted.
    static func checkSites(_ sites: [String]) throws -> [String] {
        guard (1...64).contains(sites.count) else { throw ProblemResponse(.invalidRequest, "sites must name 1 to 64 sites") }
        for site in sites { try ComplianceService.checkName(site, "each of sites") }
        return Set(sites).sorted()
    }

    /// Runs a store call that binds sites, turning unregistered sites into a refusal that says
    /// how to register them.
    static func bindingSites<Value>(_ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch let SiteBindingError.unknownSites(sites) {
            throw ProblemResponse(.invalidRequest, "no site \(sites.joined(separator: ", ")) is registered; an administrator "
                                  + "registers it first with `faceloop compliance site SITE --jurisdiction J`")
        }
    }

    static func checkDeviceID(_ id: String) throws {
        guard DeviceID.isValid(id) else {
            throw ProblemResponse(.invalidRequest, "device_id must match ^[a-z0-9][a-z0-9-]{2,62}$")
        }
    }
}
