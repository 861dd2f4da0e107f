import Crypto
import Foundation
import StrictJSON

/// A release (threshold set or model) as the server publishes it: the exact payload bytes,
/// base64, with the server's Ed25519 signature over those bytes. The agent verifies the
/// signature before it decodes anything, so a byte changed anywhere is refused.
///
/// ```swift
/// let envelope = try SignedRelease.sign(kind: .thresholds, version: 3, payload: bytes, key: releaseKey)
/// let verified = try envelope.verifiedPayload(kind: .thresholds, publicKey: pinnedKey)
/// ```
public struct SignedRelease: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case thresholds = "faceloop.thresholds.v1"
        case model = "faceloop.model.v1"
        /// What was erased, where, how many and when, signed with the audit key.
        case erasureReceipt = "faceloop.erasure-receipt.v1"
        /// A signing key vouched for by the key it replaced (``SigningKeyEndorsement``).
        case signingKey = "faceloop.signing-key.v1"
    }

    public var kind: Kind
    public var version: Int
    public var payload: String
    public var signature: String
    /// First 16 hex digits of SHA-256 of the raw public key: says which key to use.
    public var keyID: String
    public var signedAt: Date

    enum CodingKeys: String, CodingKey {
        case kind, version, payload, signature, keyID = "key_id", signedAt = "signed_at"
    }

    public static func keyID(of key: Curve25519.Signing.PublicKey) -> String {
        SHA256.hash(data: key.rawRepresentation).prefix(8).lowercaseHex
    }

    /// The signed message binds kind and version to the payload, so a valid payload cannot
    /// be replayed under another version number.
    static func message(kind: Kind, version: Int, payload: [UInt8]) -> Data {
        Data("\(kind.rawValue)\n\(version)\n".utf8) + Data(payload)
    }

    public static func sign(kind: Kind, version: Int, payload: [UInt8], key: Curve25519.Signing.PrivateKey,
                            at time: Date = Date()) throws -> SignedRelease {
        SignedRelease(kind: kind, version: version, payload: Data(payload).base64EncodedString(),
                      signature: try key.signature(for: message(kind: kind, version: version, payload: payload)).base64EncodedString(),
                      keyID: keyID(of: key.publicKey), signedAt: time)
    }

    public enum VerificationError: Error, Sendable, Equatable, CustomStringConvertible {
        case wrongKind(expected: String, found: String)
        case unknownKey(String)
        case malformed
        case badSignature

        public var description: String {
            switch self {
            case let .wrongKind(expected, found): return "expected a \(expected) release, found \(found)"
            case let .unknownKey(id): return "the release is signed with key \(id), not the pinned release key"
            case .malformed: return "the release envelope is not valid base64"
            case .badSignature: return "the release signature does not verify: it was altered or not signed by the server"
            }
        }
    }

    /// The payload bytes, only if the signature verifies with the pinned key.
    public func verifiedPayload(kind expected: Kind, publicKey: Curve25519.Signing.PublicKey) throws(VerificationError) -> [UInt8] {
        guard kind == expected else { throw .wrongKind(expected: expected.rawValue, found: kind.rawValue) }
        guard keyID == Self.keyID(of: publicKey) else { throw .unknownKey(keyID) }
        guard let bytes = Data(base64Encoded: payload), let signatureBytes = Data(base64Encoded: signature) else { throw .malformed }
        guard publicKey.isValidSignature(signatureBytes, for: Self.message(kind: kind, version: version, payload: [UInt8](bytes))) else {
            throw .badSignature
        }
        return [UInt8](bytes)
    }
}
