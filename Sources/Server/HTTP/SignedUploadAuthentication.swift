import Crypto
import FeedbackWire
import Foundation
import HTTPSignatures
import Hummingbird
import NIOCore
import Storage
import StrictJSON

/// The one way a kiosk's upload is authenticated, whatever it carries (outcome batches,
/// model updates): the TLS client certificate, the body within its limit, the RFC 9421
/// signature and RFC 9530 digest, the device enrolled and active, its Ed25519 key, and the
/// certificate issued to that same device. Each failure is its own problem type, thrown as a
/// ``ProblemResponse``.
///
/// ```swift
/// let upload = try await authentication.authenticate(request, context: context, payload: "batch")
/// // upload.device, upload.body, upload.nonce …
/// ```
struct SignedUploadAuthentication: Sendable {
    let store: any FeedbackStore
    let policy: UploadSignaturePolicy
    let peers: PeerCertificates
    let maximumBodyBytes: Int
    let now: @Sendable () -> Date

    /// A body that passed every check, with what the store keeps beside it.
    struct Upload: Sendable {
        let device: DeviceRecord
        let body: [UInt8]
        let nonce: String
        let signatureInput: String
        let signature: String
        let receivedAt: Date
        /// SHA-256 of the TLS client certificate the kiosk connected with.
        let certificateFingerprint: String
        /// `ContentDigest.sha256Field` of the body.
        let contentDigest: String
    }

    /// The body's bytes, nil past `limit`. Collected straight into an array of the length the
    /// request declares: collecting into a buffer reallocated it at each doubling as the parts
    /// came, with a copy each time, and the whole was then copied again into an array.
    static func collect(_ body: RequestBody, declaredLength: Int?, limit: Int) async throws -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(max(declaredLength ?? 0, 0), limit))
        for try await part in body {
            guard bytes.count + part.readableBytes <= limit else { return nil }
            part.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
        }
        return bytes
    }

    /// `payload` names what is uploaded, for the messages ("batch", "update").
    func authenticate(_ request: Request, context: FeedbackRequestContext, payload: String) async throws -> Upload {
        guard let certificate = try await peers.certificate(of: context.channel) else {
            throw ProblemResponse(.clientCertificateRequired, "connect with the certificate issued to this kiosk at enrollment")
        }
        guard certificate.isValid(at: now()) else {
            throw ProblemResponse(.deviceCertificateExpired,
                                  "the client certificate is valid from \(RFC3339.format(certificate.notValidBefore)) to \(RFC3339.format(certificate.notValidAfter)); enroll the kiosk again, or renew its certificate before it expires")
        }
        let fingerprint = certificate.fingerprint
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw ProblemResponse(.unsupportedMediaType, "send the \(payload) as application/json")
        }
        guard let body = try await Self.collect(request.body, declaredLength: request.headers[.contentLength].flatMap { Int($0) },
                                                limit: maximumBodyBytes) else {
            throw ProblemResponse(.bodyTooLarge, "the limit is \(maximumBodyBytes) bytes; send a smaller \(payload)")
        }

        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let parts = SignedRequestParts(method: request.method.rawValue, path: request.uri.path,
                                       authority: request.head.authority ?? "", headers: headers)
        let receivedAt = now()
        let pending: UploadSignaturePolicy.PendingSignature
        do {
            pending = try policy.precheck(request: parts, body: body, now: receivedAt)
        } catch {
            throw ProblemResponse(error)
        }
        guard let device = try await store.device(id: pending.keyID) else {
            throw ProblemResponse(.unknownDevice, "no device is enrolled under keyid \"\(pending.keyID)\"")
        }
        guard device.status == .active else {
            throw ProblemResponse(.deviceRevoked, "device \(device.deviceID) was revoked; enroll it again")
        }
        guard let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: device.signingKey) else {
            throw ProblemResponse(.internalError, "the stored signing key of \(device.deviceID) is unreadable")
        }
        do {
            try policy.verify(pending, request: parts, publicKey: publicKey)
        } catch {
            throw ProblemResponse(error)
        }
        // A certificate issued before the device's newest keeps working until it expires, so
        // that a kiosk whose renewal answer was lost still uploads.
        if fingerprint != device.certificateFingerprint,
           try await store.device(withCertificateFingerprint: fingerprint)?.deviceID != device.deviceID {
            throw ProblemResponse(.clientCertificateMismatch, "the TLS client certificate is not one issued to \(device.deviceID)")
        }
        return Upload(device: device, body: body, nonce: pending.nonce, signatureInput: headers["signature-input"] ?? "",
                      signature: headers["signature"] ?? "", receivedAt: receivedAt, certificateFingerprint: fingerprint,
                      contentDigest: pending.bodySHA256Field ?? ContentDigest.sha256Field(for: body))
    }
}
