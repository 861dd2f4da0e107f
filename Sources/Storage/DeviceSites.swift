import Foundation

/// Why a kiosk cannot be bound to the sites asked for.
public enum SiteBindingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Sites nobody registered (`faceloop compliance site`), sorted.
    case unknownSites([String])

    public var description: String {
        switch self {
        case let .unknownSites(sites):
            "no site \(sites.joined(separator: ", ")) is registered; register it first (faceloop compliance site SITE --jurisdiction J)"
        }
    }
}

/// Binding kiosks to their sites, as the stores apply it inside their transactions: at
/// enrollment (the token's sites) and when an admin moves a kiosk.
enum DeviceSiteBinding {
    /// The sites to bind, each once and sorted; throws when any is not among `registered`
    /// (`StoreSQL.registeredSites`).
    static func checked(_ sites: [String], registered: [String]) throws -> [String] {
        let unknown = Set(sites).subtracting(registered).sorted()
        guard unknown.isEmpty else { throw SiteBindingError.unknownSites(unknown) }
        return Set(sites).sorted()
    }

    /// The device's sites replaced, and the `device_moved` entry that records it.
    static func move(deviceID: String, from: [String], to sites: [String], actor: String, at time: Date, sql: StoreSQL) throws -> StoreChange {
        StoreChange(sql.bindDevice(deviceID, to: sites),
                    audit: [try PendingAuditEntry(.deviceMoved, actor: actor,
                                                  details: StoreAuditDetails.deviceMoved(deviceID, from: from, to: sites), at: time)])
    }
}
