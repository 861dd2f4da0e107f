import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import Logging
import Storage
import StrictJSON
import X509

/// The server's secrets in its data directory, created on first start: the device CA, the
/// TLS certificate, the release-signing and audit-signing keys and the first admin token
/// (``ServerKeyFiles`` then loads the keys, reconciled with their generations in the store). Private keys and the
/// token are created with mode 0600 (``PrivateFile``), and the server does not start while
/// any of them is open to other users.
public struct ServerIdentity: Sendable {
    public let dataDirectory: String
    public let caCertificatePath: String

    public enum Files {
        /// Every trusted device CA (one until the first rotation).
        public static let caCertificate = "ca.crt"
        /// Each newer device CA signed by the one before it; empty until the first rotation.
        public static let caCrossCertificates = "ca-cross.crt"
        public static let caKey = "ca.key"
        public static let serverCertificate = "server.crt"
        public static let serverKey = "server.key"
        public static let releaseSigningKey = "release-signing.key"
        public static let releaseSigningPublicKey = "release-signing.pub"
        public static let auditSigningKey = "audit-signing.key"
        public static let auditSigningPublicKey = "audit-signing.pub"
        public static let adminToken = "admin.token"

        /// The files only the server's user may read.
        public static let secrets = [caKey, serverKey, releaseSigningKey, auditSigningKey, adminToken]
    }

    /// Loads the identity, creating whatever is missing. The admin token is created on the
    /// store's first start only; after that only when `mintAdminToken` asks for it, so that a
    /// deleted `admin.token` never turns into a new admin token unnoticed.
    public static func loadOrCreate(dataDirectory: String, hosts: [String], store: any FeedbackStore,
                                    mintAdminToken: Bool = false, logger: Logger) async throws -> ServerIdentity {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true,
                               attributes: [.posixPermissions: 0o700])
        func path(_ name: String) -> String { (dataDirectory as NSString).appendingPathComponent(name) }
        for name in Files.secrets where fm.fileExists(atPath: path(name)) {
            try PrivateFile.requirePrivate(path(name))
        }
        // Decided before anything is created, so a refusal leaves the directory as it was.
        let adminTokenGrant: (actor: String, label: String)?
        if fm.fileExists(atPath: path(Files.adminToken)) {
            if mintAdminToken { throw IdentityError.adminTokenFilePresent(path(Files.adminToken)) }
            adminTokenGrant = nil
        } else if try await store.apiTokens().allSatisfy({ $0.role != Role.admin.rawValue }) {
            adminTokenGrant = ("system:first-start", "first admin")
        } else if mintAdminToken {
            adminTokenGrant = ("system:mint-admin-token", "minted at start-up")
        } else {
            throw IdentityError.adminTokenMissing(path(Files.adminToken))
        }

        let ca: CertificateAuthority
        if fm.fileExists(atPath: path(Files.caCertificate)) {
            ca = try CertificateAuthority.load(bundle: try Certificate.bundle(pem: try String(contentsOfFile: path(Files.caCertificate), encoding: .utf8)),
                                               privateKeyPEM: try String(contentsOfFile: path(Files.caKey), encoding: .utf8))
        } else {
            ca = try CertificateAuthority.create(commonName: "FaceLoop Device CA")
            try PrivateFile.create(Data(ca.privateKeyPEM.utf8), at: path(Files.caKey))
            try PrivateFile.create(Data(try ca.certificatePEM.utf8), at: path(Files.caCertificate), mode: 0o644)
            logger.notice("created the device CA", metadata: ["certificate": "\(path(Files.caCertificate))"])
        }

        if !fm.fileExists(atPath: path(Files.serverCertificate)) {
            let key = P256.Signing.PrivateKey()
            let certificate = try ca.issueServerCertificate(hosts: hosts, publicKey: key.publicKey)
            try PrivateFile.create(Data(key.pemRepresentation.utf8), at: path(Files.serverKey))
            try PrivateFile.create(Data(try certificate.serializeAsPEM().pemString.utf8), at: path(Files.serverCertificate), mode: 0o644)
            logger.notice("created the TLS certificate", metadata: ["hosts": "\(hosts.joined(separator: ","))",
                                                                     "certificate": "\(path(Files.serverCertificate))"])
        }

        try createSigningKeyIfMissing(path(Files.releaseSigningKey), publicKeyPath: path(Files.releaseSigningPublicKey),
                                      label: "release-signing", logger: logger)
        // Audit checkpoints and erasure receipts have a key of their own: the compliance
        // reviewer pins it without having to trust the key that releases models.
        try createSigningKeyIfMissing(path(Files.auditSigningKey), publicKeyPath: path(Files.auditSigningPublicKey),
                                      label: "audit-signing", logger: logger)

        if let adminTokenGrant {
            let token = APIToken.generate()
            try await store.addAPIToken(sha256: APIToken.sha256(token), role: Role.admin.rawValue, label: adminTokenGrant.label, at: .now,
                                        actor: adminTokenGrant.actor)
            try PrivateFile.create(Data((token + "\n").utf8), at: path(Files.adminToken))
            logger.notice("created an admin token", metadata: ["file": "\(path(Files.adminToken))"])
        }

        return ServerIdentity(dataDirectory: dataDirectory, caCertificatePath: path(Files.caCertificate))
    }

    /// Creates an Ed25519 key, stored as base64, with its public half beside it.
    static func createSigningKeyIfMissing(_ privatePath: String, publicKeyPath: String, label: String, logger: Logger) throws {
        if FileManager.default.fileExists(atPath: privatePath) { return }
        let key = Curve25519.Signing.PrivateKey()
        try PrivateFile.create(Data((key.rawRepresentation.base64EncodedString() + "\n").utf8), at: privatePath)
        try PrivateFile.replace(Data((key.publicKey.rawRepresentation.base64EncodedString() + "\n").utf8), at: publicKeyPath, mode: 0o644)
        logger.notice("created the \(label) key", metadata: ["public_key": "\(publicKeyPath)"])
    }

    public enum IdentityError: Error, CustomStringConvertible {
        case unreadable(String)
        case adminTokenMissing(String)
        case adminTokenFilePresent(String)
        case notInHistory(String, String)
        public var description: String {
            switch self {
            case let .unreadable(path): return "\(path) is unreadable; restore it from backup"
            case let .adminTokenMissing(path):
                return "\(path) is missing, but the store already has an admin token, so no new one was made. "
                    + "Restore the file from backup, or start the server once with --mint-admin-token to create a new "
                    + "admin token deliberately (then revoke the lost one with `faceloop tokens revoke`)"
            case let .notInHistory(path, purpose):
                return "\(path) is not a \(purpose) key the store has recorded (was the file lost and made again?); "
                    + "restore it from the backup of the data directory"
            case let .adminTokenFilePresent(path):
                return "--mint-admin-token writes a new \(path), but that file exists; move it away first"
            }
        }
    }
}

/// Bearer and enrollment tokens: `fl_` and 256 random bits in base64url; only their SHA-256
/// is stored. The prefix keeps a token from ever starting with "-", which a command line would
/// read as an option (a base64url token did so once in 64), and lets secret scanners spot leaks.
public enum APIToken {
    public static let prefix = "fl_"

    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return prefix + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func sha256(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).lowercaseHex
    }
}
