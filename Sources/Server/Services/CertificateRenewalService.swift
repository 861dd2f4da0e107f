import DeviceIdentity
import FeedbackWire
import Foundation
import Storage
import X509

/// A kiosk renews its own TLS client certificate before it expires: it asks over mutual TLS
/// with its current certificate, signs the request with its Ed25519 upload key exactly like
/// an upload (``SignedUploadAuthentication``: a current certificate of its own, an active
/// device, a fresh nonce), and sends a CSR for a new P-256 key. The new certificate is
/// recorded beside the old one, which keeps working until it expires or the device is revoked.
///
/// The CA is asked for at each renewal rather than held, so that the server's keys can be
/// rotated underneath: `issuer` is the CA that signs new certificates now, and
/// `trustedAuthorities` the CA certificates kiosks are to pin (the answer's bundle).
struct CertificateRenewalService: Sendable {
    let store: any FeedbackStore
    let issuer: @Sendable () -> CertificateAuthority
    let trustedAuthorities: @Sendable () -> [Certificate]
    let now: @Sendable () -> Date

    func renew(_ upload: SignedUploadAuthentication.Upload) async throws -> CertificateRenewalResponse {
        let deviceID = upload.device.deviceID
        let request: CertificateRenewalRequest
        do {
            request = try CertificateRenewalRequest.decode(upload.body)
        } catch let .malformedJSON(reason) {
            throw ProblemResponse(.malformedJSON, reason)
        } catch let .schema(violations) {
            throw ProblemResponse(.schemaViolation, "\(violations.count) field(s) do not match certificate-renewal.schema.json",
                                  errors: violations)
        }
        let issuedAt = now()
        let certificate: Certificate
        do {
            certificate = try issuer().issueDeviceCertificate(csrPEM: request.csr, deviceID: deviceID, now: issuedAt)
        } catch let error as CertificateAuthority.EnrollmentError {
            throw ProblemResponse(.csrInvalid, error.description)
        }
        let renewal = DeviceCertificateRenewal(
            deviceID: deviceID, presentedFingerprint: upload.certificateFingerprint,
            certificate: NewDeviceCertificate(der: Data(try certificate.derBytes), fingerprint: try certificate.sha256Fingerprint,
                                              serial: certificate.serialNumberHex, notAfter: certificate.notValidAfter),
            nonce: upload.nonce, renewedAt: issuedAt)
        let result: DeviceCertificateRenewalResult
        do {
            result = try await store.renewDeviceCertificate(renewal)
        } catch let refusal as DeviceCertificateRenewalError {
            switch refusal {
            case .unknownDevice: throw ProblemResponse(.unknownDevice, refusal.description)
            case .deviceRevoked: throw ProblemResponse(.deviceRevoked, refusal.description)
            case .foreignCertificate: throw ProblemResponse(.clientCertificateMismatch, refusal.description)
            }
        }
        guard result == .renewed else { throw ProblemResponse(.nonceReplayed, "sign every request with a fresh nonce") }
        return CertificateRenewalResponse(certificate: try certificate.serializeAsPEM().pemString,
                                          caCertificates: try trustedAuthorities().map { try $0.serializeAsPEM().pemString },
                                          notAfter: certificate.notValidAfter)
    }
}
