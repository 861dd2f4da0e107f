import AuditLog
import Compliance
import FeedbackWire
import Foundation
import StrictJSON

/// One version of a jurisdiction's pseudonymisation key. The current key is the highest
/// version; older ones are kept so that a kiosk can re-key what it recorded under them.
public struct JurisdictionKey: Sendable, Equatable {
    public var jurisdiction: String
    public var version: Int
    public var key: [UInt8]
    public var createdAt: Date

    public init(jurisdiction: String, version: Int, key: [UInt8], createdAt: Date) {
        self.jurisdiction = jurisdiction
        self.version = version
        self.key = key
        self.createdAt = createdAt
    }
}

/// How many stored rows a re-keying rewrote, per table.
public struct PseudonymRekeyResult: Sendable, Equatable, Codable {
    public var pairs: Int
    public var consentEvents: Int
    public var outcomes: Int
    public var erasures: Int
    public var subjectRequests: Int

    public init(pairs: Int, consentEvents: Int = 0, outcomes: Int = 0, erasures: Int = 0, subjectRequests: Int = 0) {
        self.pairs = pairs
        self.consentEvents = consentEvents
        self.outcomes = outcomes
        self.erasures = erasures
        self.subjectRequests = subjectRequests
    }

    enum CodingKeys: String, CodingKey {
        case pairs, consentEvents = "consent_events", outcomes, erasures, subjectRequests = "subject_requests"
    }
}

/// The current key version of the jurisdiction of each site a batch names, read in the
/// batch's transaction: an event whose pseudonym names a version its site's jurisdiction does
/// not have is refused, and nothing of it is stored.
struct KeyVersions {
    static let refusalReason = "unknown-key-version"

    private var bySite: [String: Int] = [:]
    /// The default jurisdiction's, for sites nobody registered.
    private var unregistered = 1

    /// Rows of `StoreSQL.currentKeyVersions`.
    init(rows: [some StoreRow]) throws {
        for row in rows {
            let version = try row.optionalInteger("version") ?? 1
            if let site = try row.optionalText("site") { bySite[site] = version } else { unregistered = version }
        }
    }

    func refusal(eventID: UUID, site: String, version: Int) -> BatchReceipt.RefusedEvent? {
        let current = bySite[site] ?? unregistered
        guard version < 1 || version > current else { return nil }
        return .init(eventID: eventID, reason: Self.refusalReason,
                     detail: "the pseudonym names key version \(version); the jurisdiction of \(site) has versions 1 to \(current)")
    }
}

// MARK: Statements

extension StoreSQL {
    /// The jurisdiction a row's site belongs to: sites nobody registered belong to `default`.
    private func jurisdiction(ofSiteColumn column: String) -> String {
        "COALESCE((SELECT s.jurisdiction FROM sites s WHERE s.site = \(column)), '\(JurisdictionRecord.defaultName)')"
    }

    /// Jurisdictions with their current key and its version.
    static let jurisdictionsWithCurrentKey = """
        SELECT j.name, j.data_region, j.biometric_law, j.request_days, k.pseudonym_key, k.version AS key_version
        FROM jurisdictions j JOIN jurisdiction_keys k ON k.jurisdiction = j.name
         AND k.version = (SELECT MAX(c.version) FROM jurisdiction_keys c WHERE c.jurisdiction = j.name)
        """

    /// A new jurisdiction's first key; nothing for one that has keys.
    func insertFirstJurisdictionKey(jurisdiction: String, key: [UInt8], at time: Date) -> StoreStatement {
        StoreStatement("""
            INSERT INTO jurisdiction_keys (jurisdiction, version, pseudonym_key, created_at) VALUES (?, 1, ?, ?)
            ON CONFLICT DO NOTHING
            """, jurisdiction, key, time)
    }

    func jurisdictionKey(jurisdiction: String, version: Int) -> StoreStatement {
        StoreStatement("SELECT * FROM jurisdiction_keys WHERE jurisdiction = ? AND version = ?", jurisdiction, version)
    }

    /// The jurisdiction's row, locked so that two rotations on two nodes number their versions one after the other.
    func lockJurisdiction(name: String) -> StoreStatement {
        StoreStatement("SELECT name FROM jurisdictions WHERE name = ?\(forUpdate)", name)
    }

    func currentKeyVersion(jurisdiction: String) -> StoreStatement {
        StoreStatement("SELECT MAX(version) FROM jurisdiction_keys WHERE jurisdiction = ?", jurisdiction)
    }

    func insertJurisdictionKey(_ key: JurisdictionKey) -> StoreStatement {
        StoreStatement("INSERT INTO jurisdiction_keys (jurisdiction, version, pseudonym_key, created_at) VALUES (?, ?, ?, ?)",
                       key.jurisdiction, key.version, key.key, key.createdAt)
    }

