import Foundation
import StrictJSON

/// A subject's consent decision for one purpose, recorded at a kiosk and uploaded in a
/// signed batch. Purposes are never bundled: one event speaks for exactly one purpose. Its
/// JSON has one writer, ``json`` (and ``encoded()``).
public struct ConsentEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case grant, withdraw, limit, reconsent
    }

    public enum Method: String, Sendable, CaseIterable, Codable {
        case touch
        case eSignature = "e_signature"
        case paper
        case operatorEntry = "operator"
    }

    public var eventID: UUID
    public var occurredAt: Date
    /// HMAC-SHA256 of the normalised subject id under the jurisdiction key; never the raw id.
    public var pseudonym: String
    public var purpose: String
    public var kind: Kind
    public var method: Method
    public var site: String
    /// The consent text the subject saw, by version and by the SHA-256 of its exact bytes.
    public var textVersion: String
    public var textSHA256: String
    /// The version of the jurisdiction key the pseudonym was made with; 1, and absent from the
    /// JSON, for kiosks that predate key rotation.
    public var keyVersion: Int

    public init(eventID: UUID, occurredAt: Date, pseudonym: String, purpose: String, kind: Kind, method: Method,
                site: String, textVersion: String, textSHA256: String, keyVersion: Int = 1) {
        self.eventID = eventID
        self.occurredAt = occurredAt
        self.pseudonym = pseudonym
        self.purpose = purpose
        self.kind = kind
        self.method = method
        self.site = site
        self.textVersion = textVersion
        self.textSHA256 = textSHA256
        self.keyVersion = keyVersion
    }
}

extension ConsentEvent {
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("event_id", .string(eventID.uuidString.lowercased())),
            ("occurred_at", .string(RFC3339.format(occurredAt))),
            ("subject_pseudonym", .string(pseudonym)),
            ("purpose", .string(purpose)),
            ("kind", .string(kind.rawValue)),
            ("method", .string(method.rawValue)),
            ("site", .string(site)),
            ("text_version", .string(textVersion)),
            ("text_sha256", .string(textSHA256)),
        ]
        // Version 1 is left out, so an event of a kiosk that predates key rotation keeps its bytes.
        if keyVersion != 1 { members.append(("key_version", .number(Double(keyVersion)))) }
        return .object(members)
    }

    /// The event's bytes, as queued on the kiosk and carried inside a batch.
    public func encoded() -> [UInt8] { json.serialized() }

    public init(validated json: JSONValue) throws(WireDecodingError) {
        func string(_ key: String) throws(WireDecodingError) -> String {
            guard let value = json[key]?.stringValue else { throw WireDecodingError(field: key) }
            return value
        }
        guard let eventID = UUIDText.parse(try string("event_id")) else { throw WireDecodingError(field: "event_id") }
        guard let occurredAt = RFC3339.parse(try string("occurred_at")) else { throw WireDecodingError(field: "occurred_at") }
        guard let kind = Kind(rawValue: try string("kind")) else { throw WireDecodingError(field: "kind") }
        guard let method = Method(rawValue: try string("method")) else { throw WireDecodingError(field: "method") }
        self.init(eventID: eventID, occurredAt: occurredAt, pseudonym: try string("subject_pseudonym"),
                  purpose: try string("purpose"), kind: kind, method: method, site: try string("site"),
                  textVersion: try string("text_version"), textSHA256: try string("text_sha256"),
                  keyVersion: json["key_version"]?.numberValue.map { Int($0) } ?? 1)
    }
}
