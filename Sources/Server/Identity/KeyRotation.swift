import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import Logging
import NIOSSL
import Storage
import StrictJSON
import X509

/// Rotates one of the server's keys with overlap: the new generation is recorded in the store
/// with what vouches for it (the old key's endorsement, the old CA's cross certificate) and
/// its `key_rotated` audit entry, the private half replaces the old one in the data directory,
/// and the next request uses it. Whatever the old key signed or issued stays valid.
actor KeyRotation {
    let keys: ServerKeys
    let store: any ServerKeyStore
    let dataDirectory: String
    let certificateHosts: [String]
    let logger: Logger
    let now: @Sendable () -> Date

    init(keys: ServerKeys, store: any ServerKeyStore, dataDirectory: String, certificateHosts: [String], logger: Logger,
         now: @escaping @Sendable () -> Date) {
        self.keys = keys
        self.store = store
        self.dataDirectory = dataDirectory
        self.certificateHosts = certificateHosts
        self.logger = logger
        self.now = now
    }

    func path(_ name: String) -> String { (dataDirectory as NSString).appendingPathComponent(name) }

    func rotate(_ purpose: KeyPurpose, actor: String) async throws -> KeyRotationResult {
        switch purpose {
        case .deviceCA: return try await rotateDeviceCA(actor: actor)
        case .tlsCertificate: return try await renewTLSCertificate(actor: actor)
        case .releaseSigning: return try await rotateSigningKey(.releaseSigning, actor: actor)
        case .auditSigning: return try await rotateSigningKey(.auditSigning, actor: actor)
        }
    }

    /// The next generation of `purpose`, refused when this node's key is not the newest: a
    /// rotation from a stale node would fork the history.
    private func nextGeneration(_ purpose: KeyPurpose, currentKeyID: String) async throws -> (generation: Int, previous: String) {
        let records = try await store.serverKeys(purpose: purpose.rawValue)
        guard let newest = records.last else {
            throw ServerKeyStoreError.notNewest(purpose: purpose.rawValue, generation: 1)
        }
        guard newest.keyID == currentKeyID else {
            throw ServerKeyStoreError.notNewest(purpose: purpose.rawValue, generation: newest.generation)
        }
        return (newest.generation + 1, newest.keyID)
    }

    private func rotateSigningKey(_ purpose: KeyPurpose, actor: String) async throws -> KeyRotationResult {
        let snapshot = keys.current
        let (old, endorsedPurpose, privateName, publicName): (Curve25519.Signing.PrivateKey, SigningKeyPurpose, String, String) =
            purpose == .releaseSigning
                ? (snapshot.releaseKey, .releaseSigning, ServerIdentity.Files.releaseSigningKey, ServerIdentity.Files.releaseSigningPublicKey)
                : (snapshot.auditKey, .auditSigning, ServerIdentity.Files.auditSigningKey, ServerIdentity.Files.auditSigningPublicKey)
        let (generation, previous) = try await nextGeneration(purpose, currentKeyID: SignedRelease.keyID(of: old.publicKey))
        let time = now()
        let new = Curve25519.Signing.PrivateKey()
        let endorsement = try SigningKeyEndorsement.sign(purpose: endorsedPurpose, generation: generation, newKey: new.publicKey,
                                                         previous: old, at: time)
        let privatePath = path(privateName)
        try PrivateFile.replace(Data((new.rawRepresentation.base64EncodedString() + "\n").utf8), at: ServerKeyFiles.pending(privatePath))
        let record = ServerKeyRecord(purpose: purpose.rawValue, generation: generation, keyID: SignedRelease.keyID(of: new.publicKey),
                                     publicMaterial: new.publicKey.rawRepresentation.base64EncodedString(),
                                     endorsement: String(decoding: try WireJSON.encoder().encode(endorsement), as: UTF8.self),
                                     activatedAt: time)
        try await recordOrAbandon(record, previousKeyID: previous, actor: actor, pending: [privatePath])
        try ServerKeyFiles.promote(privatePath)
        try ServerKeyFiles.rewriteIfChanged(new.publicKey.rawRepresentation.base64EncodedString() + "\n", at: path(publicName))
        keys.replace { snapshot in
            if purpose == .releaseSigning {
                snapshot.releaseKey = new
                snapshot.releaseEndorsements.append(endorsement)
            } else {
                snapshot.auditKey = new
                snapshot.auditEndorsements.append(endorsement)
            }
        }
        logger.notice("rotated the \(purpose.rawValue) key", metadata: ["generation": "\(generation)", "key_id": "\(record.keyID)"])
        return KeyRotationResult(key: purpose.rawValue, generation: generation, keyID: record.keyID, previousKeyID: previous, activatedAt: time)
    }

    /// A new device CA, cross-signed by the current one. Kiosk certificates issued from now on
    /// come from the new CA; the old CA stays trusted until it expires, so every certificate
    /// it issued keeps working, and kiosks learn the new CA with their next renewal.
    private func rotateDeviceCA(actor: String) async throws -> KeyRotationResult {
        let snapshot = keys.current
        let (generation, previous) = try await nextGeneration(.deviceCA, currentKeyID: try snapshot.deviceCA.certificate.sha256Fingerprint)
        let time = now()
        let new = try CertificateAuthority.create(subject: snapshot.deviceCA.certificate.subject, now: time)
        let cross = try snapshot.deviceCA.crossSign(new.certificate, now: time)
        let keyPath = path(ServerIdentity.Files.caKey)
        try PrivateFile.replace(Data(new.privateKeyPEM.utf8), at: ServerKeyFiles.pending(keyPath))
        let record = try ServerKeyFiles.record(.deviceCA, generation: generation, certificate: new.certificate, endorsement: cross, at: time)
        try await recordOrAbandon(record, previousKeyID: previous, actor: actor, pending: [keyPath])
        try ServerKeyFiles.promote(keyPath)
        let authorities = snapshot.trustedAuthorities + [new.certificate]
        let crosses = snapshot.crossCertificates + [cross]
        try ServerKeyFiles.rewriteIfChanged(try ServerKeyFiles.pem(authorities), at: path(ServerIdentity.Files.caCertificate))
        try ServerKeyFiles.rewriteIfChanged(try ServerKeyFiles.pem(crosses), at: path(ServerIdentity.Files.caCrossCertificates))
        keys.replace { snapshot in
            snapshot.deviceCA = new
            snapshot.trustedAuthorities = authorities
            snapshot.crossCertificates = crosses
        }
        logger.notice("rotated the device CA", metadata: ["generation": "\(generation)", "fingerprint": "\(record.keyID)"])
        return KeyRotationResult(key: KeyPurpose.deviceCA.rawValue, generation: generation, keyID: record.keyID, previousKeyID: previous,
                       activatedAt: time)
    }

    /// A new TLS key and certificate from the current device CA, served from the next handshake.
    /// TLS certificates are per node, so the generation follows the store's newest rather than
    /// this node's, and two nodes renewing do not refuse each other.
    private func renewTLSCertificate(actor: String) async throws -> KeyRotationResult {
        let snapshot = keys.current
        let time = now()
        let key = P256.Signing.PrivateKey()
        let leaf = try snapshot.deviceCA.issueServerCertificate(hosts: certificateHosts, publicKey: key.publicKey, now: time)
        // Every cross certificate rides along, newest first, so that a kiosk that still pins only
        // the first CA (asleep through several rotations) walks back to it.
        let chain = [leaf] + snapshot.crossCertificates.reversed()
        let keyPath = path(ServerIdentity.Files.serverKey)
        let chainPath = path(ServerIdentity.Files.serverCertificate)
        try PrivateFile.replace(Data(key.pemRepresentation.utf8), at: ServerKeyFiles.pending(keyPath))
        try PrivateFile.replace(Data(try ServerKeyFiles.pem(chain).utf8), at: ServerKeyFiles.pending(chainPath), mode: 0o644)
        let records = try await store.serverKeys(purpose: KeyPurpose.tlsCertificate.rawValue)
        let record = try ServerKeyFiles.record(.tlsCertificate, generation: (records.last?.generation ?? 0) + 1, certificate: leaf,
                                               endorsement: nil, at: time)
        let previous = try snapshot.tlsLeaf.sha256Fingerprint
        try await recordOrAbandon(record, previousKeyID: previous, actor: actor, pending: [keyPath, chainPath])
        try ServerKeyFiles.promote(keyPath)
        try ServerKeyFiles.promote(chainPath)
        let nioChain = try chain.map { try NIOSSLCertificate(bytes: try $0.derBytes, format: .der) }
        let nioKey = try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)
        keys.replace { snapshot in
            snapshot.tlsLeaf = leaf
            snapshot.tlsChain = nioChain
            snapshot.tlsKey = nioKey
        }
        logger.notice("renewed the TLS certificate", metadata: ["not_after": "\(RFC3339.format(leaf.notValidAfter))"])
        return KeyRotationResult(key: KeyPurpose.tlsCertificate.rawValue, generation: record.generation, keyID: record.keyID, previousKeyID: previous,
                       activatedAt: time)
    }

    private func recordOrAbandon(_ record: ServerKeyRecord, previousKeyID: String, actor: String, pending paths: [String]) async throws {
        do {
            try await store.recordServerKeyRotation(record, previousKeyID: previousKeyID, actor: actor)
        } catch {
            for path in paths { try? FileManager.default.removeItem(atPath: ServerKeyFiles.pending(path)) }
            throw error
        }
    }

    /// Whether the TLS certificate has used up two thirds of its life, the point where the
    /// periodic check renews it: months before it expires, so a failed renewal is noticed.
    func tlsCertificateDue(at time: Date) -> Bool {
        let leaf = keys.current.tlsLeaf
        let life = leaf.notValidAfter.timeIntervalSince(leaf.notValidBefore)
        return time >= leaf.notValidBefore.addingTimeInterval(life * 2 / 3)
    }

    /// The periodic check: renews the TLS certificate when it is due.
    func renewTLSCertificateIfDue() async throws {
        guard tlsCertificateDue(at: now()) else { return }
        _ = try await renewTLSCertificate(actor: "system:tls-renewal")
    }
}
