import NIOSSL
import X509

/// Accepts a client certificate chain at the TLS handshake when its leaf was issued by one of
/// the device CAs trusted now (more than one while a rotation overlaps), whatever its validity dates. Expiry is then refused at the API with the
/// `device-certificate-expired` problem type, which an operator can act on, instead of a bare
/// TLS alert that the kiosk can only report as a failed handshake.
struct ClientCertificateVerifier: Sendable {
    let authorities: @Sendable () -> [Certificate]

    func verify(_ chain: [NIOSSLCertificate]) -> NIOSSLVerificationResult {
        guard let presented = chain.first, let der = try? presented.toDERBytes(),
              let leaf = try? Certificate(derEncoded: der) else { return .failed }
        let issued = authorities().contains { authority in
            leaf.issuer == authority.subject && authority.publicKey.isValidSignature(leaf.signature, for: leaf)
        }
        return issued ? .certificateVerified : .failed
    }
}
