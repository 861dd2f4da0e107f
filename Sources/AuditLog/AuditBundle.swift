import FeedbackWire
import StrictJSON

/// An exportable, self-contained slice of the audit log: a signed checkpoint, the entries it
/// covers with an inclusion proof each, and optionally a consistency proof from an earlier
/// signed checkpoint (the one a reviewer last accepted). Written as compact JSON:
///
/// ```json
/// {"format":"faceloop-audit-bundle/2",
///  "checkpoint":{"origin":"faceloop-audit/srv","tree_size":5,"root_hash":"…","timestamp":"…","key_id":"…","signature":"…"},
///  "entries":[{"index":0,"entry":"{\"index\":0,…}","inclusion_proof":["…","…"]}, …],
///  "consistency":{"from":{…earlier checkpoint…},"proof":["…"]},
///  "key_history":[{…endorsement of audit key generation 2…}, …]}
/// ```
///
/// Entries run without gaps up to the checkpoint's last entry, starting either at entry 0 (the
/// whole log) or at the earlier checkpoint's size (everything appended since it). The key
/// history makes a bundle that spans a key rotation verifiable from the first key alone.
public struct AuditBundle: Sendable, Equatable {
    public static let format = "faceloop-audit-bundle/2"
    /// Bundles exported before the audit key could be rotated: no key ids, no key history.
    public static let formatBeforeKeyRotation = "faceloop-audit-bundle/1"

    /// One logged entry with its exact leaf bytes and its audit path under the checkpoint.
    public struct Entry: Sendable, Equatable {
        public let index: Int
        /// The leaf as hashed: canonical `AuditEntry` JSON, UTF-8.
        public let entryBytes: [UInt8]
        public let inclusionProof: [MerkleHash]

        public init(index: Int, entryBytes: [UInt8], inclusionProof: [MerkleHash]) {
            self.index = index
            self.entryBytes = entryBytes
            self.inclusionProof = inclusionProof
        }
    }

    /// Proof that the log as of `from` is a prefix of the log as of the bundle's checkpoint.
    public struct Consistency: Sendable, Equatable {
        public let from: SignedAuditCheckpoint
        public let proof: [MerkleHash]

        public init(from: SignedAuditCheckpoint, proof: [MerkleHash]) {
            self.from = from
            self.proof = proof
        }
    }

    public let checkpoint: SignedAuditCheckpoint
    public let entries: [Entry]
    public let consistency: Consistency?
    /// The audit key's endorsements, oldest first; nil for a `faceloop-audit-bundle/1`.
    public let keyHistory: [SignedRelease]?

    public init(checkpoint: SignedAuditCheckpoint, entries: [Entry], consistency: Consistency?, keyHistory: [SignedRelease]? = []) {
        self.checkpoint = checkpoint
        self.entries = entries
        self.consistency = consistency
        self.keyHistory = keyHistory
    }

    /// Reads a bundle, checking its structure only (members, types, base64, hash lengths) —
    /// no signature or proof. `AuditBundleVerifier` does both and reports everything at once.
    public init(bundleBytes: [UInt8]) throws(AuditBundleError) {
        let document = BundleDocument.read(bundleBytes)
        guard document.failures.isEmpty, let bundle = document.bundle else {
            throw AuditBundleError(failures: document.failures)
        }
        self = bundle
    }

    /// The bundle as compact JSON with a fixed member order and no whitespace, so every byte
    /// of it carries meaning.
    public func serialized() -> [UInt8] {
        var members: [(key: String, value: JSONValue)] = [
            ("format", .string(keyHistory == nil ? Self.formatBeforeKeyRotation : Self.format)),
            ("checkpoint", checkpoint.json),
            ("entries", .array(entries.map(Self.json))),
        ]
        if let consistency {
            members.append(("consistency", .object([
                ("from", consistency.from.json),
                ("proof", Self.json(consistency.proof)),
            ])))
        }
        if let keyHistory { members.append(("key_history", .array(keyHistory.map(\.json)))) }
        return JSONValue.object(members).serialized()
    }

    static func json(_ entry: Entry) -> JSONValue {
        .object([
            ("index", .number(Double(entry.index))),
            ("entry", .string(String(decoding: entry.entryBytes, as: UTF8.self))),
            ("inclusion_proof", json(entry.inclusionProof)),
        ])
    }

    static func json(_ hashes: [MerkleHash]) -> JSONValue {
        .array(hashes.map { .string($0.base64) })
    }
}

/// A bundle whose structure is wrong; `failures` says where.
public struct AuditBundleError: Error, Sendable, Equatable, CustomStringConvertible {
    public let failures: [AuditFailure]

    public var description: String { failures.map(\.description).joined(separator: "\n") }
}
