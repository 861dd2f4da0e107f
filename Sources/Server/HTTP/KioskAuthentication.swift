import FeedbackWire
import Foundation
import Hummingbird
import Storage
import StrictJSON

/// Who may read what kiosks read (current round, current releases): an enrolled, active
/// kiosk by its TLS client certificate, or a person with a bearer token.
struct KioskAuthentication: Sendable {
    let store: any FeedbackStore
    let admin: AdminAuthenticator
    let peers: PeerCertificates
    let now: @Sendable () -> Date

    /// The kiosk behind the connection's client certificate.
    func requireKiosk(_ request: Request, context: FeedbackRequestContext) async throws -> DeviceRecord {
        guard let certificate = try await peers.certificate(of: context.channel) else {
            throw ProblemResponse(.clientCertificateRequired, "connect with the certificate issued to this kiosk at enrollment")
        }
        guard certificate.isValid(at: now()) else {
            throw ProblemResponse(.deviceCertificateExpired, "the client certificate expired on \(RFC3339.format(certificate.notValidAfter)); enroll the kiosk again")
        }
        guard let device = try await store.device(withCertificateFingerprint: certificate.fingerprint) else {
            throw ProblemResponse(.unknownDevice, "the client certificate belongs to no enrolled device")
        }
        guard device.status == .active else { throw ProblemResponse(.deviceRevoked, "device \(device.deviceID) was revoked") }
        return device
    }

    /// A kiosk, or anyone with a valid token.
    func requireKioskOrToken(_ request: Request, context: FeedbackRequestContext) async throws {
        if try await admin.bearer(request) != nil { return }
        guard try await peers.fingerprint(of: context.channel) != nil else {
            throw ProblemResponse(.unauthorized, "present a device certificate or a bearer token")
        }
        _ = try await requireKiosk(request, context: context)
    }
}
