import AuditLog
import Foundation
import StrictJSON

/// One generation of one of the server's keys, as every node sees it. The private halves stay
/// in the data directory; the store holds what nodes, kiosks and reviewers must agree on: which
/// key is newest, its public half and what vouches for it.
public struct ServerKeyRecord: Sendable, Equatable {
    /// `device-ca`, `tls-certificate`, `release-signing` or `audit-signing`.
    public var purpose: String
    /// 1 for the key the server was created with, then one more per rotation.
    public var generation: Int
    /// Ed25519 keys: `SignedRelease.keyID`; certificates: the SHA-256 fingerprint of the DER.
    public var keyID: String
    /// The public key (base64) or the certificate (PEM).
    public var publicMaterial: String
    /// What the previous generation says about this one: a signing-key endorsement (JSON) or
    /// the device CA's cross-signed certificate (PEM); nil for generation 1 and TLS certificates.
    public var endorsement: String?
    public var activatedAt: Date

    public init(purpose: String, generation: Int, keyID: String, publicMaterial: String, endorsement: String?, activatedAt: Date) {
        self.purpose = purpose
        self.generation = generation
        self.keyID = keyID
        self.publicMaterial = publicMaterial
        self.endorsement = endorsement
        self.activatedAt = activatedAt
    }
}

public enum ServerKeyStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another node rotated first, or this node's key files are behind the store.
    case notNewest(purpose: String, generation: Int)

    public var description: String {
        switch self {
        case let .notNewest(purpose, generation):
            return "generation \(generation) of the \(purpose) key is already stored: another node rotated it, "
                + "or this node's key files are behind the store (copy the data directory from the node that rotated)"
        }
    }
}

/// The server's key generations.
public protocol ServerKeyStore: Sendable {
    /// Every generation of `purpose`, oldest first.
    func serverKeys(purpose: String) async throws -> [ServerKeyRecord]
    /// Records the key a server was created with, or started with before keys were recorded;
    /// does nothing when the purpose already has a generation 1 (another node got there first).
    func registerFirstServerKey(_ record: ServerKeyRecord) async throws
    /// Records a new generation and its `key_rotated` audit entry in one transaction; throws
    /// ``ServerKeyStoreError/notNewest(purpose:generation:)`` when that generation exists.
    func recordServerKeyRotation(_ record: ServerKeyRecord, previousKeyID: String, actor: String) async throws
}

extension StoreTables {
    static let serverKeys = StoreTable("server_keys", [
        .text("purpose", .oneOf(["device-ca", "tls-certificate", "release-signing", "audit-signing"])),
        .integer("generation", .positive),
        .text("key_id"),
        .text("public_material"),
        .text("endorsement", .optional),
        .time("activated_at"),
    ], primaryKey: ["purpose", "generation"])

    /// The server's key generations (SQLite's v13, PostgreSQL's v10). Existing servers record
    /// their keys as generation 1 when they next start.
    static func serverKeyTable(_ dialect: StoreDialect) -> [String] {
        [serverKeys.create(dialect)]
    }
}

extension StoreSQL {
    func serverKeys(purpose: String) -> StoreStatement {
        StoreStatement("SELECT * FROM server_keys WHERE purpose = ? ORDER BY generation", purpose)
    }

    /// Idempotent, so that two nodes starting together, or a rotation retried, record a
    /// generation once; the caller reads the changed-row count.
    func insertServerKey(_ record: ServerKeyRecord) -> StoreStatement {
        StoreStatement("""
            INSERT INTO server_keys (purpose, generation, key_id, public_material, endorsement, activated_at)
            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (purpose, generation) DO NOTHING
            """, record.purpose, record.generation, record.keyID, record.publicMaterial, record.endorsement, record.activatedAt)
    }
}

extension StoreRows {
    static func serverKey(_ row: some StoreRow) throws -> ServerKeyRecord {
        ServerKeyRecord(purpose: try row.text("purpose"), generation: try row.integer("generation"), keyID: try row.text("key_id"),
                        publicMaterial: try row.text("public_material"), endorsement: try row.optionalText("endorsement"),
                        activatedAt: try row.date("activated_at"))
    }
}

extension StoreAuditDetails {
    static func keyRotated(_ record: ServerKeyRecord, previousKeyID: String) -> JSONValue {
        .object([("purpose", .string(record.purpose)), ("generation", .number(Double(record.generation))),
                 ("key_id", .string(record.keyID)), ("previous_key_id", .string(previousKeyID))])
    }
}

extension SQLiteStore: ServerKeyStore {
    public func serverKeys(purpose: String) async throws -> [ServerKeyRecord] {
        try await pool.read { db in try db.fetchAll(Self.sql.serverKeys(purpose: purpose)).map(StoreRows.serverKey) }
    }

    public func registerFirstServerKey(_ record: ServerKeyRecord) async throws {
        try await pool.write { db in _ = try db.changes(Self.sql.insertServerKey(record)) }
    }

    public func recordServerKeyRotation(_ record: ServerKeyRecord, previousKeyID: String, actor: String) async throws {
        try await pool.write { db in
            guard try db.changes(Self.sql.insertServerKey(record)) == 1 else {
                throw ServerKeyStoreError.notNewest(purpose: record.purpose, generation: record.generation)
            }
            try db.appendAudit([try PendingAuditEntry(.keyRotated, actor: actor,
                                                      details: StoreAuditDetails.keyRotated(record, previousKeyID: previousKeyID),
                                                      at: record.activatedAt)])
        }
    }
}

extension PostgresStore: ServerKeyStore {
    public func serverKeys(purpose: String) async throws -> [ServerKeyRecord] {
        try await read { db in try await db.fetchAll(Self.sql.serverKeys(purpose: purpose)).map(StoreRows.serverKey) }
    }

    public func registerFirstServerKey(_ record: ServerKeyRecord) async throws {
        try await write { db in _ = try await db.changes(Self.sql.insertServerKey(record)) }
    }

    public func recordServerKeyRotation(_ record: ServerKeyRecord, previousKeyID: String, actor: String) async throws {
        try await write { db in
            guard try await db.changes(Self.sql.insertServerKey(record)) == 1 else {
                throw ServerKeyStoreError.notNewest(purpose: record.purpose, generation: record.generation)
            }
            try await db.apply(StoreChange([], audit: [try PendingAuditEntry(.keyRotated, actor: actor,
                                                                             details: StoreAuditDetails.keyRotated(record, previousKeyID: previousKeyID),
                                                                             at: record.activatedAt)]))
        }
    }
}
