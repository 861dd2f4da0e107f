import Crypto
import FeedbackWire
import Foundation
import Testing

@Suite struct SigningKeyHistoryTests {
    let first = Curve25519.Signing.PrivateKey()
    let second = Curve25519.Signing.PrivateKey()
    let third = Curve25519.Signing.PrivateKey()
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func chain() throws -> [SignedRelease] {
        [try SigningKeyEndorsement.sign(purpose: .releaseSigning, generation: 2, newKey: second.publicKey, previous: first,
                                        at: start),
         try SigningKeyEndorsement.sign(purpose: .releaseSigning, generation: 3, newKey: third.publicKey, previous: second,
                                        at: start.addingTimeInterval(86_400 * 365))]
    }

    @Test func followsTheChainFromThePinnedKey() throws {
        let keys = try SigningKeyHistory.verify(pinned: first.publicKey, endorsements: try chain().reversed(), purpose: .releaseSigning)
        #expect(keys.map(\.keyID) == [first, second, third].map { SignedRelease.keyID(of: $0.publicKey) })
        #expect(keys.map(\.generation) == [1, 2, 3])
        #expect(keys[2].activatedAt == start.addingTimeInterval(86_400 * 365))
    }

    @Test func aKioskPinnedLaterSkipsOlderEndorsements() throws {
        let keys = try SigningKeyHistory.verify(pinned: second.publicKey, endorsements: try chain(), purpose: .releaseSigning)
        #expect(keys.map(\.generation) == [2, 3])
        #expect(keys.last?.keyID == SignedRelease.keyID(of: third.publicKey))
    }

    @Test func aRetiredKeyCannotFork() throws {
        // The first key, already replaced, endorses a key of its own as generation 3.
        let rogue = Curve25519.Signing.PrivateKey()
        let fork = [try chain()[0],
                    try SigningKeyEndorsement.sign(purpose: .releaseSigning, generation: 3, newKey: rogue.publicKey, previous: first,
                                                   at: start)]
        #expect(throws: SigningKeyHistoryError.notEndorsedByKnownKey(generation: 3, signer: SignedRelease.keyID(of: first.publicKey))) {
            try SigningKeyHistory.verify(pinned: first.publicKey, endorsements: fork, purpose: .releaseSigning)
        }
    }

    @Test func anAlteredOrMisdirectedEndorsementIsRefused() throws {
        var altered = try chain()
        altered[0].payload = Data(SigningKeyEndorsement.payload(purpose: .releaseSigning, newKey: Curve25519.Signing.PrivateKey().publicKey,
                                                                previousKeyID: SignedRelease.keyID(of: first.publicKey),
                                                                activatedAt: start)).base64EncodedString()
        #expect(throws: SigningKeyHistoryError.endorsement(generation: 2, .badSignature)) {
            try SigningKeyHistory.verify(pinned: first.publicKey, endorsements: altered, purpose: .releaseSigning)
        }
        let auditKey = try SigningKeyEndorsement.sign(purpose: .auditSigning, generation: 2, newKey: second.publicKey, previous: first,
                                                      at: start)
        #expect(throws: SigningKeyHistoryError.wrongPurpose(generation: 2, expected: "release-signing", found: "audit-signing")) {
            try SigningKeyHistory.verify(pinned: first.publicKey, endorsements: [auditKey], purpose: .releaseSigning)
        }
    }
}
