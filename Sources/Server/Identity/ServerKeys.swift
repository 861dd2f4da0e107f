import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import Logging
import NIOSSL
import Storage
import Synchronization
import X509

/// The server's keys as they are now: what issues kiosk certificates, which device CAs are
/// trusted, the TLS certificate, and the release and audit keys with the endorsements that
/// chain them to their first generation. Handlers read it per request, so a rotation takes
/// effect on the next request and the next TLS handshake, without a restart.
final class ServerKeys: Sendable {
    struct Snapshot: Sendable {
        /// Issues kiosk and TLS certificates.
        var deviceCA: CertificateAuthority
        /// Every device CA still trusted, oldest first: what kiosks pin and the handshake accepts.
        var trustedAuthorities: [Certificate]
        /// Each newer device CA signed by the one before it, oldest first.
        var crossCertificates: [Certificate]
        var tlsLeaf: Certificate
        /// The leaf, then every cross certificate, newest first, so that a kiosk that pins only
        /// an older CA still verifies it.
        var tlsChain: [NIOSSLCertificate]
        var tlsKey: NIOSSLPrivateKey
        var releaseKey: Curve25519.Signing.PrivateKey
        var releaseEndorsements: [SignedRelease]
        /// The first release key: what kiosks pin at enrollment. Every later key chains to it,
        /// and a release published before a rotation still verifies.
        var releaseAnchor: Curve25519.Signing.PublicKey
        var auditKey: Curve25519.Signing.PrivateKey
        var auditEndorsements: [SignedRelease]
        /// The first audit key: what reviewers pin; the log is named after it.
        var auditAnchor: Curve25519.Signing.PublicKey
        /// The audit log's name: after its first key, and unchanged by rotations.
        var auditOrigin: String
    }

    private let state: Mutex<Snapshot>

    init(_ snapshot: Snapshot) {
        state = Mutex(snapshot)
    }

    var current: Snapshot { state.withLock { $0 } }

    func replace(_ update: (inout Snapshot) -> Void) {
        state.withLock { update(&$0) }
    }

    /// The TLS certificate for each handshake, so that a renewed one is served at once. Until
    /// the chain differs from `served`, the one the TLS context was made with, the handshake
    /// keeps the context's: setting chain and key on every handshake was about a third of the
    /// server's work in one.
    func tlsContextCallback(contextServes served: [NIOSSLCertificate]) -> NIOSSLContextCallback {
        { [self] _, promise in
            let (chain, key) = state.withLock { ($0.tlsChain, $0.tlsKey) }
            var override = NIOSSLContextConfigurationOverride()
            if chain != served {
                override.certificateChain = chain.map { .certificate($0) }
                override.privateKey = .privateKey(key)
            }
            promise.succeed(override)
        }
    }
}

/// Reads the key files of a data directory, reconciled with the generations in the store.
enum ServerKeyFiles {
    /// A rotation writes the new private key beside the old one as `NAME.next`, records the new
    /// generation in the store, then renames. The store is the commit point: at start a `.next`
    /// file the store names as newest is finished, any other is an abandoned attempt and removed.
    static func pending(_ path: String) -> String { path + ".next" }

    static func load(dataDirectory: String, store: any ServerKeyStore, logger: Logger) async throws -> ServerKeys {
        func path(_ name: String) -> String { (dataDirectory as NSString).appendingPathComponent(name) }
        typealias Files = ServerIdentity.Files

        // Device CA: the store's generations are the trusted set; ca.key says which one issues.
        var caRecords = try await store.serverKeys(purpose: KeyPurpose.deviceCA.rawValue)
        if caRecords.isEmpty {
            let certificates = try Certificate.bundle(pem: try String(contentsOfFile: path(Files.caCertificate), encoding: .utf8))
            guard let first = certificates.first else { throw ServerIdentity.IdentityError.unreadable(path(Files.caCertificate)) }
            try await store.registerFirstServerKey(try record(.deviceCA, generation: 1, certificate: first, endorsement: nil))
            caRecords = try await store.serverKeys(purpose: KeyPurpose.deviceCA.rawValue)
        }
        let authorities = try caRecords.map { try Certificate(pemEncoded: $0.publicMaterial) }
        let crosses = try caRecords.compactMap { try $0.endorsement.map { try Certificate(pemEncoded: $0) } }
        try finishPending(path(Files.caKey), newest: caRecords.last) { pem in
            let key = try P256.Signing.PrivateKey(pemRepresentation: pem)
            return authorities.last.map { $0.publicKey == Certificate.PublicKey(key.publicKey) } ?? false
        }
        let ca = try CertificateAuthority.load(bundle: authorities, privateKeyPEM: try String(contentsOfFile: path(Files.caKey), encoding: .utf8))
        if ca.certificate != authorities.last {
            logger.warning("this node's device CA key is not the newest generation; copy the data directory from the node that rotated it")
        }
        // Kiosks and the operators' client pin this file, so it lists every trusted CA.
        try rewriteIfChanged(pem(authorities), at: path(Files.caCertificate))
        try rewriteIfChanged(pem(crosses), at: path(Files.caCrossCertificates))

        // TLS certificate.
        let tlsRecords = try await store.serverKeys(purpose: KeyPurpose.tlsCertificate.rawValue)
        let chainPath = path(Files.serverCertificate)
        if FileManager.default.fileExists(atPath: pending(chainPath)) {
            let pendingChain = try Certificate.bundle(pem: try String(contentsOfFile: pending(chainPath), encoding: .utf8))
            if let leaf = pendingChain.first, let newest = tlsRecords.last, newest.keyID == (try leaf.sha256Fingerprint) {
                try promote(path(Files.serverKey))
                try promote(chainPath)
            } else {
                try? FileManager.default.removeItem(atPath: pending(path(Files.serverKey)))
                try? FileManager.default.removeItem(atPath: pending(chainPath))
            }
        }
        let chain = try Certificate.bundle(pem: try String(contentsOfFile: chainPath, encoding: .utf8))
        guard let leaf = chain.first else { throw ServerIdentity.IdentityError.unreadable(chainPath) }
        if tlsRecords.isEmpty {
            try await store.registerFirstServerKey(try record(.tlsCertificate, generation: 1, certificate: leaf, endorsement: nil))
        }

        // Release and audit keys.
        let release = try await signingKey(.releaseSigning, privatePath: path(Files.releaseSigningKey),
                                           publicPath: path(Files.releaseSigningPublicKey), store: store, logger: logger)
        let audit = try await signingKey(.auditSigning, privatePath: path(Files.auditSigningKey),
                                         publicPath: path(Files.auditSigningPublicKey), store: store, logger: logger)
        return ServerKeys(ServerKeys.Snapshot(
            deviceCA: ca, trustedAuthorities: authorities, crossCertificates: crosses,
            tlsLeaf: leaf, tlsChain: try chain.map { try NIOSSLCertificate(bytes: try $0.derBytes, format: .der) },
            tlsKey: try NIOSSLPrivateKey(file: path(Files.serverKey), format: .pem),
            releaseKey: release.key, releaseEndorsements: release.endorsements, releaseAnchor: release.first,
            auditKey: audit.key, auditEndorsements: audit.endorsements, auditAnchor: audit.first,
            auditOrigin: "faceloop-audit/" + SignedRelease.keyID(of: audit.first)))
    }

