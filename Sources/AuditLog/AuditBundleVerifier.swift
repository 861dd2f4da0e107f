import Crypto
import FeedbackWire
import StrictJSON

/// Checks an audit bundle offline against the public key a reviewer pinned and lists every
/// failure found: structure, the audit key history from the pinned key, both checkpoints'
/// signatures with the keys they name, each entry's inclusion under the signed root, the
/// entries' sequence and count, the recomputed root, and consistency with the earlier checkpoint.
///
/// ```swift
/// let report = AuditBundleVerifier.verify(bundleBytes: bytes, publicKey: firstKey)
/// if report.isValid { print(report.summary) } else { report.failures.forEach { print($0) } }
/// ```
public enum AuditBundleVerifier {
    /// - Parameters:
    ///   - publicKey: the reviewer's trust anchor: the log's first audit key, or a later one
    ///     they pinned (checkpoints signed before it then cannot be verified).
    ///   - keyHistory: endorsements given beside the bundle, added to those it carries (a
    ///     bundle exported before bundles carried them has none).
    public static func verify(bundleBytes: [UInt8], publicKey: Curve25519.Signing.PublicKey,
                              keyHistory: [SignedRelease] = []) -> AuditVerificationReport {
        let document = BundleDocument.read(bundleBytes)
        var failures = document.failures
        let keys = verifiedKeys(pinned: publicKey, carried: document.keyHistory ?? [], given: keyHistory, failures: &failures)
        let checkpoint = document.checkpoint?.checkpoint
        var signers: [AuditVerificationReport.Signer] = []
        if let signed = document.checkpoint,
           let key = signingKey(of: signed.checkpoint, earlier: false, keys: keys, failures: &failures) {
            if signed.isValid(publicKey: key.publicKey) {
                signers.append(.init(earlier: false, treeSize: signed.checkpoint.treeSize, timestamp: signed.checkpoint.timestamp, key: key))
            } else {
                failures.append(.checkpointSignatureInvalid(treeSize: signed.checkpoint.treeSize))
            }
        }
        if let consistency = document.consistency {
            if let from = consistency.from, let key = signingKey(of: from.checkpoint, earlier: true, keys: keys, failures: &failures) {
                if from.isValid(publicKey: key.publicKey) {
                    signers.append(.init(earlier: true, treeSize: from.checkpoint.treeSize, timestamp: from.checkpoint.timestamp, key: key))
                } else {
                    failures.append(.earlierCheckpointSignatureInvalid(treeSize: from.checkpoint.treeSize))
                }
            }
            failures += consistencyFailures(consistency, checkpoint: checkpoint)
        }
        if let entries = document.entries {
            failures += entryFailures(entries, checkpoint: checkpoint, earlierSize: document.consistency?.from?.checkpoint.treeSize)
        }
        return AuditVerificationReport(failures: failures, entryCount: document.entries?.count, checkpoint: checkpoint,
                                       keys: keys, signers: signers)
    }

    /// As above, with the public key in any form `AuditPublicKey.parse` reads.
    public static func verify(bundleBytes: [UInt8], publicKeyBytes: [UInt8],
                              keyHistory: [SignedRelease] = []) throws(AuditPublicKeyError) -> AuditVerificationReport {
        verify(bundleBytes: bundleBytes, publicKey: try AuditPublicKey.parse(publicKeyBytes), keyHistory: keyHistory)
    }

    /// The audit keys that follow from the pinned one. On a broken history only the pinned key
    /// is trusted, so that checkpoints it signed are still checked.
    private static func verifiedKeys(pinned: Curve25519.Signing.PublicKey, carried: [SignedRelease], given: [SignedRelease],
                                     failures: inout [AuditFailure]) -> [SigningKey] {
        let keys: [SigningKey]
        do {
            keys = try SigningKeyHistory.verify(pinned: pinned, endorsements: AuditKeyHistory.merged(carried, given), purpose: .auditSigning)
        } catch {
            failures.append(.keyHistoryInvalid(reason: error.description))
            return [SigningKey(publicKey: pinned, generation: 1, activatedAt: nil)]
        }
        // The envelope's time is outside the signature; it must be the activation time that is signed.
        for (offset, endorsement) in carried.enumerated() {
            guard let key = keys.first(where: { $0.generation == endorsement.version && $0.keyID != SignedRelease.keyID(of: pinned) }),
                  let activatedAt = key.activatedAt, RFC3339.format(activatedAt) != RFC3339.format(endorsement.signedAt) else { continue }
            failures.append(.invalidKeyHistoryValue(path: "key_history[\(offset)].signed_at",
                                                    reason: "it differs from the activation time the endorsement signs, \(RFC3339.format(activatedAt))"))
        }
        return keys
    }

