import FeedbackWire
import Hummingbird
import ThresholdAPI

/// Device listing, moves between sites and revocation, tokens, and outcome counts, for
/// administrators and engineers.
struct AdminRoutes: Sendable {
    let fleet: FleetService
    let tokens: TokenService
    let admin: AdminAuthenticator

    func register(on router: Router<FeedbackRequestContext>) {
        router.get("/v1/admin/devices") { request, _ in
            try await self.admin.requireAdmin(request)
            return try JSONBody.response(try await self.fleet.devices(), status: .ok)
        }
        router.post("/v1/admin/devices/:deviceID/revoke") { request, context in
            let caller = try await self.admin.requireAdmin(request)
            let id = try context.parameters.require("deviceID")
            let summary = try await self.fleet.revokeDevice(id: id, by: caller)
            context.logger.notice("device revoked", metadata: ["device": "\(id)"])
            return try JSONBody.response(summary, status: .ok)
        }
        router.post("/v1/admin/devices/:deviceID/move") { request, context in
            let caller = try await self.admin.requireAdmin(request)
            let id = try context.parameters.require("deviceID")
            let body = try await JSONBody.decode(DeviceMoveRequest.self, from: request)
            let summary = try await self.fleet.moveDevice(id: id, body, by: caller)
            context.logger.notice("device moved", metadata: ["device": "\(id)", "sites": "\(summary.sites.joined(separator: ","))"])
            return try JSONBody.response(summary, status: .ok)
        }
        router.post("/v1/admin/tokens") { request, _ in
            let caller = try await self.admin.requireAdmin(request)
            let body = try await JSONBody.decode(APITokenRequest.self, from: request)
            return try JSONBody.response(try await self.tokens.grant(body, by: caller), status: .created)
        }
        router.get("/v1/admin/tokens") { request, _ in
            try await self.admin.requireAdmin(request)
            return try JSONBody.response(try await self.tokens.tokens(), status: .ok)
        }
        router.post("/v1/admin/tokens/:id/revoke") { request, context in
            let caller = try await self.admin.requireAdmin(request)
            let revoked = try await self.tokens.revoke(id: try context.parameters.require("id"), by: caller)
            return try JSONBody.response(revoked, status: .ok)
        }
        router.get("/v1/admin/outcomes/stats") { request, _ in
            try await self.admin.require(request, roles: [.engineer])
            return try JSONBody.response(try await self.fleet.outcomeStats(), status: .ok)
        }
    }
}
