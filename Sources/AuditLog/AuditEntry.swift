import FeedbackWire
import Foundation
import StrictJSON

/// One event in the audit log, and the exact bytes that are hashed into the tree.
///
/// The canonical form is compact JSON with members in this fixed order:
/// `{"index":7,"time":"2026-11-26T15:46:32.123Z","kind":"erasure","actor":"system","details":{…}}`.
/// A leaf is `entryBytes`, never a re-encoding, so a verifier hashes what it was handed.
///
/// `details` must carry pseudonyms only (the subject's pseudonymous id, a device's enrollment
/// id, a release version) and never a raw identifier or biometric data: the log is append-only
/// and shown to reviewers, so nothing in it can later be erased.
public struct AuditEntry: Sendable, Equatable {
    /// What happened. The raw values are the `kind` strings in the log.
    public enum Kind: String, Sendable, CaseIterable {
        case consentEvent = "consent_event"
        case erasure
        case deviceEnrolled = "device_enrolled"
        case deviceRevoked = "device_revoked"
        case releaseApproved = "release_approved"
        case releasePublished = "release_published"
        case roleGranted = "role_granted"
        case roleRevoked = "role_revoked"
        case retentionSweep = "retention_sweep"
        case subjectRequest = "subject_request"
        case jurisdictionChanged = "jurisdiction_changed"
        case siteChanged = "site_changed"
        case retentionChanged = "retention_changed"
        case consentTextAdded = "consent_text_added"
        case modelRollout = "model_rollout"
        case deviceMoved = "device_moved"
        case deviceCertificateRenewed = "device_certificate_renewed"
        case pseudonymKeyRotated = "pseudonym_key_rotated"
        case pseudonymsRekeyed = "pseudonyms_rekeyed"
        case keyRotated = "key_rotated"
    }

    /// 0-based position in the log; equals the leaf index.
    public let index: Int
    /// RFC 3339 UTC time, kept as the logged text so the bytes re-encode identically.
    public let time: String
    public let kind: Kind
    /// Who caused the event, e.g. `device:kiosk-1`, `token:erin (compliance)`, `system`.
    public let actor: String
    /// Event-specific facts, as ordered JSON object members.
    public let details: [(key: String, value: JSONValue)]

    public init(index: Int, time: String, kind: Kind, actor: String,
                details: [(key: String, value: JSONValue)] = []) throws(AuditEntryError) {
        guard index >= 0, index <= Self.largestIndex else { throw .indexOutOfRange(index) }
        guard Self.isUTCTimestamp(time) else { throw .invalidTime(time) }
        guard !actor.isEmpty, !actor.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidActor(actor)
        }
        var seen = Set<String>()
        for member in details where !seen.insert(member.key).inserted { throw .duplicateDetail(member.key) }
        self.index = index
        self.time = time
        self.kind = kind
        self.actor = actor
        self.details = details
    }

    public init(index: Int, time: Date, kind: Kind, actor: String,
                details: [(key: String, value: JSONValue)] = []) throws(AuditEntryError) {
        try self.init(index: index, time: RFC3339.format(time), kind: kind, actor: actor, details: details)
    }

    /// Reads an entry back from its leaf bytes. Only the canonical form is accepted: bytes that
    /// decode but would re-encode differently would hash differently from the entry they show.
    public init(entryBytes: [UInt8]) throws(AuditEntryError) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(entryBytes)
        } catch {
            throw .notJSON(error)
        }
        guard let members = value.objectValue else { throw .notAnObject }
        let names = members.map(\.key)
        guard names == Self.memberOrder else { throw .wrongMembers(names) }
        guard let number = value["index"]?.numberValue, let index = Int(exactly: number) else {
            throw .wrongType(member: "index", expected: "a whole number")
        }
        guard let time = value["time"]?.stringValue else { throw .wrongType(member: "time", expected: "a string") }
        guard let kindText = value["kind"]?.stringValue else { throw .wrongType(member: "kind", expected: "a string") }
        guard let kind = Kind(rawValue: kindText) else { throw .unknownKind(kindText) }
        guard let actor = value["actor"]?.stringValue else { throw .wrongType(member: "actor", expected: "a string") }
        guard let details = value["details"]?.objectValue else { throw .wrongType(member: "details", expected: "an object") }
        try self.init(index: index, time: time, kind: kind, actor: actor, details: details)
        guard self.entryBytes == entryBytes else { throw .notCanonical }
    }

    /// The leaf: the canonical compact JSON bytes.
    public var entryBytes: [UInt8] {
        JSONValue.object([
            ("index", .number(Double(index))),
            ("time", .string(time)),
            ("kind", .string(kind.rawValue)),
            ("actor", .string(actor)),
            ("details", .object(details)),
        ]).serialized()
    }

    public var leafHash: MerkleHash { MerkleTree.leafHash(entryBytes) }

    public static func == (lhs: AuditEntry, rhs: AuditEntry) -> Bool {
        lhs.entryBytes == rhs.entryBytes
    }

    static let memberOrder = ["index", "time", "kind", "actor", "details"]

    /// JSON numbers are doubles; beyond 2^53 an index would no longer be exact.
    static let largestIndex = 1 << 53

    static func isUTCTimestamp(_ text: String) -> Bool {
        text.hasSuffix("Z") && RFC3339.parse(text) != nil
    }
}