    /// The verified key a checkpoint names (none named: the generation-1 key), if it may have
    /// signed a checkpoint of that time.
    private static func signingKey(of checkpoint: AuditCheckpoint, earlier: Bool, keys: [SigningKey],
                                   failures: inout [AuditFailure]) -> SigningKey? {
        let position = checkpoint.keyID.map { id in keys.firstIndex { $0.keyID == id } } ?? keys.firstIndex { $0.generation == 1 }
        guard let position else {
            failures.append(.checkpointKeyUnknown(earlier: earlier, treeSize: checkpoint.treeSize, keyID: checkpoint.keyID,
                                                  known: keys.map { "\($0.keyID) (generation \($0.generation))" }))
            return nil
        }
        let key = keys[position]
        // A retired key signs nothing new: whoever may hold it after its replacement cannot extend the log.
        if position + 1 < keys.count, let replacedAt = keys[position + 1].activatedAt,
           let time = RFC3339.parse(checkpoint.timestamp), time > replacedAt {
            failures.append(.checkpointSignedByRetiredKey(earlier: earlier, treeSize: checkpoint.treeSize, keyID: key.keyID,
                                                          generation: key.generation, time: checkpoint.timestamp,
                                                          replacedAt: RFC3339.format(replacedAt)))
        }
        return key
    }

    private static func consistencyFailures(_ consistency: BundleDocument.ReadConsistency, checkpoint: AuditCheckpoint?) -> [AuditFailure] {
        guard let from = consistency.from, let checkpoint else { return [] }
        var failures: [AuditFailure] = []
        let earlier = from.checkpoint
        if earlier.origin != checkpoint.origin {
            failures.append(.earlierCheckpointFromOtherLog(found: earlier.origin, expected: checkpoint.origin))
        }
        if let earlierTime = RFC3339.parse(earlier.timestamp), let time = RFC3339.parse(checkpoint.timestamp), earlierTime > time {
            failures.append(.earlierCheckpointLater(earlierTime: earlier.timestamp, time: checkpoint.timestamp))
        }
        if earlier.treeSize > checkpoint.treeSize {
            failures.append(.earlierCheckpointLarger(earlierSize: earlier.treeSize, treeSize: checkpoint.treeSize))
        } else if let proof = consistency.proof,
                  !MerkleProof.verifyConsistency(oldSize: earlier.treeSize, oldRoot: earlier.rootHash,
                                                 newSize: checkpoint.treeSize, newRoot: checkpoint.rootHash, proof: proof) {
            failures.append(.consistencyFailed(fromSize: earlier.treeSize, toSize: checkpoint.treeSize))
        }
        return failures
    }

    private static func entryFailures(_ entries: [BundleDocument.ReadEntry], checkpoint: AuditCheckpoint?,
                                      earlierSize: Int?) -> [AuditFailure] {
        var failures: [AuditFailure] = []
        var kinds: [Int: String] = [:]
        for entry in entries {
            guard let bytes = entry.entryBytes else { continue }
            do {
                let decoded = try AuditEntry(entryBytes: bytes)
                kinds[entry.position] = decoded.kind.rawValue
                if let listed = entry.index, decoded.index != listed {
                    failures.append(.entryIndexMismatch(listed: listed, inEntry: decoded.index))
                }
            } catch {
                kinds[entry.position] = lenientKind(bytes)
                failures.append(.entryUnreadable(index: entry.label, reason: error.description))
            }
        }
        guard let checkpoint else { return failures }
        let treeSize = checkpoint.treeSize

        // A bundle holds the whole log, or what was appended since the earlier checkpoint.
        var firstIndex = 0
        if let earlierSize, earlierSize > 0, earlierSize <= treeSize, entries.first?.index == earlierSize {
            firstIndex = earlierSize
        }
        failures += sequenceFailures(entries, firstIndex: firstIndex, treeSize: treeSize)
        if entries.count != treeSize - firstIndex {
            failures.append(.treeSizeMismatch(entryCount: entries.count, firstIndex: firstIndex, treeSize: treeSize))
        }

        for entry in entries {
            guard let index = entry.index, index < treeSize, let bytes = entry.entryBytes, let proof = entry.inclusionProof else { continue }
            if !MerkleProof.verifyInclusion(leafHash: MerkleTree.leafHash(bytes), index: index, treeSize: treeSize,
                                            proof: proof, rootHash: checkpoint.rootHash) {
                failures.append(.entryNotIncluded(index: index, kind: kinds[entry.position]))
            }
        }

        // With the whole log in hand the root can be recomputed outright, independently of the proofs.
        if firstIndex == 0, entries.count == treeSize,
           entries.enumerated().allSatisfy({ $0.element.index == $0.offset && $0.element.entryBytes != nil }) {
            let recomputed = MerkleTree.rootHash(leafHashes: entries.lazy.compactMap { $0.entryBytes.map(MerkleTree.leafHash) })
            if recomputed != checkpoint.rootHash {
                failures.append(.rootMismatch(recomputed: recomputed, signed: checkpoint.rootHash))
            }
        }
        return failures
    }

