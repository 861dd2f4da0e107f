import FeedbackWire
import Foundation
import StrictJSON

/// A bundle read as far as its structure allows, with every structural failure found. The
/// verifier goes on checking whatever parts were readable, so one bad member does not hide
/// problems elsewhere.
struct BundleDocument {
    struct ReadEntry {
        let position: Int
        var index: Int?
        var entryBytes: [UInt8]?
        var inclusionProof: [MerkleHash]?

        /// The name a report gives this entry: its listed index, else its place in the bundle.
        var label: Int { index ?? position }
    }

    struct ReadConsistency {
        var from: SignedAuditCheckpoint?
        var proof: [MerkleHash]?
    }

    var failures: [AuditFailure] = []
    var checkpoint: SignedAuditCheckpoint?
    var entries: [ReadEntry]?
    var consistency: ReadConsistency?
    /// Nil for a `faceloop-audit-bundle/1`, which predates key rotation.
    var keyHistory: [SignedRelease]?
    /// Whether the bundle is of the format that names keys (key ids, key history).
    var namesKeys = true

    /// The whole bundle, when every part was readable.
    var bundle: AuditBundle? {
        guard let checkpoint, let entries else { return nil }
        var complete: [AuditBundle.Entry] = []
        for entry in entries {
            guard let index = entry.index, let bytes = entry.entryBytes, let proof = entry.inclusionProof else { return nil }
            complete.append(AuditBundle.Entry(index: index, entryBytes: bytes, inclusionProof: proof))
        }
        var proven: AuditBundle.Consistency?
        if let consistency {
            guard let from = consistency.from, let proof = consistency.proof else { return nil }
            proven = AuditBundle.Consistency(from: from, proof: proof)
        }
        if namesKeys, keyHistory == nil { return nil }
        return AuditBundle(checkpoint: checkpoint, entries: complete, consistency: proven, keyHistory: keyHistory)
    }

