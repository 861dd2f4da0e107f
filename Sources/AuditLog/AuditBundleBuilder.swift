import Crypto
import FeedbackWire
import Foundation

/// Makes a signed bundle from the log's entries, as the server exports it: signs a checkpoint
/// over all the entries and attaches an inclusion proof to each exported entry, plus a
/// consistency proof from an earlier checkpoint when one is given. The checkpoint names the
/// key, and the bundle carries the key's history, so it verifies from the log's first key.
///
/// ```swift
/// let builder = AuditBundleBuilder(origin: "faceloop-audit/srv-1", key: signingKey, keyHistory: endorsements)
/// let bundle = try builder.build(entries: allEntryBytes, time: now, since: lastReviewed)
/// let bytes = bundle.serialized()
/// ```
public struct AuditBundleBuilder: Sendable {
    /// Which entries go into the bundle; the checkpoint always covers the whole log.
    public enum Scope: Sendable {
        case wholeLog
        /// Only the entries appended since the earlier checkpoint (the whole log without one).
        case sinceEarlierCheckpoint
    }

    public let origin: String
    private let key: Curve25519.Signing.PrivateKey
    /// The audit key's endorsements, oldest first; `key` must be the newest key they reach.
    public let keyHistory: [SignedRelease]

    public init(origin: String, key: Curve25519.Signing.PrivateKey, keyHistory: [SignedRelease] = []) {
        self.origin = origin
        self.key = key
        self.keyHistory = keyHistory
    }

    /// - Parameters:
    ///   - entries: every leaf of the log in order, as stored (canonical `AuditEntry` bytes).
    ///   - time: the checkpoint's time.
    ///   - earlier: a checkpoint of this log signed before, typically the last one a reviewer
    ///     accepted; the bundle then proves the log grew from it by appending only.
    public func build(entries: [[UInt8]], time: Date, since earlier: SignedAuditCheckpoint? = nil,
                      scope: Scope = .wholeLog) throws(AuditBundleBuildError) -> AuditBundle {
        for (index, bytes) in entries.enumerated() where String(validating: bytes, as: UTF8.self) == nil {
            throw .entryNotUTF8(index: index)
        }
        let signer: SigningKey
        do {
            signer = try AuditKeyHistory.requireNewest(key.publicKey, history: keyHistory)
        } catch {
            throw .keyHistory(error)
        }
        let tree = MerkleTree(entries: entries)
        let checkpoint: AuditCheckpoint
        do {
            checkpoint = try AuditCheckpoint(origin: origin, treeSize: tree.size, rootHash: tree.rootHash, time: time, keyID: signer.keyID)
        } catch {
            throw .invalidCheckpoint(error)
        }

        var consistency: AuditBundle.Consistency?
        var firstExported = 0
        if let earlier {
            let old = earlier.checkpoint
            guard old.origin == origin else { throw .earlierCheckpointFromOtherLog(old.origin) }
            // Refuse rather than export a proof that will fail: the stored log no longer matches
            // what was signed before.
            guard old.treeSize <= tree.size, (try? tree.rootHash(size: old.treeSize)) == old.rootHash else {
                throw .earlierCheckpointNotAPrefix(treeSize: old.treeSize)
            }
            let proof: [MerkleHash]
            do {
                proof = try tree.consistencyProof(from: old.treeSize)
            } catch {
                throw .earlierCheckpointNotAPrefix(treeSize: old.treeSize)
            }
            consistency = AuditBundle.Consistency(from: earlier, proof: proof)
            if scope == .sinceEarlierCheckpoint, old.treeSize > 0 { firstExported = old.treeSize }
        }

        var exported: [AuditBundle.Entry] = []
        exported.reserveCapacity(entries.count - firstExported)
        for index in firstExported..<entries.count {
            exported.append(AuditBundle.Entry(index: index, entryBytes: entries[index],
                                              inclusionProof: tree.path(index, size: tree.size)))
        }

        let signed: SignedAuditCheckpoint
        do {
            signed = try checkpoint.signed(with: key)
        } catch {
            throw .signingFailed(String(describing: error))
        }
        return AuditBundle(checkpoint: signed, entries: exported, consistency: consistency,
                           keyHistory: AuditKeyHistory.merged(keyHistory, []))
    }
}

/// Why a bundle could not be built.
public enum AuditBundleBuildError: Error, Sendable, Equatable, CustomStringConvertible {
    case entryNotUTF8(index: Int)
    case invalidCheckpoint(AuditCheckpointError)
    case earlierCheckpointFromOtherLog(String)
    case earlierCheckpointNotAPrefix(treeSize: Int)
    case signingFailed(String)
    case keyHistory(AuditKeyHistoryError)

    public var description: String {
        switch self {
        case let .entryNotUTF8(index): return "entry \(index) is not UTF-8 text and cannot be exported"
        case let .invalidCheckpoint(error): return "cannot make the checkpoint: \(error)"
        case let .earlierCheckpointFromOtherLog(origin): return "the earlier checkpoint belongs to the log \"\(origin)\""
        case let .earlierCheckpointNotAPrefix(size):
            return "the log's first \(size) entries no longer match the earlier checkpoint: the stored log was changed"
        case let .signingFailed(reason): return "signing the checkpoint failed: \(reason)"
        case let .keyHistory(error): return "cannot sign with this key: \(error)"
        }
    }
}
