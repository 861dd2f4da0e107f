/// One thing wrong with an audit bundle, phrased for the compliance officer who reads the
/// verification report. Cases carry the entry number, JSON path or tree sizes involved so a
/// report names exactly what failed.
public enum AuditFailure: Sendable, Equatable, CustomStringConvertible {
    /// The file is not JSON at all; `offset` is the 0-based byte where reading stopped.
    case invalidJSON(offset: Int, reason: String)
    /// The `format` member is absent from the tag this verifier reads, or is another tag.
    case wrongFormat(found: String)
    case missingMember(path: String)
    case unexpectedMember(path: String)
    case wrongType(path: String, expected: String)
    case badBase64(path: String)
    case badHashLength(path: String, byteCount: Int)
    case invalidCheckpointValue(path: String, reason: String)
    case invalidKeyHistoryValue(path: String, reason: String)
    /// The key history (the bundle's and any given beside it) does not chain from the pinned key.
    case keyHistoryInvalid(reason: String)
    /// A checkpoint names a key that is not among those verified from the pinned key (`keyID`
    /// nil: it names none, so the generation-1 key signed it); `known` lists the verified ones.
    case checkpointKeyUnknown(earlier: Bool, treeSize: Int, keyID: String?, known: [String])
    /// A checkpoint is signed by a key after the key that replaced it became active.
    case checkpointSignedByRetiredKey(earlier: Bool, treeSize: Int, keyID: String, generation: Int, time: String, replacedAt: String)
    case checkpointSignatureInvalid(treeSize: Int)
    /// An entry's text is not a readable audit entry (named by its listed index, or by its
    /// position in the bundle when the index itself is unreadable).
    case entryUnreadable(index: Int, reason: String)
    /// The entry's own `index` differs from the index the bundle lists it under.
    case entryIndexMismatch(listed: Int, inEntry: Int)
    /// The entry's leaf hash does not lead to the signed root through its inclusion proof.
    case entryNotIncluded(index: Int, kind: String?)
    /// The entry stands out of ascending order (`position` is its 0-based place in the list).
    case entryOutOfSequence(index: Int, position: Int)
    case entryRepeated(index: Int, position: Int)
    case entriesMissing(first: Int, last: Int)
    case entryBeyondTree(index: Int, treeSize: Int)
    case treeSizeMismatch(entryCount: Int, firstIndex: Int, treeSize: Int)
    case rootMismatch(recomputed: MerkleHash, signed: MerkleHash)
    case earlierCheckpointSignatureInvalid(treeSize: Int)
    case earlierCheckpointFromOtherLog(found: String, expected: String)
    case earlierCheckpointLarger(earlierSize: Int, treeSize: Int)
    case earlierCheckpointLater(earlierTime: String, time: String)
    case consistencyFailed(fromSize: Int, toSize: Int)

    public var description: String {
        switch self {
        case let .invalidJSON(offset, reason):
            return "The bundle is not valid JSON: at byte \(offset), \(reason)."
        case let .wrongFormat(found):
            return "The bundle's format is \"\(found)\", not \"\(AuditBundle.format)\"; this is not an audit bundle this verifier reads."
        case let .missingMember(path):
            return "The bundle lacks \(path)."
        case let .unexpectedMember(path):
            return "The bundle has \(path), which the format does not define."
        case let .wrongType(path, expected):
            return "In the bundle, \(path) is not \(expected)."
        case let .badBase64(path):
            return "In the bundle, \(path) is not valid base64."
        case let .badHashLength(path, byteCount):
            return "In the bundle, \(path) holds \(byteCount) bytes, not a 32-byte SHA-256 hash."
        case let .invalidCheckpointValue(path, reason):
            return "In the bundle, \(path) is invalid: \(reason)."
        case let .invalidKeyHistoryValue(path, reason):
            return "In the bundle's key history, \(path) is invalid: \(reason)."
        case let .keyHistoryInvalid(reason):
            return "The audit key history does not follow from the pinned public key: \(reason)."
        case let .checkpointKeyUnknown(earlier, treeSize, keyID, known):
            let which = earlier ? "The earlier checkpoint" : "The checkpoint"
            let named = keyID.map { "names the audit key \($0)" } ?? "names no key, so the generation-1 audit key signed it, but that key"
            let keys = known.isEmpty ? "none" : known.joined(separator: ", ")
            return "\(which) (tree size \(treeSize)) \(named), which is not among the keys verified from the pinned public key (\(keys)): give the key history that reaches it (--key-history), or pin an earlier key."
        case let .checkpointSignedByRetiredKey(earlier, treeSize, keyID, generation, time, replacedAt):
            let which = earlier ? "The earlier checkpoint" : "The checkpoint"
            return "\(which) (tree size \(treeSize)) is dated \(time) but signed by the audit key \(keyID) (generation \(generation)), which was replaced at \(replacedAt)."
        case let .checkpointSignatureInvalid(treeSize):
            return "The checkpoint's signature (tree size \(treeSize)) does not verify with the audit key it names: the checkpoint was altered or was not signed by this log."
        case let .entryUnreadable(index, reason):
            return "Entry \(index) cannot be read: \(reason)."
        case let .entryIndexMismatch(listed, inEntry):
            return "Entry \(listed) states its own index as \(inEntry)."
        case let .entryNotIncluded(index, kind):
            let what = kind.map { " (\($0))" } ?? ""
            return "Entry \(index)\(what) is not included in the log under the checkpoint's root: the entry or its inclusion proof was altered."
        case let .entryOutOfSequence(index, position):
            return "Entry \(index) is out of sequence: it stands at position \(position) of the bundle's list, out of ascending order."
        case let .entryRepeated(index, position):
            return "Entry \(index) appears again at position \(position) of the bundle's list."
        case let .entriesMissing(first, last):
            return first == last ? "Entry \(first) is missing from the bundle." : "Entries \(first) to \(last) are missing from the bundle."
        case let .entryBeyondTree(index, treeSize):
            return "Entry \(index) lies beyond the checkpoint, which covers entries 0 to \(treeSize - 1)."
        case let .treeSizeMismatch(entryCount, firstIndex, treeSize):
            return "The bundle carries \(entryCount) entries from entry \(firstIndex), but the checkpoint's tree holds \(treeSize) entries, so \(max(0, treeSize - firstIndex)) were expected."
        case let .rootMismatch(recomputed, signed):
            return "The root recomputed from the bundle's entries (\(recomputed.hex)) differs from the checkpoint's root (\(signed.hex))."
        case let .earlierCheckpointSignatureInvalid(treeSize):
            return "The earlier checkpoint's signature (tree size \(treeSize)) does not verify with the audit key it names: it was altered or was not signed by this log."
        case let .earlierCheckpointFromOtherLog(found, expected):
            return "The earlier checkpoint is from the log \"\(found)\", not \"\(expected)\"."
        case let .earlierCheckpointLarger(earlierSize, treeSize):
            return "The earlier checkpoint's tree size \(earlierSize) is larger than the checkpoint's \(treeSize)."
        case let .earlierCheckpointLater(earlierTime, time):
            return "The earlier checkpoint's time \(earlierTime) is after the checkpoint's time \(time)."
        case let .consistencyFailed(fromSize, toSize):
            return "The consistency proof from tree size \(fromSize) to tree size \(toSize) does not verify: the log as of the earlier checkpoint is not a prefix of the current log, so earlier entries were changed or removed, or the proof was altered."
        }
    }
}
