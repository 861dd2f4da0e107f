@testable import AuditLog
import Crypto
import FeedbackWire
import Foundation
import StrictJSON
import Testing

/// A log signed by key 1, whose key is then rotated to key 2 (key 1 endorsing key 2), with more
/// entries and a checkpoint by key 2: reviewers who pinned key 1 verify it offline.
@Suite("Audit bundles across a key rotation")
struct AuditKeyRotationTests {
    let firstKey = AuditFixtures.signingKey.publicKey
    let firstID = SignedRelease.keyID(of: AuditFixtures.signingKey.publicKey)
    let secondID = SignedRelease.keyID(of: AuditFixtures.secondKey.publicKey)

    func verify(_ text: String, pinned: Curve25519.Signing.PublicKey? = nil,
                history: [SignedRelease] = []) -> AuditVerificationReport {
        AuditBundleVerifier.verify(bundleBytes: Array(text.utf8), publicKey: pinned ?? firstKey, keyHistory: history)
    }

    @Test("the bundle verifies from the pinned first key; each checkpoint names its key and the log keeps its name")
    func verifiesAcrossRotation() throws {
        let bundle = try AuditFixtures.rotatedBundle()
        #expect(bundle.checkpoint.checkpoint.keyID == secondID)
        #expect(bundle.consistency?.from.checkpoint.keyID == firstID)
        #expect(bundle.checkpoint.checkpoint.origin == bundle.consistency?.from.checkpoint.origin)
        #expect(bundle.checkpoint.checkpoint.signedText.hasSuffix("\nkey-id \(secondID)\n"))

        let report = verify(bundle.serialized().text)
        #expect(report.failures == [])
        #expect(report.keys.map(\.keyID) == [firstID, secondID])
        #expect(report.keys.map(\.generation) == [1, 2])
        #expect(report.signers.map(\.key.keyID) == [secondID, firstID])
        #expect(report.signers.map(\.earlier) == [false, true])
        #expect(report.signers[0].description.contains("signed by audit key \(secondID) (generation 2, active from 2026-11-18T"))
        #expect(try AuditBundle(bundleBytes: bundle.serialized()) == bundle)
    }

