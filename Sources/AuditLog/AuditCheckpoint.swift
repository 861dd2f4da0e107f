import Crypto
import FeedbackWire
import Foundation
import StrictJSON

/// What the log commits to at one moment: its name, how many entries it holds, the tree head
/// over them, and when. Signed, it lets anyone holding the public key check a bundle offline.
///
/// The signed text follows the C2SP tlog-checkpoint note body, one value a line, each line
/// ending in a newline:
///
/// ```text
/// faceloop-audit/server-a
/// 5
/// 2Mnr9mwQUNlIbAP5WJA1A1P7XMdK4cFRB/QvGa4HbBo=
/// 2026-11-26T15:46:32.123Z
/// key-id 3f8a0c1d2e4b5a69
/// ```
///
/// The last line names the key that signs it (``SignedRelease/keyID(of:)``), so a checkpoint
/// cannot be passed off as another key's. Checkpoints signed before the audit key could be
/// rotated have no such line and no `key_id`: they were signed by the log's first key
/// (generation 1), and stripping the line from a later checkpoint changes the signed text.
public struct AuditCheckpoint: Sendable, Equatable {
    /// Names the log, e.g. `faceloop-audit/<server-name>`; a checkpoint of one log cannot be
    /// passed off as another's.
    public let origin: String
    public let treeSize: Int
    public let rootHash: MerkleHash
    /// RFC 3339 UTC time, kept as the signed text.
    public let timestamp: String
    /// The id of the audit key that signs it; nil for a checkpoint of before key rotation,
    /// which the generation-1 key signed.
    public let keyID: String?

    public init(origin: String, treeSize: Int, rootHash: MerkleHash, timestamp: String,
                keyID: String? = nil) throws(AuditCheckpointError) {
        guard Self.isValidOrigin(origin) else { throw .invalidOrigin(origin) }
        guard treeSize >= 0, treeSize <= AuditEntry.largestIndex else { throw .invalidTreeSize(treeSize) }
        guard AuditEntry.isUTCTimestamp(timestamp) else { throw .invalidTimestamp(timestamp) }
        if let keyID, !Self.isValidKeyID(keyID) { throw .invalidKeyID(keyID) }
        self.origin = origin
        self.treeSize = treeSize
        self.rootHash = rootHash
        self.timestamp = timestamp
        self.keyID = keyID
    }

    public init(origin: String, treeSize: Int, rootHash: MerkleHash, time: Date, keyID: String? = nil) throws(AuditCheckpointError) {
        try self.init(origin: origin, treeSize: treeSize, rootHash: rootHash, timestamp: RFC3339.format(time), keyID: keyID)
    }

    /// The exact bytes that are signed.
    public var signedText: String {
        "\(origin)\n\(treeSize)\n\(rootHash.base64)\n\(timestamp)\n" + (keyID.map { "key-id \($0)\n" } ?? "")
    }

    /// Signs with `key`, which must be the key the checkpoint names (when it names one).
    public func signed(with key: Curve25519.Signing.PrivateKey) throws -> SignedAuditCheckpoint {
        let signer = SignedRelease.keyID(of: key.publicKey)
        if let keyID, keyID != signer { throw AuditCheckpointError.signedWithOtherKey(named: keyID, signer: signer) }
        return SignedAuditCheckpoint(checkpoint: self, signature: [UInt8](try key.signature(for: Array(signedText.utf8))))
    }

    /// 16 lowercase hex digits, as ``SignedRelease/keyID(of:)`` writes them.
    static func isValidKeyID(_ keyID: String) -> Bool {
        keyID.utf8.count == 16 && keyID.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Printable, non-empty, no spaces: the origin is a single line and one token.
    static func isValidOrigin(_ origin: String) -> Bool {
        !origin.isEmpty && origin.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value != 0x7F && !$0.properties.isWhitespace }
    }
}

/// A checkpoint with the log's Ed25519 signature over its signed text.
public struct SignedAuditCheckpoint: Sendable, Equatable {
    public let checkpoint: AuditCheckpoint
    /// 64-byte Ed25519 signature over `checkpoint.signedText`.
    public let signature: [UInt8]

    public init(checkpoint: AuditCheckpoint, signature: [UInt8]) {
        self.checkpoint = checkpoint
        self.signature = signature
    }

    public func isValid(publicKey: Curve25519.Signing.PublicKey) -> Bool {
        publicKey.isValidSignature(signature, for: Array(checkpoint.signedText.utf8))
    }

    /// How bundles and the API write a signed checkpoint.
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("origin", .string(checkpoint.origin)),
            ("tree_size", .number(Double(checkpoint.treeSize))),
            ("root_hash", .string(checkpoint.rootHash.base64)),
            ("timestamp", .string(checkpoint.timestamp)),
        ]
        if let keyID = checkpoint.keyID { members.append(("key_id", .string(keyID))) }
        members.append(("signature", .string(StrictBase64.encode(signature))))
        return .object(members)
    }
}

/// Why checkpoint values cannot be signed.
public enum AuditCheckpointError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidOrigin(String)
    case invalidTreeSize(Int)
    case invalidTimestamp(String)
    case invalidKeyID(String)
    case signedWithOtherKey(named: String, signer: String)

    public var description: String {
        switch self {
        case let .invalidOrigin(origin): return "the log name \"\(origin)\" is empty or contains spaces or control characters"
        case let .invalidTreeSize(size): return "the tree size \(size) is negative or too large"
        case let .invalidTimestamp(time): return "the checkpoint time \"\(time)\" is not an RFC 3339 UTC time"
        case let .invalidKeyID(keyID): return "the key id \"\(keyID)\" is not 16 lowercase hex digits"
        case let .signedWithOtherKey(named, signer): return "the checkpoint names key \(named) but would be signed with key \(signer)"
        }
    }
}
