import FeedbackWire
import Hummingbird
import ThresholdAPI

/// `/v1/thresholds/*`: engineers compute, approve, publish and roll back releases
/// (``ThresholdService``); kiosks and people pull the current one.
struct ThresholdRoutes: Sendable {
    let thresholds: ThresholdService
    let admin: AdminAuthenticator
    let kiosks: KioskAuthentication

    func register(on router: Router<FeedbackRequestContext>) {
        let engineer: Set<Role> = [.engineer]
        router.post("/v1/thresholds/releases") { request, _ in
            let caller = try await self.admin.require(request, roles: engineer)
            let body = try await JSONBody.decode(ComputeThresholdsRequest.self, from: request)
            return try JSONBody.response(try await self.thresholds.compute(body, by: caller), status: .created)
        }
        router.get("/v1/thresholds/releases") { request, _ in
            try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.thresholds.releases(), status: .ok)
        }
        router.get("/v1/thresholds/releases/:version") { request, context in
            try await self.admin.require(request, roles: engineer)
            let release = try await self.thresholds.release(try context.parameters.require("version"))
            return try JSONBody.response(ThresholdService.view(release), status: .ok)
        }
        router.post("/v1/thresholds/releases/:version/approve") { request, context in
            let caller = try await self.admin.require(request, roles: engineer)
            let release = try await self.thresholds.release(try context.parameters.require("version"))
            return try JSONBody.response(ThresholdService.view(try await self.thresholds.approve(release, by: caller)), status: .ok)
        }
        router.post("/v1/thresholds/releases/:version/publish") { request, context in
            let caller = try await self.admin.require(request, roles: engineer)
            let release = try await self.thresholds.release(try context.parameters.require("version"))
            return try JSONBody.response(ThresholdService.view(try await self.thresholds.publishApproved(release, by: caller)), status: .ok)
        }
        router.post("/v1/thresholds/releases/:version/rollback") { request, context in
            let caller = try await self.admin.require(request, roles: engineer)
            let release = try await self.thresholds.release(try context.parameters.require("version"))
            return try JSONBody.response(ThresholdService.view(try await self.thresholds.rollBack(to: release, by: caller)), status: .ok)
        }
        router.get("/v1/thresholds/current") { request, context in
            try await self.kiosks.requireKioskOrToken(request, context: context)
            return JSONBody.response(bytes: try await self.thresholds.currentEnvelope())
        }
        router.get("/v1/thresholds/drift") { request, _ in
            try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.thresholds.drift(), status: .ok)
        }
    }
}
