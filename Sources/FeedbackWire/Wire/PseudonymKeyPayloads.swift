import Foundation

/// A jurisdiction's pseudonymisation key as a kiosk fetches it (`GET /v1/kiosk/pseudonym-key`):
/// the current version, or an older one the kiosk names to re-key what it recorded under it.
public struct KioskPseudonymKey: Codable, Sendable, Equatable {
    public var site: String
    public var jurisdiction: String
    /// The key's version; a pseudonym made with it names it (`key_version`).
    public var version: Int
    /// Base64 of the jurisdiction's HMAC key.
    public var key: String

    public init(site: String, jurisdiction: String, version: Int, key: String) {
        self.site = site
        self.jurisdiction = jurisdiction
        self.version = version
        self.key = key
    }
}

/// A new version of a jurisdiction's key, as the administrator who rotated it sees it: never the key.
public struct PseudonymKeyRotation: Codable, Sendable, Equatable {
    public var jurisdiction: String
    public var version: Int
    public var createdAt: Date

    public init(jurisdiction: String, version: Int, createdAt: Date) {
        self.jurisdiction = jurisdiction
        self.version = version
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey { case jurisdiction, version, createdAt = "created_at" }
}

/// A kiosk's re-keying (`POST /v1/kiosk/pseudonym-rekeys`): each pair is one subject's
/// pseudonym under `from_version` and under `to_version`, computed on the kiosk from the raw
/// id, which never leaves it.
public struct PseudonymRekeyRequest: Codable, Sendable, Equatable {
    public struct Pair: Codable, Sendable, Equatable {
        public var from: String
        public var to: String

        public init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    /// Pairs a request may carry; the agent sends more in several requests.
    public static let maximumPairs = 500

    public var jurisdiction: String
    public var fromVersion: Int
    public var toVersion: Int
    public var pairs: [Pair]

    public init(jurisdiction: String, fromVersion: Int, toVersion: Int, pairs: [Pair]) {
        self.jurisdiction = jurisdiction
        self.fromVersion = fromVersion
        self.toVersion = toVersion
        self.pairs = pairs
    }

    enum CodingKeys: String, CodingKey { case jurisdiction, fromVersion = "from_version", toVersion = "to_version", pairs }
}

/// What a re-keying rewrote on the server, row counts per table.
public struct PseudonymRekeyAnswer: Codable, Sendable, Equatable {
    public var jurisdiction: String
    public var fromVersion: Int
    public var toVersion: Int
    public var pairs: Int
    public var consentEvents: Int
    public var outcomes: Int
    public var erasures: Int
    public var subjectRequests: Int

    public init(jurisdiction: String, fromVersion: Int, toVersion: Int, pairs: Int, consentEvents: Int, outcomes: Int,
                erasures: Int, subjectRequests: Int) {
        self.jurisdiction = jurisdiction
        self.fromVersion = fromVersion
        self.toVersion = toVersion
        self.pairs = pairs
        self.consentEvents = consentEvents
        self.outcomes = outcomes
        self.erasures = erasures
        self.subjectRequests = subjectRequests
    }

    enum CodingKeys: String, CodingKey {
        case jurisdiction, fromVersion = "from_version", toVersion = "to_version", pairs, consentEvents = "consent_events", outcomes
        case erasures, subjectRequests = "subject_requests"
    }
}
