import Crypto
import FeedbackWire
import Foundation
import StrictJSON

/// The audit key's history as bundles carry it and `faceloop audit verify --key-history` reads
/// it: the endorsements (``SigningKeyEndorsement``, purpose `audit-signing`) by which each key
/// vouched for the one that replaced it, as the server serves them at `GET /v1/audit/signing-keys`.
/// ``SigningKeyHistory`` verifies them from the key a reviewer pinned.
public enum AuditKeyHistory {
    /// Reads a key-history file: a JSON list of endorsement envelopes, or the whole answer of
    /// `GET /v1/audit/signing-keys` (whose `endorsements` are that list).
    public static func parse(_ bytes: [UInt8]) throws(AuditKeyHistoryError) -> [SignedRelease] {
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes)
        } catch {
            throw .unreadable(["the key history is not JSON: at byte \(error.offset), \(error.reason)"])
        }
        var document = BundleDocument()
        let list: JSONValue
        let path: String
        if let endorsements = root["endorsements"] {
            (list, path) = (endorsements, "endorsements")
        } else {
            (list, path) = (root, "the key history")
        }
        guard let endorsements = document.endorsements(list, at: path), document.failures.isEmpty else {
            throw .unreadable(document.failures.map(\.description))
        }
        return endorsements
    }

    /// The endorsements of both lists, each once, oldest first: a bundle's own history and one
    /// given beside it usually overlap.
    public static func merged(_ first: [SignedRelease], _ second: [SignedRelease]) -> [SignedRelease] {
        var seen = Set<[String]>()
        return (first + second)
            .filter { seen.insert([String($0.version), $0.keyID, $0.payload, $0.signature]).inserted }
            .sorted { $0.version < $1.version }
    }

    /// The key as the newest of `history`: checkpoints signed with an older key, or with one the
    /// history does not reach, would not verify for a reviewer, so the server signs none.
    public static func requireNewest(_ key: Curve25519.Signing.PublicKey,
                                     history: [SignedRelease]) throws(AuditKeyHistoryError) -> SigningKey {
        let keyID = SignedRelease.keyID(of: key)
        let keys: [SigningKey]
        do {
            keys = try SigningKeyHistory.verify(pinned: key, endorsements: history, purpose: .auditSigning)
        } catch {
            throw .notInHistory(keyID: keyID, reason: error.description)
        }
        let newest = history.map(\.version).max() ?? 1
        guard keys.count == 1, keys[0].generation == newest else {
            throw .notNewest(keyID: keyID, generation: keys[0].generation, newest: newest)
        }
        return keys[0]
    }
}

/// Why a key history cannot be used.
public enum AuditKeyHistoryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the file, one sentence each.
    case unreadable([String])
    case notInHistory(keyID: String, reason: String)
    case notNewest(keyID: String, generation: Int, newest: Int)

    public var description: String {
        switch self {
        case let .unreadable(problems): return problems.joined(separator: "\n")
        case let .notInHistory(keyID, reason): return "the audit key \(keyID) is not in the audit key history: \(reason)"
        case let .notNewest(keyID, generation, newest):
            return "the audit key \(keyID) is generation \(generation), but the audit key history reaches generation \(newest)"
        }
    }
}

extension SignedRelease {
    /// The envelope's members, in the order the API writes them (sorted).
    static let jsonMembers = ["key_id", "kind", "payload", "signature", "signed_at", "version"]

    /// The envelope as the API writes it, so a bundle's history reads like the server's.
    var json: JSONValue {
        .object([
            ("key_id", .string(keyID)),
            ("kind", .string(kind.rawValue)),
            ("payload", .string(payload)),
            ("signature", .string(signature)),
            ("signed_at", .string(RFC3339.format(signedAt))),
            ("version", .number(Double(version))),
        ])
    }

    /// An envelope from values already checked one by one (its initializer is not public).
    static func make(kind: Kind, version: Int, payload: [UInt8], signature: [UInt8], keyID: String, signedAt: Date) -> SignedRelease? {
        let json = JSONValue.object([
            ("key_id", .string(keyID)),
            ("kind", .string(kind.rawValue)),
            ("payload", .string(StrictBase64.encode(payload))),
            ("signature", .string(StrictBase64.encode(signature))),
            ("signed_at", .string(RFC3339.format(signedAt))),
            ("version", .number(Double(version))),
        ])
        return try? WireJSON.decoder().decode(SignedRelease.self, from: Data(json.serialized()))
    }
}
