import AuditLog
import Crypto
import FeedbackWire
import Foundation
import StrictJSON

/// Fixed keys, entries and bundles shared by the suites, so failures reproduce exactly.
enum AuditFixtures {
    static let origin = "faceloop-audit/test-server"

    static let signingKey = key(seed: 0x5A)
    static let otherKey = key(seed: 0xA5)

    static func key(seed: UInt8) -> Curve25519.Signing.PrivateKey {
        // 32 fixed bytes are always a valid Ed25519 seed.
        (try? Curve25519.Signing.PrivateKey(rawRepresentation: (0..<32).map { seed &+ UInt8($0) }))
            ?? Curve25519.Signing.PrivateKey()
    }

    static let baseTime = Date(timeIntervalSince1970: 1_795_000_000)

    /// Entries of every kind, with pseudonymous details only.
    static func entries(count: Int) throws -> [AuditEntry] {
        let kinds = AuditEntry.Kind.allCases
        return try (0..<count).map { index in
            let kind = kinds[index % kinds.count]
            let actor = ["device:kiosk-1", "token:erin (compliance)", "system"][index % 3]
            let details: [(key: String, value: JSONValue)] = [
                ("subject", .string("psn-\(String(index * 7919, radix: 16))")),
                ("note", .string("événement \"\(index)\" \\ ok")),
                ("count", .number(Double(index))),
            ]
            return try AuditEntry(index: index, time: baseTime.addingTimeInterval(Double(index) * 60.5), kind: kind,
                                  actor: actor, details: details)
        }
    }

    static func entryBytes(count: Int) throws -> [[UInt8]] { try entries(count: count).map(\.entryBytes) }

    /// A bundle of the whole log of `count` entries, with a consistency proof from the log's
    /// first `earlier` entries when given.
    static func bundle(count: Int, earlier: Int? = nil, scope: AuditBundleBuilder.Scope = .wholeLog,
                       key: Curve25519.Signing.PrivateKey = signingKey) throws -> AuditBundle {
        let all = try entryBytes(count: count)
        let builder = AuditBundleBuilder(origin: origin, key: key)
        var since: SignedAuditCheckpoint?
        if let earlier {
            since = try builder.build(entries: Array(all.prefix(earlier)), time: baseTime.addingTimeInterval(-3600)).checkpoint
        }
        return try builder.build(entries: all, time: baseTime.addingTimeInterval(7200), since: since, scope: scope)
    }

    /// The key that replaced `signingKey` in ``rotation``.
    static let secondKey = key(seed: 0x33)
    static let rotationTime = baseTime.addingTimeInterval(1000)

    /// `signingKey` endorsing `secondKey` as the audit key's generation 2.
    static func rotation(by previous: Curve25519.Signing.PrivateKey = signingKey,
                         purpose: SigningKeyPurpose = .auditSigning) throws -> SignedRelease {
        try SigningKeyEndorsement.sign(purpose: purpose, generation: 2, newKey: secondKey.publicKey, previous: previous, at: rotationTime)
    }

    /// A log of `count` entries that `signingKey` checkpointed at `earlier` entries, before the
    /// rotation; the bundle's checkpoint is signed by `secondKey` after it.
    static func rotatedBundle(count: Int = 9, earlier: Int = 4, scope: AuditBundleBuilder.Scope = .wholeLog) throws -> AuditBundle {
        let all = try entryBytes(count: count)
        let before = try AuditBundleBuilder(origin: origin, key: signingKey)
            .build(entries: Array(all.prefix(earlier)), time: baseTime).checkpoint
        return try AuditBundleBuilder(origin: origin, key: secondKey, keyHistory: [try rotation()])
            .build(entries: all, time: baseTime.addingTimeInterval(7200), since: before, scope: scope)
    }

    /// A bundle as exported before key rotation: `faceloop-audit-bundle/1`, checkpoints naming no key.
    static func bundleBeforeKeyRotation(count: Int, earlier: Int? = nil) throws -> AuditBundle {
        let bundle = try self.bundle(count: count, earlier: earlier)
        func unnamed(_ signed: SignedAuditCheckpoint) throws -> SignedAuditCheckpoint {
            let checkpoint = signed.checkpoint
            return try AuditCheckpoint(origin: checkpoint.origin, treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash,
                                       timestamp: checkpoint.timestamp).signed(with: signingKey)
        }
        return AuditBundle(checkpoint: try unnamed(bundle.checkpoint), entries: bundle.entries,
                           consistency: try bundle.consistency.map { .init(from: try unnamed($0.from), proof: $0.proof) },
                           keyHistory: nil)
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}
