import Feedback
import Foundation
import Hummingbird
import Storage
import ThresholdAPI

/// Checks `Authorization: Bearer <token>` against the stored token hashes. Roles: `admin`
/// may do everything; `engineer` works on thresholds, rounds and models; `compliance`
/// reviews consent, erasures, requests and the audit log. Kiosks use certificates, not tokens.
struct AdminAuthenticator: Sendable {
    static let roles: Set<String> = ["admin", "engineer", "compliance"]
    let store: any FeedbackStore

    /// The caller's token, if it has one of `roles` (admin always qualifies).
    @discardableResult
    func require(_ request: Request, roles: Set<String>) async throws -> APITokenRecord {
        guard let record = try await bearer(request) else {
            throw ProblemResponse(.unauthorized, "send Authorization: Bearer <token>")
        }
        guard Self.permits(role: record.role, roles) else {
            throw ProblemResponse(.forbidden, "a \(record.role) token may not do this; it needs \(roles.sorted().joined(separator: " or "))")
        }
        return record
    }

    /// Whether a token of `role` may do what `roles` may: admin may do everything.
    static func permits(role: String, _ roles: Set<String>) -> Bool {
        role == "admin" || roles.contains(role)
    }

    @discardableResult
    func requireAdmin(_ request: Request) async throws -> APITokenRecord {
        try await require(request, roles: ["admin"])
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

/// Device listing and revocation, and outcome counts, for administrators and engineers.
struct AdminRoutes: Sendable {
    let store: any FeedbackStore
    let admin: AdminAuthenticator
    let now: @Sendable () -> Date

    func register(on router: Router<FeedbackRequestContext>) {
        router.get("/v1/admin/devices") { request, _ in
            try await self.admin.requireAdmin(request)
            return try JSONBody.response(DeviceList(devices: try await self.store.deviceSummaries()), status: .ok)
        }
        router.post("/v1/admin/devices/:deviceID/revoke") { request, context in
            let caller = try await self.admin.requireAdmin(request)
            let id = try context.parameters.require("deviceID")
            guard try await self.store.revokeDevice(id: id, at: self.now(), actor: caller.actor) else {
                throw ProblemResponse(.notFound, "no device \(id)")
            }
            context.logger.notice("device revoked", metadata: ["device": "\(id)"])
            guard let summary = try await self.store.deviceSummaries().first(where: { $0.deviceID == id }) else {
                throw ProblemResponse(.notFound, "no device \(id)")
            }
            return try JSONBody.response(summary, status: .ok)
        }
        router.post("/v1/admin/tokens") { request, _ in
            let caller = try await self.admin.requireAdmin(request)
            let body = try await JSONBody.decode(APITokenRequest.self, from: request)
            guard AdminAuthenticator.roles.contains(body.role) else {
                throw ProblemResponse(.invalidRequest, "role must be admin, engineer or compliance")
            }
            guard (1...64).contains(body.label.count), body.label.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@ ".contains($0) }) else {
                throw ProblemResponse(.invalidRequest, "label must be 1 to 64 letters, digits, spaces or -_.@")
            }
            let token = APIToken.generate()
            try await self.store.addAPIToken(sha256: APIToken.sha256(token), role: body.role, label: body.label, at: self.now(),
                                             actor: caller.actor)
            return try JSONBody.response(APITokenGrant(role: body.role, label: body.label, token: token), status: .created)
        }
        router.get("/v1/admin/tokens") { request, _ in
            try await self.admin.requireAdmin(request)
            return try JSONBody.response(try await self.store.apiTokens(), status: .ok)
        }
        router.post("/v1/admin/tokens/:id/revoke") { request, context in
            let caller = try await self.admin.requireAdmin(request)
            let id = try context.parameters.require("id")
            guard try await self.store.revokeAPIToken(id: id, at: self.now(), actor: caller.actor) else {
                throw ProblemResponse(.notFound, "no active token with id \(id)")
            }
            return try JSONBody.response(try await self.store.apiTokens().first { $0.id == id.lowercased() }, status: .ok)
        }
        router.get("/v1/admin/outcomes/stats") { request, _ in
            try await self.admin.require(request, roles: ["engineer"])
            return try JSONBody.response(try await self.store.outcomeStats(), status: .ok)
        }
    }
}
