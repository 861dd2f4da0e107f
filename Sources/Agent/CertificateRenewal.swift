import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import NIOSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension AgentFiles {
    /// A renewal's new TLS key, its certificate and the CA bundle of its answer, each written
    /// whole before any of them replaces the file in use. The certificate is written last: its
    /// presence says the other two are complete (`KioskAgent.finishPendingRenewal`).
    public var pendingTLSKey: String { path("tls.key.next") }
    public var pendingCertificate: String { path("device.crt.next") }
    public var pendingCACertificate: String { path("ca.crt.next") }
}

/// The kiosk's side of certificate renewal (`POST /v1/kiosk/certificate-renewals`): a new P-256
/// key and CSR, sent over mutual TLS with the current certificate and signed with the Ed25519
/// upload key like an upload. The server keeps the old certificate working until it expires,
/// so whatever point a crash interrupts the exchange at, the kiosk is left with a pair the
/// server accepts: the old key and certificate until the new pair is complete on disk, then
/// the new one.
extension KioskAgent {
    public struct CertificateRenewal: Sendable, Codable, Equatable {
        public var fingerprint: String
        public var notValidAfter: Date
        /// The CA certificates now pinned in `ca.crt`.
        public var caCertificates: Int

        enum CodingKeys: String, CodingKey {
            case fingerprint, notValidAfter = "not_after", caCertificates = "ca_certificates"
        }
    }

    /// What an automatic renewal before a command did.
    public enum AutomaticRenewal: Sendable, Equatable {
        case notDue
        case renewed(CertificateRenewal)
        /// The command goes on with the old certificate; the next one tries again.
        case failed(String)
    }

    /// Whether two thirds of the current certificate's life have passed at `now`.
    public func certificateRenewalDue(now: Date = Date()) throws -> Bool {
        try finishPendingRenewal()
        let certificate = try currentCertificate()
        return CertificateRenewalSchedule.isDue(notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter, now: now)
    }

    /// Renews the certificate now, whatever its age. `now` signs the request (the server
    /// checks it against its own clock).
    public func renewCertificate(now: Date = Date()) async throws -> CertificateRenewal {
        try finishPendingRenewal()
        let settings = try loadSettings()
        let signingKey = try loadSigningKey()
        let newKey = P256.Signing.PrivateKey()
        try files.write(Data(newKey.pemRepresentation.utf8), to: files.pendingTLSKey, mode: 0o600)
        let csr = try DeviceKeys(tlsKey: newKey, signingKey: signingKey).certificateSigningRequestPEM(deviceID: settings.deviceID)
        let body = try CertificateRenewalRequest(csr: csr).encoded()
        let path = "/v1/kiosk/certificate-renewals"
        let headers = try UploadSignaturePolicy.signUpload(method: "POST", path: path, authority: "", body: body,
                                                           keyID: settings.deviceID, key: signingKey, now: now)
        let status: Int
        let answer: [UInt8]
        do {
            (status, answer) = try await ServerTLS.withClient(try clientConfiguration()) {
                try await ServerTLS.post(client: $0, url: settings.serverURL + path, headers: headers, body: body)
            }
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError.transport("\(error)")
        }
        guard status == 201 else { throw ServerTLS.refusal(status: status, body: answer) }
        let response: CertificateRenewalResponse
        do {
            response = try WireJSON.decoder().decode(CertificateRenewalResponse.self, from: Data(answer))
        } catch {
            throw AgentError.server("unreadable renewal answer: \(error)")
        }
        let issued = try checked(response, key: newKey, deviceID: settings.deviceID)
        let bundle = response.caCertificates.map { $0.hasSuffix("\n") ? $0 : $0 + "\n" }.joined()
        try files.write(Data(bundle.utf8), to: files.pendingCACertificate, mode: 0o600)
        try files.write(Data(response.certificate.utf8), to: files.pendingCertificate, mode: 0o600)
        try finishPendingRenewal()
        return CertificateRenewal(fingerprint: try issued.fingerprint, notValidAfter: issued.notValidAfter,
                                  caCertificates: response.caCertificates.count)
    }

    /// Renews when it is due, before a command that talks to the server. Never throws: a
    /// failed renewal is logged and reported, and the command goes on with the old
    /// certificate, which the server accepts until it expires.
    public func renewCertificateIfDue(now: Date = Date()) async -> AutomaticRenewal {
        do {
            guard try certificateRenewalDue(now: now) else { return .notDue }
            let renewal = try await renewCertificate(now: now)
            logger.notice("client certificate renewed", metadata: ["not_after": "\(renewal.notValidAfter)"])
            return .renewed(renewal)
        } catch {
            logger.warning("client certificate renewal failed; going on with the current certificate", metadata: ["error": "\(error)"])
            return .failed("\(error)")
        }
    }

    /// Moves a renewal's files into place once its answer is complete on disk (the pending
    /// certificate, written last, is there), in an order where each step is one rename and the
    /// pair left after any of them is completed by running this again: every read of the
    /// kiosk's identity runs it first. A pending key without a certificate is a renewal that
    /// got no answer; it is left to be overwritten by the next.
    func finishPendingRenewal() throws {
        let manager = FileManager.default
        guard manager.fileExists(atPath: files.pendingCertificate) else { return }
        if manager.fileExists(atPath: files.pendingCACertificate) { try move(files.pendingCACertificate, to: files.caCertificate) }
        if manager.fileExists(atPath: files.pendingTLSKey) { try move(files.pendingTLSKey, to: files.tlsKey) }
        try move(files.pendingCertificate, to: files.certificate)
    }

    func currentCertificate() throws -> PEMCertificate {
        do {
            return try PEMCertificate(pem: try String(contentsOfFile: files.certificate, encoding: .utf8))
        } catch {
            throw AgentError.unreadable(files.certificate, "\(error)")
        }
    }

    /// The answer's certificate must be for the new key and this device, issued by a CA of the
    /// answer's bundle, and the bundle usable as TLS trust roots: nothing else replaces the
    /// pair in use.
    private func checked(_ response: CertificateRenewalResponse, key: P256.Signing.PrivateKey, deviceID: String) throws -> PEMCertificate {
        let issued: PEMCertificate
        let authorities: [PEMCertificate]
        do {
            issued = try PEMCertificate(pem: response.certificate)
            authorities = try response.caCertificates.map { try PEMCertificate(pem: $0) }
            for pem in response.caCertificates { _ = try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem) }
        } catch {
            throw AgentError.server("the renewal answer holds an unreadable certificate: \(error)")
        }
        guard issued.certifies(key) else { throw AgentError.server("the renewed certificate is not for the key this kiosk sent") }
        guard issued.commonName == deviceID else {
            throw AgentError.server("the renewed certificate names \(issued.commonName ?? "nobody"), not \(deviceID)")
        }
        guard issued.isIssued(byOneOf: authorities) else {
            throw AgentError.server("the renewed certificate was not issued by a CA of the answer's bundle")
        }
        return issued
    }

    private func move(_ source: String, to destination: String) throws {
        guard rename(source, destination) == 0 else {
            throw AgentError.unreadable(source, "cannot move it to \(destination): \(String(cString: strerror(errno)))")
        }
    }
}
