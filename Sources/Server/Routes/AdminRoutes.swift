import Feedback
import Foundation
import Hummingbird
import Storage

/// Checks `Authorization: Bearer <token>` against the stored token hashes.
struct AdminAuthenticator: Sendable {
    let store: any FeedbackStore

    func requireAdmin(_ request: Request) async throws {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw ProblemResponse(.unauthorized, "send Authorization: Bearer <admin token>")
        }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard try await store.apiTokenRole(sha256: APIToken.sha256(token)) == "admin" else {
            throw ProblemResponse(.unauthorized, "the token is not an admin token")
        }
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
            try await self.admin.requireAdmin(request)
            let id = try context.parameters.require("deviceID")
            guard try await self.store.revokeDevice(id: id, at: self.now()) else {
                throw ProblemResponse(.notFound, "no device \(id)")
            }
            context.logger.notice("device revoked", metadata: ["device": "\(id)"])
            guard let summary = try await self.store.deviceSummaries().first(where: { $0.deviceID == id }) else {
                throw ProblemResponse(.notFound, "no device \(id)")
            }
            return try JSONBody.response(summary, status: .ok)
        }
        router.get("/v1/admin/outcomes/stats") { request, _ in
            try await self.admin.requireAdmin(request)
            return try JSONBody.response(try await self.store.outcomeStats(), status: .ok)
        }
    }
}