    /// One row per registered site among `sites` with its jurisdiction's current version, and
    /// one with a NULL site for the default jurisdiction (sites nobody registered).
    func currentKeyVersions(sites: [String]) -> StoreStatement {
        StoreStatement("""
            SELECT s.site AS site, MAX(k.version) AS version FROM sites s JOIN jurisdiction_keys k ON k.jurisdiction = s.jurisdiction
            WHERE \(inList("s.site")) GROUP BY s.site
            UNION ALL
            SELECT NULL AS site, MAX(version) AS version FROM jurisdiction_keys WHERE jurisdiction = ?
            """, SQLArgument.textList(sites), JurisdictionRecord.defaultName)
    }

    /// The statements that move one subject's stored pseudonym from `pair.from` to `pair.to`
    /// within a jurisdiction, in the order they must run: erasures first, while the consent
    /// events and outcomes that show the old pseudonym belongs to this jurisdiction are still
    /// unchanged. Rows stored before key versions (NULL) are version 1.
    func rekey(_ pair: PseudonymRekeyRequest.Pair, in rekey: PseudonymRekeyRequest) -> [StoreStatement] {
        let jurisdiction = rekey.jurisdiction
        let from = rekey.fromVersion
        let ofJurisdiction = { (alias: String) in
            "\(alias).subject_pseudonym = ? AND COALESCE(\(alias).key_version, 1) = ? AND \(self.jurisdiction(ofSiteColumn: alias + ".site")) = ?"
        }
        return [
            StoreStatement("""
                UPDATE erasures SET subject_pseudonym = ? WHERE subject_pseudonym = ?
                AND (EXISTS (SELECT 1 FROM consent_events c WHERE \(ofJurisdiction("c")))
                  OR EXISTS (SELECT 1 FROM outcomes o WHERE \(ofJurisdiction("o")))
                  OR EXISTS (SELECT 1 FROM subject_requests r WHERE r.subject_pseudonym = ? AND r.jurisdiction = ?))
                """, pair.to, pair.from, pair.from, from, jurisdiction, pair.from, from, jurisdiction, pair.from, jurisdiction),
            StoreStatement("UPDATE subject_requests SET subject_pseudonym = ? WHERE subject_pseudonym = ? AND jurisdiction = ?",
                           pair.to, pair.from, jurisdiction),
            StoreStatement("""
                UPDATE consent_events SET subject_pseudonym = ?, key_version = ?
                WHERE subject_pseudonym = ? AND COALESCE(key_version, 1) = ? AND \(self.jurisdiction(ofSiteColumn: "consent_events.site")) = ?
                """, pair.to, rekey.toVersion, pair.from, from, jurisdiction),
            StoreStatement("""
                UPDATE outcomes SET subject_pseudonym = ?, key_version = ?
                WHERE subject_pseudonym = ? AND COALESCE(key_version, 1) = ? AND \(self.jurisdiction(ofSiteColumn: "outcomes.site")) = ?
                """, pair.to, rekey.toVersion, pair.from, from, jurisdiction),
        ]
    }
}

extension PseudonymRekeyResult {
    /// Adds the rows each of `StoreSQL.rekey`'s statements changed, in their order.
    mutating func add(changes: [Int]) {
        guard changes.count == 4 else { return }
        erasures += changes[0]
        subjectRequests += changes[1]
        consentEvents += changes[2]
        outcomes += changes[3]
    }
}

// MARK: Audit

extension StoreAuditDetails {
    /// The jurisdiction and its new version; never the key.
    static func pseudonymKeyRotated(jurisdiction: String, version: Int) -> JSONValue {
        .object([("jurisdiction", .string(jurisdiction)), ("version", .number(Double(version)))])
    }

    /// What a kiosk re-keyed and how many rows changed; never a pseudonym, so the entry links
    /// no old pseudonym to a new one for anyone who reads the log.
    static func pseudonymsRekeyed(_ rekey: PseudonymRekeyRequest, deviceID: String, result: PseudonymRekeyResult) -> JSONValue {
        .object([
            ("jurisdiction", .string(rekey.jurisdiction)), ("from_version", .number(Double(rekey.fromVersion))),
            ("to_version", .number(Double(rekey.toVersion))), ("device_id", .string(deviceID)),
            ("pairs", .number(Double(result.pairs))), ("consent_events", .number(Double(result.consentEvents))),
            ("outcomes", .number(Double(result.outcomes))), ("erasures", .number(Double(result.erasures))),
            ("subject_requests", .number(Double(result.subjectRequests))),
        ])
    }
}

extension StoreRows {
    static func jurisdictionKey(_ row: some StoreRow) throws -> JurisdictionKey {
        JurisdictionKey(jurisdiction: try row.text("jurisdiction"), version: try row.integer("version"),
                        key: try row.bytes("pseudonym_key"), createdAt: try row.date("created_at"))
    }
}