    /// Entries beyond the tree, repeated, missing, and out of order. Out of order are those
    /// outside a longest ascending run, so one moved entry is named alone rather than every
    /// entry it displaced.
    private static func sequenceFailures(_ entries: [BundleDocument.ReadEntry], firstIndex: Int, treeSize: Int) -> [AuditFailure] {
        var failures: [AuditFailure] = []
        var seen = Set<Int>()
        var listed: [(index: Int, position: Int)] = []
        for entry in entries {
            guard let index = entry.index else { continue }
            if index >= treeSize {
                failures.append(.entryBeyondTree(index: index, treeSize: treeSize))
            } else if !seen.insert(index).inserted {
                failures.append(.entryRepeated(index: index, position: entry.position))
            } else {
                listed.append((index, entry.position))
            }
        }
        var index = firstIndex
        while index < treeSize {
            guard !seen.contains(index) else {
                index += 1
                continue
            }
            var last = index
            while last + 1 < treeSize, !seen.contains(last + 1) { last += 1 }
            failures.append(.entriesMissing(first: index, last: last))
            index = last + 1
        }
        let ascending = longestAscendingRun(listed.map(\.index))
        for (offset, entry) in listed.enumerated() where !ascending.contains(offset) {
            failures.append(.entryOutOfSequence(index: entry.index, position: entry.position))
        }
        return failures
    }

    /// Offsets of one longest strictly ascending subsequence (patience sorting, O(n log n)).
    static func longestAscendingRun(_ values: [Int]) -> Set<Int> {
        var tails: [Int] = []            // offsets of the smallest tail of each run length
        var previous = [Int](repeating: -1, count: values.count)
        for (offset, value) in values.enumerated() {
            var low = 0
            var high = tails.count
            while low < high {
                let middle = (low + high) / 2
                if values[tails[middle]] < value { low = middle + 1 } else { high = middle }
            }
            if low > 0 { previous[offset] = tails[low - 1] }
            if low == tails.count { tails.append(offset) } else { tails[low] = offset }
        }
        var run = Set<Int>()
        var cursor = tails.last ?? -1
        while cursor >= 0 {
            run.insert(cursor)
            cursor = previous[cursor]
        }
        return run
    }

    /// The kind an entry claims, read loosely so that a report can name it even when the entry
    /// fails stricter checks.
    private static func lenientKind(_ bytes: [UInt8]) -> String? {
        (try? JSONValue.parse(bytes))?["kind"]?.stringValue
    }
}

/// The outcome of verifying one bundle.
public struct AuditVerificationReport: Sendable, Equatable {
    /// Which audit key signed a checkpoint whose signature verified.
    public struct Signer: Sendable, Equatable, CustomStringConvertible {
        public let earlier: Bool
        public let treeSize: Int
        public let timestamp: String
        public let key: SigningKey

        /// `checkpoint (tree size 9, 2027-…) signed by audit key 3f8a… (generation 2, active from 2027-…)`
        public var description: String {
            let since = key.activatedAt.map { ", active from \(RFC3339.format($0))" } ?? ""
            return "\(earlier ? "earlier checkpoint" : "checkpoint") (tree size \(treeSize), \(timestamp)) signed by audit key \(key.keyID) (generation \(key.generation)\(since))"
        }
    }

    /// Every failure found, in the order checked; empty when the bundle verifies.
    public let failures: [AuditFailure]
    /// How many entries the bundle carries, when its entry list was readable.
    public let entryCount: Int?
    /// The bundle's checkpoint, when readable (its signature may still have failed).
    public let checkpoint: AuditCheckpoint?
    /// The audit keys verified from the pinned one, oldest first.
    public let keys: [SigningKey]
    /// The checkpoints whose signatures verified, and by which key.
    public let signers: [Signer]

    public var isValid: Bool { failures.isEmpty }

    /// `OK: 5 entries, tree size 5, root <hex>, checkpoint <time>` for a valid bundle; otherwise
    /// the number of failures.
    public var summary: String {
        guard isValid, let checkpoint else {
            return "FAILED: \(failures.count) problem\(failures.count == 1 ? "" : "s") found"
        }
        return "OK: \(entryCount ?? 0) entries, tree size \(checkpoint.treeSize), root \(checkpoint.rootHash.hex), checkpoint \(checkpoint.timestamp)"
    }
}
