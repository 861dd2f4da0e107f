import Crypto
import FeedbackWire
import Foundation
import Testing
@testable import AuditLog

@Suite("Checkpoints and public keys")
struct AuditCheckpointTests {
    let root = MerkleTree(entries: [Array("a".utf8), Array("b".utf8)]).rootHash

    @Test("the signed text is origin, size, base64 root and time, one a line, newline-terminated")
    func signedText() throws {
        let checkpoint = try AuditCheckpoint(origin: "faceloop-audit/srv-1", treeSize: 2, rootHash: root,
                                             timestamp: "2026-11-26T15:46:32.123Z")
        #expect(checkpoint.signedText == "faceloop-audit/srv-1\n2\n\(root.base64)\n2026-11-26T15:46:32.123Z\n")
        #expect(root.base64.count == 44)
    }

    @Test("a checkpoint naming its key signs one more line, and the JSON carries the id before the signature")
    func keyIDLine() throws {
        let keyID = SignedRelease.keyID(of: AuditFixtures.signingKey.publicKey)
        let checkpoint = try AuditCheckpoint(origin: "faceloop-audit/srv-1", treeSize: 2, rootHash: root,
                                             timestamp: "2026-11-26T15:46:32.123Z", keyID: keyID)
        #expect(checkpoint.signedText == "faceloop-audit/srv-1\n2\n\(root.base64)\n2026-11-26T15:46:32.123Z\nkey-id \(keyID)\n")
        let json = try checkpoint.signed(with: AuditFixtures.signingKey).json.serialized().text
        #expect(json.contains(#""timestamp":"2026-11-26T15:46:32.123Z","key_id":"\#(keyID)","signature":"#))
        #expect(throws: AuditCheckpointError.invalidKeyID("ABCDEF0123456789")) {
            try AuditCheckpoint(origin: "log", treeSize: 1, rootHash: root, timestamp: "2026-11-26T15:46:32.123Z", keyID: "ABCDEF0123456789")
        }
    }

    @Test("a signature verifies with the signing key's public key and no other, and covers every field")
    func signatures() throws {
        let checkpoint = try AuditCheckpoint(origin: AuditFixtures.origin, treeSize: 2, rootHash: root, time: AuditFixtures.baseTime)
        let signed = try checkpoint.signed(with: AuditFixtures.signingKey)
        #expect(signed.signature.count == 64)
        #expect(signed.isValid(publicKey: AuditFixtures.signingKey.publicKey))
        #expect(!signed.isValid(publicKey: AuditFixtures.otherKey.publicKey))
        let variants = [
            try AuditCheckpoint(origin: AuditFixtures.origin + "x", treeSize: 2, rootHash: root, timestamp: checkpoint.timestamp),
            try AuditCheckpoint(origin: AuditFixtures.origin, treeSize: 3, rootHash: root, timestamp: checkpoint.timestamp),
            try AuditCheckpoint(origin: AuditFixtures.origin, treeSize: 2, rootHash: MerkleTree.emptyRootHash, timestamp: checkpoint.timestamp),
            try AuditCheckpoint(origin: AuditFixtures.origin, treeSize: 2, rootHash: root, time: AuditFixtures.baseTime.addingTimeInterval(1)),
        ]
        for variant in variants {
            #expect(!SignedAuditCheckpoint(checkpoint: variant, signature: signed.signature)
                .isValid(publicKey: AuditFixtures.signingKey.publicKey))
        }
    }

    @Test("values that would break the one-value-a-line text are refused")
    func invalidValues() {
        #expect(throws: AuditCheckpointError.invalidOrigin("a\nb")) {
            try AuditCheckpoint(origin: "a\nb", treeSize: 1, rootHash: root, timestamp: "2026-11-26T15:46:32.123Z")
        }
        #expect(throws: AuditCheckpointError.invalidOrigin("")) {
            try AuditCheckpoint(origin: "", treeSize: 1, rootHash: root, timestamp: "2026-11-26T15:46:32.123Z")
        }
        #expect(throws: AuditCheckpointError.invalidTreeSize(-1)) {
            try AuditCheckpoint(origin: "log", treeSize: -1, rootHash: root, timestamp: "2026-11-26T15:46:32.123Z")
        }
        #expect(throws: AuditCheckpointError.invalidTimestamp("2026-11-26T15:46:32.123Z\n")) {
            try AuditCheckpoint(origin: "log", treeSize: 1, rootHash: root, timestamp: "2026-11-26T15:46:32.123Z\n")
        }
    }

    @Test("the public key is read as PEM, hex, base64 or raw bytes, and anything else is refused")
    func publicKeyForms() throws {
        let key = AuditFixtures.signingKey.publicKey
        let raw = [UInt8](key.rawRepresentation)
        let pem = AuditPublicKey.pem(key)
        #expect(pem.hasPrefix("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"))
        let hex = try #require(MerkleHash(bytes: raw)).hex
        let forms: [[UInt8]] = [
            Array(pem.utf8),
            Array("  \(pem)\n\n".utf8),
            Array(hex.utf8),
            Array((hex.uppercased() + "\n").utf8),
            Array(Data(raw).base64EncodedString().utf8),
            raw,
            AuditPublicKey.spkiPrefix + raw,
        ]
        for form in forms {
            #expect(try AuditPublicKey.parse(form).rawRepresentation == key.rawRepresentation, "\(form.text)")
        }
        for bad in ["", "not a key", String(hex.dropLast()), "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"] {
            #expect(throws: AuditPublicKeyError.self) { try AuditPublicKey.parse(Array(bad.utf8)) }
        }
    }
}