    static func signingKey(_ purpose: KeyPurpose, privatePath: String, publicPath: String, store: any ServerKeyStore,
                           logger: Logger) async throws
        -> (key: Curve25519.Signing.PrivateKey, endorsements: [SignedRelease], first: Curve25519.Signing.PublicKey) {
        var records = try await store.serverKeys(purpose: purpose.rawValue)
        try finishPending(privatePath, newest: records.last) { text in
            records.last?.keyID == SignedRelease.keyID(of: try ed25519(text, path: privatePath).publicKey)
        }
        let key = try ed25519(try String(contentsOfFile: privatePath, encoding: .utf8), path: privatePath)
        if records.isEmpty {
            try await store.registerFirstServerKey(ServerKeyRecord(
                purpose: purpose.rawValue, generation: 1, keyID: SignedRelease.keyID(of: key.publicKey),
                publicMaterial: key.publicKey.rawRepresentation.base64EncodedString(), endorsement: nil, activatedAt: Date()))
            records = try await store.serverKeys(purpose: purpose.rawValue)
        }
        // A key the history never had (a lost key file replaced by a fresh one) would sign what
        // nobody who pinned the history can verify: refuse to start instead.
        guard records.contains(where: { $0.keyID == SignedRelease.keyID(of: key.publicKey) }) else {
            throw ServerIdentity.IdentityError.notInHistory(privatePath, purpose.rawValue)
        }
        if records.last?.keyID != SignedRelease.keyID(of: key.publicKey) {
            logger.warning("this node's \(purpose.rawValue) key is not the newest generation; copy the data directory from the node that rotated it")
        }
        try rewriteIfChanged(key.publicKey.rawRepresentation.base64EncodedString() + "\n", at: publicPath)
        let endorsements = try records.compactMap { record in
            try record.endorsement.map { try WireJSON.decoder().decode(SignedRelease.self, from: Data($0.utf8)) }
        }
        guard let firstText = records.first?.publicMaterial, let firstRaw = Data(base64Encoded: firstText),
              let first = try? Curve25519.Signing.PublicKey(rawRepresentation: firstRaw) else {
            throw ServerIdentity.IdentityError.unreadable("the stored first \(purpose.rawValue) key")
        }
        return (key, endorsements, first)
    }

    static func ed25519(_ text: String, path: String) throws -> Curve25519.Signing.PrivateKey {
        guard let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ServerIdentity.IdentityError.unreadable(path)
        }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
    }

    static func record(_ purpose: KeyPurpose, generation: Int, certificate: Certificate, endorsement: Certificate?,
                       at time: Date = Date()) throws -> ServerKeyRecord {
        ServerKeyRecord(purpose: purpose.rawValue, generation: generation, keyID: try certificate.sha256Fingerprint,
                        publicMaterial: try certificate.serializeAsPEM().pemString,
                        endorsement: try endorsement.map { try $0.serializeAsPEM().pemString }, activatedAt: time)
    }

    private static func finishPending(_ path: String, newest: ServerKeyRecord?, isNewest: (String) throws -> Bool) throws {
        let next = pending(path)
        guard let text = try? String(contentsOfFile: next, encoding: .utf8) else { return }
        if newest != nil, (try? isNewest(text)) == true {
            try promote(path)
        } else {
            try FileManager.default.removeItem(atPath: next)
        }
    }

    static func promote(_ path: String) throws {
        guard rename(pending(path), path) == 0 else {
            throw ServerIdentity.IdentityError.unreadable(pending(path))
        }
    }

    static func pem(_ certificates: [Certificate]) throws -> String {
        try certificates.map { try $0.serializeAsPEM().pemString + "\n" }.joined()
    }

    static func rewriteIfChanged(_ text: String, at path: String) throws {
        if (try? String(contentsOfFile: path, encoding: .utf8)) == text { return }
        try PrivateFile.replace(Data(text.utf8), at: path, mode: 0o644)
    }
}

/// The keys `faceloop admin rotate` names.
enum KeyPurpose: String, Sendable, CaseIterable {
    case deviceCA = "device-ca"
    case tlsCertificate = "tls-certificate"
    case releaseSigning = "release-signing"
    case auditSigning = "audit-signing"
}
