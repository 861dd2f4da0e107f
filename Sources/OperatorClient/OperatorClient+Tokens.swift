import FeedbackWire
import Foundation
import NIOHTTP1

/// A bearer token as `GET /v1/admin/tokens` lists it (`APITokenSummary` in
/// schemas/openapi.yaml): never the token, only its id, the first 16 hex digits of its SHA-256.
public struct APITokenListEntry: Sendable, Codable, Equatable {
    public var id: String
    public var role: String
    public var label: String
    public var createdAt: Date
    public var revokedAt: Date?

    enum CodingKeys: String, CodingKey { case id, role, label, createdAt = "created_at", revokedAt = "revoked_at" }
}

extension OperatorClient {
    public func tokens() async throws -> [APITokenListEntry] {
        try await call(.GET, "/v1/admin/tokens", body: Optional<EnrollmentTokenRequest>.none)
    }
}
