import FeedbackWire
import Foundation
import Hummingbird
import Storage

/// Checks `Authorization: Bearer <token>` against the stored token hashes. Roles: `admin`
/// may do everything; `engineer` works on thresholds, rounds and models; `compliance`
/// reviews consent, erasures, requests and the audit log. Kiosks use certificates, not tokens.
struct AdminAuthenticator: Sendable {
    let store: any FeedbackStore

    /// The caller's token, if it has one of `roles` (admin always qualifies).
    @discardableResult
    func require(_ request: Request, roles: Set<Role>) async throws -> APITokenRecord {
        guard let record = try await bearer(request) else {
            throw ProblemResponse(.unauthorized, "send Authorization: Bearer <token>")
        }
        guard record.may(roles) else {
            throw ProblemResponse(.forbidden, "a \(record.role) token may not do this; it needs \(roles.map(\.rawValue).sorted().joined(separator: " or "))")
        }
        return record
    }

    @discardableResult
    func requireAdmin(_ request: Request) async throws -> APITokenRecord {
        try await require(request, roles: [.admin])
    }

    /// The token's record, nil when the request carries no valid token.
    func bearer(_ request: Request) async throws -> APITokenRecord? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let record = try await store.apiToken(sha256: APIToken.sha256(token)) else {
            throw ProblemResponse(.unauthorized, "the token is not valid")
        }
        return record
    }
}
