import Foundation

/// A token as `GET /v1/admin/tokens` lists it (`APITokenSummary` in schemas/openapi.yaml):
/// never the token, only the first 16 hex digits of its SHA-256 as its id.
public struct APITokenSummary: Sendable, Equatable, Codable {
    public var id: String
    public var role: String
    public var label: String
    public var createdAt: Date
    public var revokedAt: Date?

    public init(id: String, role: String, label: String, createdAt: Date, revokedAt: Date?) {
        self.id = id
        self.role = role
        self.label = label
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    enum CodingKeys: String, CodingKey { case id, role, label, createdAt = "created_at", revokedAt = "revoked_at" }
}
