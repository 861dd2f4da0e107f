import Crypto
import Foundation
import StrictJSON

/// What the server's signing keys are for. Each purpose has its own history, so a reviewer
/// who pins the audit key never has to trust the key that signs releases.
public enum SigningKeyPurpose: String, Sendable, Codable, CaseIterable {
    case releaseSigning = "release-signing"
    case auditSigning = "audit-signing"
}

/// A signing key that replaced another, vouched for by the key it replaced: a
/// ``SignedRelease`` of kind `faceloop.signing-key.v1` whose version is the key's generation
/// (the first key is generation 1 and needs no endorsement) and whose payload names the new
/// key. A kiosk or a reviewer who pinned any earlier key follows the chain to the newest one
/// without trusting the network that delivered it.
///
/// ```swift
/// let next = Curve25519.Signing.PrivateKey()
/// let endorsement = try SigningKeyEndorsement.sign(purpose: .releaseSigning, generation: 2,
///                                                  newKey: next.publicKey, previous: current, at: .now)
/// let keys = try SigningKeyHistory.verify(pinned: current.publicKey, endorsements: [endorsement], purpose: .releaseSigning)
/// ```
public enum SigningKeyEndorsement {
    public static func payload(purpose: SigningKeyPurpose, newKey: Curve25519.Signing.PublicKey,
                               previousKeyID: String, activatedAt: Date) -> [UInt8] {
        JSONValue.object([
            ("purpose", .string(purpose.rawValue)),
            ("key_id", .string(SignedRelease.keyID(of: newKey))),
            ("public_key", .string(newKey.rawRepresentation.base64EncodedString())),
            ("previous_key_id", .string(previousKeyID)),
            ("activated_at", .string(RFC3339.format(activatedAt))),
        ]).serialized()
    }

    public static func sign(purpose: SigningKeyPurpose, generation: Int, newKey: Curve25519.Signing.PublicKey,
                            previous: Curve25519.Signing.PrivateKey, at time: Date) throws -> SignedRelease {
        let bytes = payload(purpose: purpose, newKey: newKey, previousKeyID: SignedRelease.keyID(of: previous.publicKey),
                            activatedAt: time)
        return try SignedRelease.sign(kind: .signingKey, version: generation, payload: bytes, key: previous, at: time)
    }
}

/// One key of a verified history.
public struct SigningKey: Sendable, Equatable {
    public let keyID: String
    public let publicKey: Curve25519.Signing.PublicKey
    public let generation: Int
    /// Nil for the pinned key: when it became active is not part of what was verified.
    public let activatedAt: Date?

    public init(publicKey: Curve25519.Signing.PublicKey, generation: Int, activatedAt: Date?) {
        self.keyID = SignedRelease.keyID(of: publicKey)
        self.publicKey = publicKey
        self.generation = generation
        self.activatedAt = activatedAt
    }

    public static func == (lhs: SigningKey, rhs: SigningKey) -> Bool {
        lhs.keyID == rhs.keyID && lhs.generation == rhs.generation && lhs.activatedAt == rhs.activatedAt
    }
}

public enum SigningKeyHistoryError: Error, Sendable, Equatable, CustomStringConvertible {
    case notEndorsedByKnownKey(generation: Int, signer: String)
    case endorsement(generation: Int, SignedRelease.VerificationError)
    case malformedPayload(generation: Int, String)
    case wrongPurpose(generation: Int, expected: String, found: String)
    case brokenChain(generation: Int, expectedPrevious: String, found: String)

    public var description: String {
        switch self {
        case let .notEndorsedByKnownKey(generation, signer):
            return "signing key generation \(generation) is endorsed by key \(signer), which is not in the verified history"
        case let .endorsement(generation, error): return "signing key generation \(generation): \(error)"
        case let .malformedPayload(generation, reason): return "signing key generation \(generation): \(reason)"
        case let .wrongPurpose(generation, expected, found):
            return "signing key generation \(generation) is a \(found) key, expected \(expected)"
        case let .brokenChain(generation, expected, found):
            return "signing key generation \(generation) names \(found) as its predecessor, but the newest verified key is \(expected)"
        }
    }
}

/// Verifies a chain of endorsements from a pinned key: each one must be signed by the newest
/// key verified so far (a retired key cannot fork the history) and name it as its predecessor.
/// Endorsements older than the pinned key are skipped, so a kiosk pinned at generation 3 can
/// be handed the whole history.
public enum SigningKeyHistory {
    public static func verify(pinned: Curve25519.Signing.PublicKey, endorsements: [SignedRelease],
                              purpose: SigningKeyPurpose) throws(SigningKeyHistoryError) -> [SigningKey] {
        let pinnedID = SignedRelease.keyID(of: pinned)
        let ordered = endorsements.sorted { $0.version < $1.version }
        // The pinned key's generation: the one its own endorsement names, else 1.
        var pinnedGeneration = 1
        for endorsement in ordered {
            if let payload = try? decodePayload(endorsement), payload.keyID == pinnedID { pinnedGeneration = endorsement.version }
        }
        var keys = [SigningKey(publicKey: pinned, generation: pinnedGeneration, activatedAt: nil)]
        for endorsement in ordered where endorsement.version > pinnedGeneration {
            let newest = keys[keys.count - 1]
            guard endorsement.keyID == newest.keyID else {
                throw .notEndorsedByKnownKey(generation: endorsement.version, signer: endorsement.keyID)
            }
            do {
                _ = try endorsement.verifiedPayload(kind: .signingKey, publicKey: newest.publicKey)
            } catch {
                throw .endorsement(generation: endorsement.version, error)
            }
            let payload = try decodePayload(endorsement)
            guard payload.purpose == purpose.rawValue else {
                throw .wrongPurpose(generation: endorsement.version, expected: purpose.rawValue, found: payload.purpose)
            }
            guard payload.previousKeyID == newest.keyID else {
                throw .brokenChain(generation: endorsement.version, expectedPrevious: newest.keyID, found: payload.previousKeyID)
            }
            keys.append(SigningKey(publicKey: payload.key, generation: endorsement.version, activatedAt: payload.activatedAt))
        }
        return keys
    }

    struct Payload {
        let purpose: String
        let keyID: String
        let key: Curve25519.Signing.PublicKey
        let previousKeyID: String
        let activatedAt: Date
    }

    static func decodePayload(_ endorsement: SignedRelease) throws(SigningKeyHistoryError) -> Payload {
        let generation = endorsement.version
        guard let bytes = Data(base64Encoded: endorsement.payload), let value = try? JSONValue.parse(bytes) else {
            throw .malformedPayload(generation: generation, "the payload is not JSON")
        }
        guard let purpose = value["purpose"]?.stringValue, let keyID = value["key_id"]?.stringValue,
              let keyText = value["public_key"]?.stringValue, let previous = value["previous_key_id"]?.stringValue,
              let activatedText = value["activated_at"]?.stringValue, let activatedAt = RFC3339.parse(activatedText) else {
            throw .malformedPayload(generation: generation, "the payload lacks purpose, key_id, public_key, previous_key_id or activated_at")
        }
        guard let raw = Data(base64Encoded: keyText), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw),
              SignedRelease.keyID(of: key) == keyID else {
            throw .malformedPayload(generation: generation, "public_key is not an Ed25519 key with id \(keyID)")
        }
        return Payload(purpose: purpose, keyID: keyID, key: key, previousKeyID: previous, activatedAt: activatedAt)
    }
}
