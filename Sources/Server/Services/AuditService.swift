import AuditLog
import Crypto
import FeedbackWire
import Foundation
import Storage
import StrictJSON

/// The tamper-evident audit log: signed checkpoints of its Merkle tree and bundles that a
/// reviewer verifies offline with `faceloop audit verify`, signed with the audit key.
struct AuditService: Sendable {
    let compliance: any ComplianceStore
    let jobs: any ClusterJobLock
    let key: Curve25519.Signing.PrivateKey
    /// The log's name in its checkpoints.
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
        let treeSize = try await compliance.auditTreeSize()
        let entries = try await compliance.auditEntries(from: 0, to: treeSize)
        return try AuditBundleBuilder(origin: origin, key: key).build(entries: entries, time: now(), since: earlier).serialized()
    }

    /// A signed checkpoint as stored and listed: the fields of its signed text and the signature.
    private func checkpoint() async throws -> JSONValue {
        let size = try await compliance.auditTreeSize()
        let tree = MerkleTree(leafHashes: try await compliance.auditLeafHashes(count: size).compactMap { MerkleHash(bytes: $0) })
        let signed = try AuditCheckpoint(origin: origin, treeSize: tree.size, rootHash: tree.rootHash, time: now()).signed(with: key)
        let json = signed.json
        try await compliance.addAuditCheckpoint(treeSize: tree.size, checkpoint: json.serialized())
        return json
    }

    static func signedCheckpoint(_ bytes: [UInt8]) -> SignedAuditCheckpoint? {
        guard let json = try? JSONValue.parse(bytes), let origin = json["origin"]?.stringValue,
              let size = json["tree_size"]?.numberValue, let root = json["root_hash"]?.stringValue.flatMap({ Data(base64Encoded: $0) }),
              let hash = MerkleHash(bytes: root), let timestamp = json["timestamp"]?.stringValue,
              let signature = json["signature"]?.stringValue.flatMap({ Data(base64Encoded: $0) }),
              let checkpoint = try? AuditCheckpoint(origin: origin, treeSize: Int(size), rootHash: hash, timestamp: timestamp)
        else { return nil }
        return SignedAuditCheckpoint(checkpoint: checkpoint, signature: [UInt8](signature))
    }
}
