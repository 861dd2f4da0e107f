import NIOSSL
import X509

/// Accepts a client certificate chain at the TLS handshake when its leaf was issued by the
/// server's device CA, whatever its validity dates. Expiry is then refused at the API with the
/// `device-certificate-expired` problem type, which an operator can act on, instead of a bare
/// TLS alert that the kiosk can only report as a failed handshake.
struct ClientCertificateVerifier: Sendable {
    let authority: Certificate

    func verify(_ chain: [NIOSSLCertificate]) -> NIOSSLVerificationResult {
        guard let presented = chain.first, let der = try? presented.toDERBytes(),
              let leaf = try? Certificate(derEncoded: der) else { return .failed }
        guard leaf.issuer == authority.subject, authority.publicKey.isValidSignature(leaf.signature, for: leaf) else {
            return .failed
        }
        return .certificateVerified
    }
}
