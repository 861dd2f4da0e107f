@testable import AuditLog
import Crypto
import FeedbackWire
import Foundation
import StrictJSON
import Testing

@Suite("Audit bundles: building, reading and verifying")
struct AuditBundleTests {
    let publicKey = AuditFixtures.signingKey.publicKey

    func verify(_ bundle: AuditBundle) -> AuditVerificationReport {
        AuditBundleVerifier.verify(bundleBytes: bundle.serialized(), publicKey: publicKey)
    }

    func verify(_ text: String) -> AuditVerificationReport {
        AuditBundleVerifier.verify(bundleBytes: Array(text.utf8), publicKey: publicKey)
    }

    /// The bundle with its checkpoint re-signed, so that only the change under test is wrong.
    func resigned(_ bundle: AuditBundle, entries: [AuditBundle.Entry]) -> AuditBundle {
        AuditBundle(checkpoint: bundle.checkpoint, entries: entries, consistency: bundle.consistency)
    }

    @Test("a built bundle verifies, reads back equal and re-serializes byte for byte")
    func roundTrip() throws {
        let bundle = try AuditFixtures.bundle(count: 9, earlier: 4)
        let bytes = bundle.serialized()
        #expect(!bytes.contains(UInt8(ascii: "\n")))
        let read = try AuditBundle(bundleBytes: bytes)
        #expect(read == bundle)
        #expect(read.serialized() == bytes)
        let report = verify(bundle)
        #expect(report.failures == [])
        #expect(report.isValid)
        let checkpoint = bundle.checkpoint.checkpoint
        #expect(report.summary == "OK: 9 entries, tree size 9, root \(checkpoint.rootHash.hex), checkpoint \(checkpoint.timestamp)")
        #expect(bundle.entries.map(\.index) == Array(0..<9))
        #expect(bundle.consistency?.from.checkpoint.treeSize == 4)
    }

    @Test("the public key may be given in any documented form")
    func keyForms() throws {
        let bytes = try AuditFixtures.bundle(count: 3).serialized()
        let pem = AuditPublicKey.pem(publicKey)
        #expect(try AuditBundleVerifier.verify(bundleBytes: bytes, publicKeyBytes: Array(pem.utf8)).isValid)
        #expect(try AuditBundleVerifier.verify(bundleBytes: bytes, publicKeyBytes: [UInt8](publicKey.rawRepresentation)).isValid)
    }

    @Test("an empty log and a one-entry log verify")
    func smallLogs() throws {
        let empty = try AuditFixtures.bundle(count: 0)
        #expect(empty.checkpoint.checkpoint.rootHash == MerkleTree.emptyRootHash)
        #expect(verify(empty).failures == [])
        #expect(verify(empty).summary.hasPrefix("OK: 0 entries, tree size 0, root e3b0c442"))
        #expect(verify(try AuditFixtures.bundle(count: 1, earlier: 0)).failures == [])
        #expect(verify(try AuditFixtures.bundle(count: 1, earlier: 1)).failures == [])
    }

    @Test("a bundle of the entries since the earlier checkpoint verifies on its own")
    func sinceEarlier() throws {
        let bundle = try AuditFixtures.bundle(count: 12, earlier: 5, scope: .sinceEarlierCheckpoint)
        #expect(bundle.entries.map(\.index) == Array(5..<12))
        #expect(verify(bundle).failures == [])
        #expect(verify(bundle).summary.hasPrefix("OK: 7 entries, tree size 12"))
        // Without the earlier checkpoint the same entries are an incomplete log.
        let stripped = AuditBundle(checkpoint: bundle.checkpoint, entries: bundle.entries, consistency: nil)
        let failures = verify(stripped).failures
        #expect(failures.contains(.entriesMissing(first: 0, last: 4)))
        #expect(failures.contains(.treeSizeMismatch(entryCount: 7, firstIndex: 0, treeSize: 12)))
    }