/// An entry whose index is not known yet, checked as `AuditEntry` checks it. Everything after
/// the index is written once, here; `entryBytes(index:)` puts the index in front, giving the
/// bytes `AuditEntry` would. A store numbers entries as it appends them, on its one writer,
/// where writing each whole entry was a third of recording a kiosk's consent event.
public struct UnnumberedAuditEntry: Sendable {
    /// The canonical bytes after the index's value: `,"time":…}`.
    private let afterIndex: [UInt8]

    public init(time: Date, kind: AuditEntry.Kind, actor: String,
                details: [(key: String, value: JSONValue)] = []) throws(AuditEntryError) {
        let numberedZero = try AuditEntry(index: 0, time: time, kind: kind, actor: actor, details: details).entryBytes
        afterIndex = Array(numberedZero.dropFirst(Self.opening(index: 0).count))
    }

    public func entryBytes(index: Int) throws(AuditEntryError) -> [UInt8] {
        guard index >= 0, index <= AuditEntry.largestIndex else { throw .indexOutOfRange(index) }
        return Self.opening(index: index) + afterIndex
    }

    /// `{"index":` and the index as `entryBytes` writes it.
    private static func opening(index: Int) -> [UInt8] {
        Array(#"{"index":"#.utf8) + JSONValue.number(Double(index)).serialized()
    }
}

/// Why an audit entry cannot be made or read.
public enum AuditEntryError: Error, Sendable, Equatable, CustomStringConvertible {
    case indexOutOfRange(Int)
    case invalidTime(String)
    case invalidActor(String)
    case duplicateDetail(String)
    case notJSON(JSONSyntaxError)
    case notAnObject
    case wrongMembers([String])
    case wrongType(member: String, expected: String)
    case unknownKind(String)
    case notCanonical

    public var description: String {
        switch self {
        case let .indexOutOfRange(index): return "the entry number \(index) is negative or too large"
        case let .invalidTime(time): return "the time \"\(time)\" is not an RFC 3339 UTC time such as 2026-11-26T15:46:32.123Z"
        case let .invalidActor(actor): return "the actor \"\(actor)\" is empty or contains control characters"
        case let .duplicateDetail(key): return "the detail \"\(key)\" is given twice"
        case let .notJSON(error): return "the entry is not valid JSON (\(error))"
        case .notAnObject: return "the entry is not a JSON object"
        case let .wrongMembers(names):
            return "the entry has the members \(names.joined(separator: ", ")) instead of index, time, kind, actor, details in that order"
        case let .wrongType(member, expected): return "the entry's \(member) is not \(expected)"
        case let .unknownKind(kind): return "the entry kind \"\(kind)\" is not one the log records"
        case .notCanonical: return "the entry bytes are not in the log's canonical form (spacing or number format differs)"
        }
    }
}