    static func read(_ bytes: [UInt8]) -> BundleDocument {
        var document = BundleDocument()
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes)
        } catch {
            document.failures.append(.invalidJSON(offset: error.offset, reason: error.reason))
            return document
        }
        // The format decides which members belong; an unreadable one is taken for the current format.
        let format = root.objectValue?.first { $0.key == "format" }?.value.stringValue
        document.namesKeys = format != AuditBundle.formatBeforeKeyRotation
        guard let top = document.members(of: root, at: "", expecting: ["format", "checkpoint", "entries"] + (document.namesKeys ? ["key_history"] : []),
                                         optional: ["consistency"]) else { return document }
        if let format = document.string(top["format"], at: "format"), format != AuditBundle.format,
           format != AuditBundle.formatBeforeKeyRotation {
            document.failures.append(.wrongFormat(found: format))
        }
        document.checkpoint = document.checkpoint(top["checkpoint"], at: "checkpoint")
        if let list = top["entries"] {
            if let items = list.arrayValue {
                document.entries = items.enumerated().map { document.entry($0.element, position: $0.offset) }
            } else {
                document.failures.append(.wrongType(path: "entries", expected: "a list"))
            }
        }
        if let value = top["consistency"], let members = document.members(of: value, at: "consistency", expecting: ["from", "proof"]) {
            document.consistency = ReadConsistency(
                from: document.checkpoint(members["from"], at: "consistency.from"),
                proof: document.hashes(members["proof"], at: "consistency.proof"))
        }
        if let value = top["key_history"] {
            document.keyHistory = document.endorsements(value, at: "key_history")
        }
        return document
    }

    /// A list of signing-key endorsements as the server serves them (`SignedRelease` envelopes).
    mutating func endorsements(_ value: JSONValue, at path: String) -> [SignedRelease]? {
        guard let items = value.arrayValue else {
            failures.append(.wrongType(path: path, expected: "a list"))
            return nil
        }
        var endorsements: [SignedRelease] = []
        var readable = true
        for (offset, item) in items.enumerated() {
            if let endorsement = endorsement(item, at: "\(path)[\(offset)]") { endorsements.append(endorsement) } else { readable = false }
        }
        return readable ? endorsements : nil
    }

    private mutating func endorsement(_ value: JSONValue, at path: String) -> SignedRelease? {
        guard let members = members(of: value, at: path, expecting: SignedRelease.jsonMembers) else { return nil }
        let keyID = string(members["key_id"], at: "\(path).key_id")
        let kindText = string(members["kind"], at: "\(path).kind")
        let kind = kindText.flatMap(SignedRelease.Kind.init(rawValue:))
        if let kindText, kind == nil {
            failures.append(.invalidKeyHistoryValue(path: "\(path).kind", reason: "\"\(kindText)\" is not a kind of signed envelope"))
        }
        let payload = base64(members["payload"], at: "\(path).payload")
        let signature = base64(members["signature"], at: "\(path).signature")
        let signedAtText = string(members["signed_at"], at: "\(path).signed_at")
        // One spelling only (the server's), so that no byte of the history can change unnoticed.
        let signedAt = signedAtText.flatMap(RFC3339.parse).flatMap { RFC3339.format($0) == signedAtText ? $0 : nil }
        if signedAtText != nil, signedAt == nil {
            failures.append(.invalidKeyHistoryValue(path: "\(path).signed_at", reason: "not an RFC 3339 UTC time with milliseconds"))
        }
        let version = count(members["version"], at: "\(path).version")
        guard let keyID, let kind, let payload, let signature, let signedAt, let version else { return nil }
        return SignedRelease.make(kind: kind, version: version, payload: payload, signature: signature, keyID: keyID, signedAt: signedAt)
    }

    private mutating func entry(_ value: JSONValue, position: Int) -> ReadEntry {
        let path = "entries[\(position)]"
        var entry = ReadEntry(position: position)
        guard let members = members(of: value, at: path, expecting: ["index", "entry", "inclusion_proof"]) else { return entry }
        entry.index = count(members["index"], at: "\(path).index")
        entry.entryBytes = string(members["entry"], at: "\(path).entry").map { Array($0.utf8) }
        entry.inclusionProof = hashes(members["inclusion_proof"], at: "\(path).inclusion_proof")
        return entry
    }

    private mutating func checkpoint(_ value: JSONValue?, at path: String) -> SignedAuditCheckpoint? {
        guard let value, let members = members(of: value, at: path, expecting: ["origin", "tree_size", "root_hash", "timestamp", "signature"],
                                               optional: namesKeys ? ["key_id"] : []) else { return nil }
        let origin = string(members["origin"], at: "\(path).origin")
        if let origin, !AuditCheckpoint.isValidOrigin(origin) {
            failures.append(.invalidCheckpointValue(path: "\(path).origin", reason: "a log name must be one word of printable characters"))
        }
        let treeSize = count(members["tree_size"], at: "\(path).tree_size")
        let rootHash = hash(members["root_hash"], at: "\(path).root_hash")
        let timestamp = string(members["timestamp"], at: "\(path).timestamp")
        if let timestamp, !AuditEntry.isUTCTimestamp(timestamp) {
            failures.append(.invalidCheckpointValue(path: "\(path).timestamp", reason: "not an RFC 3339 UTC time"))
        }
        let keyID = string(members["key_id"], at: "\(path).key_id")
        if let keyID, !AuditCheckpoint.isValidKeyID(keyID) {
            failures.append(.invalidCheckpointValue(path: "\(path).key_id", reason: "a key id is 16 lowercase hex digits"))
        }
        let signature = base64(members["signature"], at: "\(path).signature")
        guard let origin, let treeSize, let rootHash, let timestamp, let signature,
              let checkpoint = try? AuditCheckpoint(origin: origin, treeSize: treeSize, rootHash: rootHash, timestamp: timestamp, keyID: keyID)
        else { return nil }
        return SignedAuditCheckpoint(checkpoint: checkpoint, signature: signature)
    }

    /// The object's members by name, after noting any missing or unknown ones.
    mutating func members(of value: JSONValue, at path: String, expecting required: [String],
                                  optional: [String] = []) -> [String: JSONValue]? {
        guard let members = value.objectValue else {
            failures.append(.wrongType(path: path.isEmpty ? "the top level" : path, expected: "an object"))
            return nil
        }
        let prefix = path.isEmpty ? "" : "\(path)."
        var byName: [String: JSONValue] = [:]
        for member in members {
            if required.contains(member.key) || optional.contains(member.key) {
                byName[member.key] = member.value
            } else {
                failures.append(.unexpectedMember(path: "the member \"\(prefix)\(member.key)\""))
            }
        }
        for name in required where byName[name] == nil {
            failures.append(.missingMember(path: "\(prefix)\(name)"))
        }
        return byName
    }

    // A nil value was already reported missing by `members`, so the readers below stay quiet.

    private mutating func string(_ value: JSONValue?, at path: String) -> String? {
        guard let value else { return nil }
        guard let text = value.stringValue else {
            failures.append(.wrongType(path: path, expected: "a string"))
            return nil
        }
        return text
    }

    private mutating func count(_ value: JSONValue?, at path: String) -> Int? {
        guard let value else { return nil }
        guard let number = value.numberValue, let whole = Int(exactly: number), whole >= 0, whole <= AuditEntry.largestIndex else {
            failures.append(.wrongType(path: path, expected: "a whole number of at least 0"))
            return nil
        }
        return whole
    }

    private mutating func base64(_ value: JSONValue?, at path: String) -> [UInt8]? {
        guard let text = string(value, at: path) else { return nil }
        guard let bytes = StrictBase64.decode(text) else {
            failures.append(.badBase64(path: path))
            return nil
        }
        return bytes
    }

    private mutating func hash(_ value: JSONValue?, at path: String) -> MerkleHash? {
        guard let bytes = base64(value, at: path) else { return nil }
        guard let hash = MerkleHash(bytes: bytes) else {
            failures.append(.badHashLength(path: path, byteCount: bytes.count))
            return nil
        }
        return hash
    }

    private mutating func hashes(_ value: JSONValue?, at path: String) -> [MerkleHash]? {
        guard let value else { return nil }
        guard let items = value.arrayValue else {
            failures.append(.wrongType(path: path, expected: "a list"))
            return nil
        }
        var hashes: [MerkleHash] = []
        var readable = true
        for (offset, item) in items.enumerated() {
            if let hash = hash(item, at: "\(path)[\(offset)]") { hashes.append(hash) } else { readable = false }
        }
        return readable ? hashes : nil
    }
}
