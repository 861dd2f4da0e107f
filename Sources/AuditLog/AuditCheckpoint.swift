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
/// ```
public struct AuditCheckpoint: Sendable, Equatable {
    /// Names the log, e.g. `faceloop-audit/<server-name>`; a checkpoint of one log cannot be
    /// passed off as another's.
    public let origin: String
    public let treeSize: Int
    public let rootHash: MerkleHash
    /// RFC 3339 UTC time, kept as the signed text.
    public let timestamp: String

    public init(origin: String, treeSize: Int, rootHash: MerkleHash, timestamp: String) throws(AuditCheckpointError) {
        guard Self.isValidOrigin(origin) else { throw .invalidOrigin(origin) }
        guard treeSize >= 0, treeSize <= AuditEntry.largestIndex else { throw .invalidTreeSize(treeSize) }
        guard AuditEntry.isUTCTimestamp(timestamp) else { throw .invalidTimestamp(timestamp) }
        self.origin = origin
        self.treeSize = treeSize
        self.rootHash = rootHash
        self.timestamp = timestamp
    }

    public init(origin: String, treeSize: Int, rootHash: MerkleHash, time: Date) throws(AuditCheckpointError) {
        try self.init(origin: origin, treeSize: treeSize, rootHash: rootHash, timestamp: RFC3339.format(time))
    }

    /// The exact bytes that are signed.
    public var signedText: String {
        "\(origin)\n\(treeSize)\n\(rootHash.base64)\n\(timestamp)\n"
    }

    public func signed(with key: Curve25519.Signing.PrivateKey) throws -> SignedAuditCheckpoint {
        SignedAuditCheckpoint(checkpoint: self, signature: [UInt8](try key.signature(for: Array(signedText.utf8))))
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
        .object([
            ("origin", .string(checkpoint.origin)),
            ("tree_size", .number(Double(checkpoint.treeSize))),
            ("root_hash", .string(checkpoint.rootHash.base64)),
            ("timestamp", .string(checkpoint.timestamp)),
            ("signature", .string(StrictBase64.encode(signature))),
        ])
    }
}

/// Why checkpoint values cannot be signed.
public enum AuditCheckpointError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidOrigin(String)
    case invalidTreeSize(Int)
    case invalidTimestamp(String)

    public var description: String {
        switch self {
        case let .invalidOrigin(origin): return "the log name \"\(origin)\" is empty or contains spaces or control characters"
        case let .invalidTreeSize(size): return "the tree size \(size) is negative or too large"
        case let .invalidTimestamp(time): return "the checkpoint time \"\(time)\" is not an RFC 3339 UTC time"
        }
    }
}
