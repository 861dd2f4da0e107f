import AuditLog
import Crypto
import FeedbackWire
import Foundation
import Storage
import StrictJSON

/// The tamper-evident audit log: signed checkpoints of its Merkle tree and bundles that a
/// reviewer verifies offline with `faceloop audit verify`, signed with the audit key. The key
/// may be rotated: each checkpoint names the key that signed it, and bundles carry the key's
/// history so that they verify from the first key.
struct AuditService: Sendable {
    let compliance: any ComplianceStore
    let jobs: any ClusterJobLock
    /// The audit key now; another one once the key has been rotated.
    let signingKey: @Sendable () -> Curve25519.Signing.PrivateKey
    /// The audit key's endorsements (``SigningKeyEndorsement``), oldest first.
    let keyHistory: @Sendable () async throws -> [SignedRelease]
    /// The log's first audit key (generation 1): what reviewers pin, and what the history
    /// must follow from.
    let firstKey: Curve25519.Signing.PublicKey
    /// The log's name in its checkpoints; it stays the same across key rotations.
    let origin: String
    let now: @Sendable () -> Date

    /// Signs and stores a checkpoint of the log as it is now.
    func addCheckpoint() async throws -> JSONValue {
        // One checkpoint at a time across nodes, so checkpoints of one size are one signature.
        try await jobs.afterWaiting(for: .auditCheckpoint) { try await self.checkpoint() }
    }

    func checkpoints() async throws -> JSONValue {
        .array(try await compliance.auditCheckpoints().compactMap { try? JSONValue.parse($0.checkpoint) })
    }

    /// The log's entries with their proofs, signed now, and proven consistent with the stored
    /// checkpoint of tree size `since` when one is named.
    func bundle(since size: Int?) async throws -> [UInt8] {
        var earlier: SignedAuditCheckpoint?
        if let size {
            guard let stored = try await compliance.auditCheckpoints().first(where: { $0.treeSize == size }),
                  let signed = Self.signedCheckpoint(stored.checkpoint) else {
                throw ProblemResponse(.notFound, "no stored checkpoint of tree size \(size); list them at /v1/audit/checkpoints")
            }
            earlier = signed
        }
        // The time before the key, so a checkpoint is not dated after the key it is signed with was read.
        let time = now()
        let signer = try await currentSigner()
        let treeSize = try await compliance.auditTreeSize()
        let entries = try await compliance.auditEntries(from: 0, to: treeSize)
        return try AuditBundleBuilder(origin: origin, key: signer.key, keyHistory: signer.history)
            .build(entries: entries, time: time, since: earlier).serialized()
    }

    /// `{"origin", "keys": [{key_id, generation, public_key, activated_at}], "endorsements": [...]}`:
    /// what a reviewer needs beside a bundle, the keys as verified from the first one.
    func signingKeys() async throws -> JSONValue {
        let signer = try await currentSigner()
        let keys: [JSONValue] = signer.keys.map { key in
            .object([
                ("key_id", .string(key.keyID)),
                ("generation", .number(Double(key.generation))),
                ("public_key", .string(key.publicKey.rawRepresentation.base64EncodedString())),
                ("activated_at", key.activatedAt.map { .string(RFC3339.format($0)) } ?? .null),
            ])
        }
        let endorsements = try JSONValue.parse([UInt8](try WireJSON.encoder().encode(signer.history)))
        return .object([("origin", .string(origin)), ("keys", .array(keys)), ("endorsements", endorsements)])
    }

    /// The key to sign with now, checked against its history: a checkpoint signed with a key
    /// the history does not reach from the first key would fail every reviewer's check.
    private func currentSigner() async throws -> (key: Curve25519.Signing.PrivateKey, history: [SignedRelease], keys: [SigningKey]) {
        let history = try await keyHistory()
        let key = signingKey()
        let keys: [SigningKey]
        do {
            keys = try SigningKeyHistory.verify(pinned: firstKey, endorsements: history, purpose: .auditSigning)
        } catch {
            throw ProblemResponse(.internalError, "the audit key history does not follow from the first audit key: \(error)")
        }
        let keyID = SignedRelease.keyID(of: key.publicKey)
        guard keys.last?.keyID == keyID else {
            throw ProblemResponse(.internalError, "the audit key \(keyID) is not the newest key of the audit key history")
        }
        return (key, history, keys)
    }

    /// A signed checkpoint as stored and listed: the fields of its signed text and the signature.
    private func checkpoint() async throws -> JSONValue {
        let time = now()   // before the key, as in `bundle`
        let signer = try await currentSigner()
        let size = try await compliance.auditTreeSize()
        let tree = MerkleTree(leafHashes: try await compliance.auditLeafHashes(count: size).compactMap { MerkleHash(bytes: $0) })
        let signed = try AuditCheckpoint(origin: origin, treeSize: tree.size, rootHash: tree.rootHash, time: time,
                                         keyID: SignedRelease.keyID(of: signer.key.publicKey)).signed(with: signer.key)
        let json = signed.json
        try await compliance.addAuditCheckpoint(treeSize: tree.size, checkpoint: json.serialized())
        return json
    }

    /// A stored checkpoint; those stored before key rotation name no key.
    static func signedCheckpoint(_ bytes: [UInt8]) -> SignedAuditCheckpoint? {
        guard let json = try? JSONValue.parse(bytes), let origin = json["origin"]?.stringValue,
              let size = json["tree_size"]?.numberValue, let root = json["root_hash"]?.stringValue.flatMap({ Data(base64Encoded: $0) }),
              let hash = MerkleHash(bytes: root), let timestamp = json["timestamp"]?.stringValue,
              let signature = json["signature"]?.stringValue.flatMap({ Data(base64Encoded: $0) }),
              let checkpoint = try? AuditCheckpoint(origin: origin, treeSize: Int(size), rootHash: hash, timestamp: timestamp,
                                                    keyID: json["key_id"]?.stringValue)
        else { return nil }
        return SignedAuditCheckpoint(checkpoint: checkpoint, signature: [UInt8](signature))
    }
}