    @Test("another key's signatures are named as such")
    func wrongKey() throws {
        let bundle = try AuditFixtures.bundle(count: 5, earlier: 2, key: AuditFixtures.otherKey)
        let known = ["\(SignedRelease.keyID(of: publicKey)) (generation 1)"]
        let other = SignedRelease.keyID(of: AuditFixtures.otherKey.publicKey)
        #expect(verify(bundle).failures == [
            .checkpointKeyUnknown(earlier: false, treeSize: 5, keyID: other, known: known),
            .checkpointKeyUnknown(earlier: true, treeSize: 2, keyID: other, known: known),
        ])
        // Renamed to the pinned key, the signatures are the ones that fail.
        let renamed = bundle.serialized().text.replacingOccurrences(of: other, with: SignedRelease.keyID(of: publicKey))
        #expect(verify(renamed).failures == [.checkpointSignatureInvalid(treeSize: 5), .earlierCheckpointSignatureInvalid(treeSize: 2)])
    }

    @Test("an entry left out, repeated or moved is named")
    func sequence() throws {
        let bundle = try AuditFixtures.bundle(count: 6)
        var entries = bundle.entries
        entries.remove(at: 2)
        #expect(verify(resigned(bundle, entries: entries)).failures == [
            .entriesMissing(first: 2, last: 2), .treeSizeMismatch(entryCount: 5, firstIndex: 0, treeSize: 6),
        ])

        entries = bundle.entries
        entries.removeLast()
        #expect(verify(resigned(bundle, entries: entries)).failures == [
            .entriesMissing(first: 5, last: 5), .treeSizeMismatch(entryCount: 5, firstIndex: 0, treeSize: 6),
        ])

        entries = bundle.entries
        entries.append(entries.remove(at: 1))
        #expect(verify(resigned(bundle, entries: entries)).failures == [.entryOutOfSequence(index: 1, position: 5)])

        entries = bundle.entries
        entries.swapAt(1, 4)
        #expect(verify(resigned(bundle, entries: entries)).failures.count == 2)

        entries = bundle.entries
        entries.insert(bundle.entries[4], at: 5)
        #expect(verify(resigned(bundle, entries: entries)).failures == [
            .entryRepeated(index: 4, position: 5), .treeSizeMismatch(entryCount: 7, firstIndex: 0, treeSize: 6),
        ])

        entries = bundle.entries
        entries.append(AuditBundle.Entry(index: 6, entryBytes: entries[5].entryBytes, inclusionProof: entries[5].inclusionProof))
        #expect(verify(resigned(bundle, entries: entries)).failures == [
            .entryIndexMismatch(listed: 6, inEntry: 5), .entryBeyondTree(index: 6, treeSize: 6),
            .treeSizeMismatch(entryCount: 7, firstIndex: 0, treeSize: 6),
        ])
    }

    @Test("an altered entry is named by index and kind, and the recomputed root differs")
    func alteredEntry() throws {
        let bundle = try AuditFixtures.bundle(count: 5)
        let original = try AuditEntry(entryBytes: bundle.entries[3].entryBytes)
        let forged = try AuditEntry(index: 3, time: original.time, kind: original.kind, actor: "system", details: original.details)
        var entries = bundle.entries
        entries[3] = AuditBundle.Entry(index: 3, entryBytes: forged.entryBytes, inclusionProof: entries[3].inclusionProof)
        let failures = verify(resigned(bundle, entries: entries)).failures
        #expect(failures.count == 2)
        #expect(failures.first == .entryNotIncluded(index: 3, kind: original.kind.rawValue))
        guard case .rootMismatch(_, let signed)? = failures.last else {
            Issue.record("no root mismatch in \(failures)")
            return
        }
        #expect(signed == bundle.checkpoint.checkpoint.rootHash)
        #expect(failures.first?.description == "Entry 3 (device_revoked) is not included in the log under the checkpoint's root: the entry or its inclusion proof was altered.")
    }

    @Test("an entry whose own index disagrees with its place is named")
    func indexMismatch() throws {
        let bundle = try AuditFixtures.bundle(count: 3)
        var entries = bundle.entries
        entries[1] = AuditBundle.Entry(index: 1, entryBytes: bundle.entries[2].entryBytes, inclusionProof: entries[1].inclusionProof)
        let failures = verify(resigned(bundle, entries: entries)).failures
        #expect(failures.contains(.entryIndexMismatch(listed: 1, inEntry: 2)))
        #expect(failures.contains(.entryNotIncluded(index: 1, kind: "device_enrolled")))
    }

    @Test("a log rewritten since the earlier checkpoint fails the consistency proof")
    func forkedLog() throws {
        let all = try AuditFixtures.entryBytes(count: 8)
        let builder = AuditBundleBuilder(origin: AuditFixtures.origin, key: AuditFixtures.signingKey)
        var rewritten = all
        rewritten[1] = try AuditEntry(index: 1, time: AuditFixtures.baseTime, kind: .erasure, actor: "system").entryBytes
        let earlier = try builder.build(entries: Array(rewritten.prefix(4)), time: AuditFixtures.baseTime).checkpoint
        // The builder refuses to export a proof it knows will fail…
        #expect(throws: AuditBundleBuildError.earlierCheckpointNotAPrefix(treeSize: 4)) {
            try builder.build(entries: all, time: AuditFixtures.baseTime, since: earlier)
        }
        // …and a bundle that carries one anyway is caught.
        let honest = try builder.build(entries: all, time: AuditFixtures.baseTime.addingTimeInterval(60),
                                       since: builder.build(entries: Array(all.prefix(4)), time: AuditFixtures.baseTime).checkpoint)
        let consistency = try #require(honest.consistency)
        let forged = AuditBundle(checkpoint: honest.checkpoint, entries: honest.entries,
                                 consistency: AuditBundle.Consistency(from: earlier, proof: consistency.proof))
        #expect(verify(forged).failures == [.consistencyFailed(fromSize: 4, toSize: 8)])
    }

    @Test("an earlier checkpoint of another log, a larger one, or a later one is named")
    func earlierCheckpointMismatch() throws {
        let all = try AuditFixtures.entryBytes(count: 6)
        let other = AuditBundleBuilder(origin: "faceloop-audit/other", key: AuditFixtures.signingKey)
        let builder = AuditBundleBuilder(origin: AuditFixtures.origin, key: AuditFixtures.signingKey)
        let bundle = try builder.build(entries: Array(all.prefix(4)), time: AuditFixtures.baseTime)

        let foreign = try other.build(entries: Array(all.prefix(2)), time: AuditFixtures.baseTime).checkpoint
        #expect(throws: AuditBundleBuildError.earlierCheckpointFromOtherLog("faceloop-audit/other")) {
            try builder.build(entries: all, time: AuditFixtures.baseTime, since: foreign)
        }
        let fromForeign = AuditBundle(checkpoint: bundle.checkpoint, entries: bundle.entries,
                                      consistency: AuditBundle.Consistency(from: foreign, proof: try MerkleTree(entries: Array(all.prefix(4))).consistencyProof(from: 2)))
        #expect(verify(fromForeign).failures == [.earlierCheckpointFromOtherLog(found: "faceloop-audit/other", expected: AuditFixtures.origin)])

        let larger = try builder.build(entries: all, time: AuditFixtures.baseTime.addingTimeInterval(-60)).checkpoint
        let fromLarger = AuditBundle(checkpoint: bundle.checkpoint, entries: bundle.entries,
                                     consistency: AuditBundle.Consistency(from: larger, proof: []))
        #expect(verify(fromLarger).failures == [.earlierCheckpointLarger(earlierSize: 6, treeSize: 4)])

        let later = try builder.build(entries: Array(all.prefix(2)), time: AuditFixtures.baseTime.addingTimeInterval(60)).checkpoint
        let fromLater = AuditBundle(checkpoint: bundle.checkpoint, entries: bundle.entries,
                                    consistency: AuditBundle.Consistency(from: later, proof: try MerkleTree(entries: Array(all.prefix(4))).consistencyProof(from: 2)))
        #expect(verify(fromLater).failures == [.earlierCheckpointLater(earlierTime: later.checkpoint.timestamp, time: bundle.checkpoint.checkpoint.timestamp)])
    }

    @Test("structural problems are named by JSON path or byte offset")
    func structure() throws {
        let bundle = try AuditFixtures.bundle(count: 2)
        let text = bundle.serialized().text

        #expect(verify(String(text.dropLast())).failures == [.invalidJSON(offset: text.utf8.count - 1, reason: "unexpected end of input in object")])
        #expect(verify("[]").failures == [.wrongType(path: "the top level", expected: "an object")])
        #expect(verify(text.replacingOccurrences(of: "faceloop-audit-bundle/2", with: "faceloop-audit-bundle/3")).failures
            == [.wrongFormat(found: "faceloop-audit-bundle/3")])

        let withExtra = text.replacingOccurrences(of: #""entries":["#, with: #""comment":"hi","entries":["#)
        #expect(verify(withExtra).failures == [.unexpectedMember(path: #"the member "comment""#)])

        let proofHash = bundle.entries[1].inclusionProof[0].base64
        let badBase64 = text.replacingOccurrences(of: proofHash, with: "!" + proofHash.dropFirst())
        #expect(verify(badBase64).failures.first == .badBase64(path: "entries[1].inclusion_proof[0]"))
        let shortHash = text.replacingOccurrences(of: proofHash, with: "AAAA")
        #expect(verify(shortHash).failures.first == .badHashLength(path: "entries[1].inclusion_proof[0]", byteCount: 3))

        let noRoot = text.replacingOccurrences(of: #""root_hash":"\#(bundle.checkpoint.checkpoint.rootHash.base64)","#, with: "")
        #expect(verify(noRoot).failures == [.missingMember(path: "checkpoint.root_hash")])

        let stringSize = text.replacingOccurrences(of: #""tree_size":2"#, with: #""tree_size":"2""#)
        #expect(verify(stringSize).failures == [.wrongType(path: "checkpoint.tree_size", expected: "a whole number of at least 0")])

        #expect(throws: AuditBundleError.self) { try AuditBundle(bundleBytes: Array(noRoot.utf8)) }
    }

    @Test("base64 with stray low bits in its last character is refused")
    func nonCanonicalBase64() throws {
        let bundle = try AuditFixtures.bundle(count: 2)
        let signature = StrictBase64.encode(bundle.checkpoint.signature)
        // 64 bytes end in "==": the last data character carries 4 unused bits.
        let characters = Array(signature)
        let last = characters[characters.count - 3]
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let value = try #require(alphabet.firstIndex(of: last))
        let sloppy = String(characters[..<(characters.count - 3)]) + String(alphabet[value | 1]) + "=="
        #expect(value & 0x0F == 0 && sloppy != signature)
        let text = bundle.serialized().text.replacingOccurrences(of: signature, with: sloppy)
        #expect(verify(text).failures == [.badBase64(path: "checkpoint.signature")])
    }
}
