@testable import AuditLog
import FeedbackWire
import StrictJSON
import Testing

/// Changes every byte of a small bundle, one at a time and in several ways, and requires each
/// change to be caught with a failure that names the part of the bundle that was changed. The
/// writer emits no whitespace and only canonical base64 and entries, so no single-byte change
/// can leave a bundle with the same meaning: every one must be detected.
@Suite("Audit bundles: every single-byte change is detected")
struct BundleTamperTests {
    /// Where a byte sits in the serialized bundle.
    enum Region: Equatable, CustomStringConvertible {
        case structure
        case format
        case checkpoint
        case entry(Int)
        case earlierCheckpoint
        case consistencyProof
        case keyHistory

        var description: String {
            switch self {
            case .structure: "bundle structure"
            case .format: "format tag"
            case .checkpoint: "checkpoint"
            case let .entry(index): "entry \(index)"
            case .earlierCheckpoint: "earlier checkpoint"
            case .consistencyProof: "consistency proof"
            case .keyHistory: "key history"
            }
        }
    }

    /// XOR 0xFF flips the byte; 0x01 and 0x20 keep most characters printable (a digit stays a
    /// digit, a base64 letter changes case), so the checks past JSON syntax are reached too.
    static let masks: [UInt8] = [0xFF, 0x01, 0x20]

    @Test("each byte changed is caught and attributed to what it belongs to")
    func everyByte() throws {
        let bundle = try AuditFixtures.bundle(count: 5, earlier: 3)
        #expect(try #require(bundle.consistency).proof.count > 0)
        try Self.requireEveryByteDetected(bundle)
    }

    @Test("in a bundle spanning a key rotation, each byte of the key history and key ids counts too")
    func everyByteAcrossRotation() throws {
        let bundle = try AuditFixtures.rotatedBundle(count: 5, earlier: 3)
        #expect(bundle.keyHistory?.count == 1)
        try Self.requireEveryByteDetected(bundle)
    }

    static func requireEveryByteDetected(_ bundle: AuditBundle) throws {
        let bytes = bundle.serialized()
        let regions = try Self.regions(of: bundle, in: bytes)
        let publicKey = AuditFixtures.signingKey.publicKey
        #expect(AuditBundleVerifier.verify(bundleBytes: bytes, publicKey: publicKey).isValid)

        var undetected: [String] = []
        var unattributed: [String] = []
        for offset in bytes.indices {
            let region = regions.first { $0.range.contains(offset) }?.region ?? .structure
            for mask in Self.masks {
                var mutated = bytes
                mutated[offset] ^= mask
                let failures = AuditBundleVerifier.verify(bundleBytes: mutated, publicKey: publicKey).failures
                let change = "byte \(offset) (\(region)) ^ 0x\(String(mask, radix: 16))"
                if failures.isEmpty {
                    undetected.append(change)
                } else if !failures.contains(where: { Self.isRelevant($0, to: region) }) {
                    unattributed.append("\(change): \(failures.map(\.description))")
                }
            }
        }
        #expect(undetected.isEmpty, "undetected: \(undetected.prefix(20))")
        #expect(unattributed.isEmpty, "failures naming another part: \(unattributed.prefix(10))")
    }

    static func isRelevant(_ failure: AuditFailure, to region: Region) -> Bool {
        func path(_ prefix: String) -> Bool {
            switch failure {
            case let .missingMember(path), let .wrongType(path, _), let .badBase64(path), let .badHashLength(path, _),
                 let .invalidCheckpointValue(path, _):
                return path.hasPrefix(prefix)
            case let .unexpectedMember(path):
                return path.hasPrefix("the member \"\(prefix)")
            default:
                return false
            }
        }
        if case .invalidJSON = failure { return true }
        switch region {
        case .structure:
            switch failure {
            case .missingMember, .unexpectedMember, .wrongType: return true
            default: return false
            }
        case .format:
            if case .wrongFormat = failure { return true }
            return false
        case .checkpoint:
            switch failure {
            case .checkpointSignatureInvalid: return true
            case let .checkpointKeyUnknown(earlier, _, _, _), let .checkpointSignedByRetiredKey(earlier, _, _, _, _, _): return !earlier
            default: return path("checkpoint.")
            }
        case let .entry(index):
            switch failure {
            case let .entryNotIncluded(i, _), let .entryUnreadable(i, _), let .entryBeyondTree(i, _):
                return i == index
            case let .entryIndexMismatch(listed, inEntry):
                return listed == index || inEntry == index
            case let .entryOutOfSequence(_, position), let .entryRepeated(_, position):
                return position == index
            case let .entriesMissing(first, last):
                return (first...last).contains(index)
            default:
                return path("entries[\(index)]")
            }
        case .earlierCheckpoint:
            switch failure {
            case .earlierCheckpointSignatureInvalid, .earlierCheckpointFromOtherLog, .earlierCheckpointLarger,
                 .earlierCheckpointLater, .consistencyFailed:
                return true
            case let .checkpointKeyUnknown(earlier, _, _, _), let .checkpointSignedByRetiredKey(earlier, _, _, _, _, _):
                return earlier
            default:
                return path("consistency.from.")
            }
        case .consistencyProof:
            if case .consistencyFailed = failure { return true }
            return path("consistency.proof")
        case .keyHistory:
            switch failure {
            case .keyHistoryInvalid, .invalidKeyHistoryValue: return true
            default: return path("key_history")
            }
        }
    }

    /// Byte ranges of each part, found by serializing the parts the way the writer does.
    static func regions(of bundle: AuditBundle, in bytes: [UInt8]) throws -> [(range: Range<Int>, region: Region)] {
        var regions: [(range: Range<Int>, region: Region)] = []
        var cursor = 0
        func locate(_ value: JSONValue, as region: Region) throws {
            let fragment = value.serialized()
            var start = cursor
            while start + fragment.count <= bytes.count, Array(bytes[start..<start + fragment.count]) != fragment { start += 1 }
            try #require(start + fragment.count <= bytes.count, "\(region) not found")
            regions.append((start..<start + fragment.count, region))
            cursor = start + fragment.count
        }
        try locate(.string(bundle.keyHistory == nil ? AuditBundle.formatBeforeKeyRotation : AuditBundle.format), as: .format)
        try locate(bundle.checkpoint.json, as: .checkpoint)
        for entry in bundle.entries { try locate(AuditBundle.json(entry), as: .entry(entry.index)) }
        if let consistency = bundle.consistency {
            try locate(consistency.from.json, as: .earlierCheckpoint)
            try locate(AuditBundle.json(consistency.proof), as: .consistencyProof)
        }
        if let keyHistory = bundle.keyHistory, !keyHistory.isEmpty {
            try locate(.array(keyHistory.map(\.json)), as: .keyHistory)
        }
        return regions
    }
}
