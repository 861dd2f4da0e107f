import Crypto
import FeedbackWire
import StrictJSON

/// Checks an audit bundle offline against the log's public key and lists every failure found:
/// structure, both checkpoint signatures, each entry's inclusion under the signed root, the
/// entries' sequence and count, the recomputed root, and consistency with the earlier checkpoint.
///
/// ```swift
/// let report = AuditBundleVerifier.verify(bundleBytes: bytes, publicKey: key)
/// if report.isValid { print(report.summary) } else { report.failures.forEach { print($0) } }
/// ```
public enum AuditBundleVerifier {
    public static func verify(bundleBytes: [UInt8], publicKey: Curve25519.Signing.PublicKey) -> AuditVerificationReport {
        let document = BundleDocument.read(bundleBytes)
        var failures = document.failures
        let checkpoint = document.checkpoint?.checkpoint
        if let signed = document.checkpoint, !signed.isValid(publicKey: publicKey) {
            failures.append(.checkpointSignatureInvalid(treeSize: signed.checkpoint.treeSize))
        }
        if let consistency = document.consistency {
            failures += consistencyFailures(consistency, checkpoint: checkpoint, publicKey: publicKey)
        }
        if let entries = document.entries {
            failures += entryFailures(entries, checkpoint: checkpoint, earlierSize: document.consistency?.from?.checkpoint.treeSize)
        }
        return AuditVerificationReport(failures: failures, entryCount: document.entries?.count, checkpoint: checkpoint)
    }

    /// As above, with the public key in any form `AuditPublicKey.parse` reads.
    public static func verify(bundleBytes: [UInt8], publicKeyBytes: [UInt8]) throws(AuditPublicKeyError) -> AuditVerificationReport {
        verify(bundleBytes: bundleBytes, publicKey: try AuditPublicKey.parse(publicKeyBytes))
    }

    private static func consistencyFailures(_ consistency: BundleDocument.ReadConsistency, checkpoint: AuditCheckpoint?,
                                            publicKey: Curve25519.Signing.PublicKey) -> [AuditFailure] {
        guard let from = consistency.from else { return [] }
        var failures: [AuditFailure] = []
        let earlier = from.checkpoint
        if !from.isValid(publicKey: publicKey) {
            failures.append(.earlierCheckpointSignatureInvalid(treeSize: earlier.treeSize))
        }
        guard let checkpoint else { return failures }
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
    /// Every failure found, in the order checked; empty when the bundle verifies.
    public let failures: [AuditFailure]
    /// How many entries the bundle carries, when its entry list was readable.
    public let entryCount: Int?
    /// The bundle's checkpoint, when readable (its signature may still have failed).
    public let checkpoint: AuditCheckpoint?

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