    @Test("a forged history, or one for another purpose, is refused and key 2's checkpoint with it")
    func forgedHistory() throws {
        let bundle = try AuditFixtures.rotatedBundle()
        let forged = try AuditFixtures.rotation(by: AuditFixtures.otherKey)
        let withForgery = AuditBundle(checkpoint: bundle.checkpoint, entries: bundle.entries, consistency: bundle.consistency,
                                      keyHistory: [forged])
        let failures = verify(withForgery.serialized().text).failures
        #expect(failures.count == 2)
        guard case let .keyHistoryInvalid(reason)? = failures.first else {
            Issue.record("no key-history failure in \(failures)")
            return
        }
        #expect(reason.contains("endorsed by key \(SignedRelease.keyID(of: AuditFixtures.otherKey.publicKey))"))
        #expect(failures.last == .checkpointKeyUnknown(earlier: false, treeSize: 9, keyID: secondID, known: ["\(firstID) (generation 1)"]))

        let releaseKey = AuditBundle(checkpoint: bundle.checkpoint, entries: bundle.entries, consistency: bundle.consistency,
                                     keyHistory: [try AuditFixtures.rotation(purpose: .releaseSigning)])
        #expect(verify(releaseKey.serialized().text).failures.first
            == .keyHistoryInvalid(reason: "signing key generation 2 is a release-signing key, expected audit-signing"))
    }

    @Test("a checkpoint whose key id was changed or removed fails: the id is part of what is signed")
    func changedKeyID() throws {
        let text = try AuditFixtures.rotatedBundle().serialized().text
        let checkpointKey = #""key_id":"\#(secondID)","signature""#
        #expect(text.components(separatedBy: checkpointKey).count == 2)

        let renamed = verify(text.replacingOccurrences(of: checkpointKey, with: #""key_id":"\#(firstID)","signature""#)).failures
        #expect(renamed.contains(.checkpointSignatureInvalid(treeSize: 9)))
        let unknown = String(repeating: "ab", count: 8)
        #expect(verify(text.replacingOccurrences(of: checkpointKey, with: #""key_id":"\#(unknown)","signature""#)).failures
            == [.checkpointKeyUnknown(earlier: false, treeSize: 9, keyID: unknown,
                                      known: ["\(firstID) (generation 1)", "\(secondID) (generation 2)"])])
        // Without its id the checkpoint reads as the first key's, whose signature it does not carry.
        let stripped = verify(text.replacingOccurrences(of: checkpointKey, with: #""signature""#)).failures
        #expect(stripped.contains(.checkpointSignatureInvalid(treeSize: 9)))
    }

    @Test("key 2's checkpoint with the history withheld names an unknown key; the history given beside it repairs that")
    func historyWithheld() throws {
        let bundle = try AuditFixtures.rotatedBundle()
        let withheld = AuditBundle(checkpoint: bundle.checkpoint, entries: bundle.entries, consistency: bundle.consistency,
                                   keyHistory: []).serialized().text
        let failures = verify(withheld).failures
        #expect(failures == [.checkpointKeyUnknown(earlier: false, treeSize: 9, keyID: secondID, known: ["\(firstID) (generation 1)"])])
        #expect(failures.first?.description.contains("--key-history") == true)
        #expect(verify(withheld, history: [try AuditFixtures.rotation()]).failures == [])
        // Given twice (in the bundle and beside it), the history still verifies.
        #expect(verify(bundle.serialized().text, history: [try AuditFixtures.rotation()]).failures == [])
    }

    @Test("a reviewer who pinned key 2 verifies key 2's checkpoints but not key 1's")
    func pinnedLater() throws {
        let secondKey = AuditFixtures.secondKey.publicKey
        let sinceRotation = try AuditFixtures.rotatedBundle()
        let whole = AuditBundle(checkpoint: sinceRotation.checkpoint, entries: sinceRotation.entries, consistency: nil,
                                keyHistory: sinceRotation.keyHistory)
        let report = verify(whole.serialized().text, pinned: secondKey)
        #expect(report.failures == [])
        #expect(report.keys.map(\.generation) == [2])
        #expect(verify(sinceRotation.serialized().text, pinned: secondKey).failures
            == [.checkpointKeyUnknown(earlier: true, treeSize: 4, keyID: firstID, known: ["\(secondID) (generation 2)"])])
    }

    @Test("a checkpoint signed by key 1 after key 2 became active is refused")
    func retiredKey() throws {
        let all = try AuditFixtures.entryBytes(count: 6)
        let late = AuditFixtures.rotationTime.addingTimeInterval(60)
        let bundle = try AuditBundleBuilder(origin: AuditFixtures.origin, key: AuditFixtures.signingKey).build(entries: all, time: late)
        let carried = AuditBundle(checkpoint: bundle.checkpoint, entries: bundle.entries, consistency: nil,
                                  keyHistory: [try AuditFixtures.rotation()])
        #expect(verify(carried.serialized().text).failures == [
            .checkpointSignedByRetiredKey(earlier: false, treeSize: 6, keyID: firstID, generation: 1, time: RFC3339.format(late),
                                          replacedAt: RFC3339.format(AuditFixtures.rotationTime)),
        ])
        // The same checkpoint without the history: nothing says key 1 was replaced.
        #expect(verify(bundle.serialized().text).failures == [])
    }

    @Test("a bundle exported before rotation (format 1, no key ids) still verifies with the first key")
    func bundleBeforeRotation() throws {
        let old = try AuditFixtures.bundleBeforeKeyRotation(count: 7, earlier: 3)
        let text = old.serialized().text
        #expect(text.hasPrefix(#"{"format":"faceloop-audit-bundle/1","#))
        #expect(!text.contains("key_id") && !text.contains("key_history"))
        let report = verify(text)
        #expect(report.failures == [])
        #expect(report.signers.map(\.key.generation) == [1, 1])
        #expect(try AuditBundle(bundleBytes: Array(text.utf8)).serialized().text == text)
        // Format 1 knows no key history, and a reviewer who pinned a later key cannot verify it.
        #expect(verify(text.replacingOccurrences(of: #""entries":["#, with: #""key_history":[],"entries":["#)).failures
            == [.unexpectedMember(path: #"the member "key_history""#)])
        #expect(verify(text, pinned: AuditFixtures.secondKey.publicKey, history: [try AuditFixtures.rotation()]).failures.first
            == .checkpointKeyUnknown(earlier: false, treeSize: 7, keyID: nil, known: ["\(secondID) (generation 2)"]))
    }

    @Test("the builder signs only with the newest key of its history")
    func builderNewestKey() throws {
        let all = try AuditFixtures.entryBytes(count: 3)
        let stale = AuditBundleBuilder(origin: AuditFixtures.origin, key: AuditFixtures.signingKey, keyHistory: [try AuditFixtures.rotation()])
        #expect(throws: AuditBundleBuildError.keyHistory(.notNewest(keyID: firstID, generation: 1, newest: 2))) {
            try stale.build(entries: all, time: AuditFixtures.baseTime)
        }
        let stranger = AuditBundleBuilder(origin: AuditFixtures.origin, key: AuditFixtures.otherKey, keyHistory: [try AuditFixtures.rotation()])
        #expect(throws: AuditBundleBuildError.self) { try stranger.build(entries: all, time: AuditFixtures.baseTime) }
        #expect(throws: AuditCheckpointError.signedWithOtherKey(named: secondID, signer: firstID)) {
            try AuditCheckpoint(origin: AuditFixtures.origin, treeSize: 0, rootHash: MerkleTree.emptyRootHash,
                                time: AuditFixtures.baseTime, keyID: secondID).signed(with: AuditFixtures.signingKey)
        }
    }

    @Test("a key-history file is read as a list of envelopes or as the signing-keys answer, and garbage is refused")
    func historyFile() throws {
        let endorsement = try AuditFixtures.rotation()
        let list = try WireJSON.encoder().encode([endorsement])
        #expect(try AuditKeyHistory.parse([UInt8](list)) == [endorsement])
        let answer = #"{"origin":"\#(AuditFixtures.origin)","keys":[],"endorsements":\#(String(decoding: list, as: UTF8.self))}"#
        #expect(try AuditKeyHistory.parse(Array(answer.utf8)) == [endorsement])
        #expect(throws: AuditKeyHistoryError.self) { try AuditKeyHistory.parse(Array("[{".utf8)) }
        let tampered = String(decoding: list, as: UTF8.self).replacingOccurrences(of: "faceloop.signing-key.v1", with: "faceloop.other")
        #expect(throws: AuditKeyHistoryError.unreadable([
            #"In the bundle's key history, the key history[0].kind is invalid: "faceloop.other" is not a kind of signed envelope."#,
        ])) { try AuditKeyHistory.parse(Array(tampered.utf8)) }
    }
}
