import FederationAPI
import FeedbackWire
import Hummingbird

/// Signed model releases and their rollout. Engineers and compliance officers (for the privacy
/// report) list and inspect releases; engineers move a release through shadow, canary and
/// fleet, compare it with the current model and roll it back; kiosks (and people) download
/// releases and verify them with the release key, and ask which model decides for them.
struct ModelRoutes: Sendable {
    let models: ModelReleaseService
    let rollouts: ModelRolloutService
    let admin: AdminAuthenticator
    let kiosks: KioskAuthentication

    func register(on router: Router<FeedbackRequestContext>) {
        let reviewers: Set<Role> = [.engineer, .compliance]
        let engineer: Set<Role> = [.engineer]
        router.get("/v1/models/releases") { request, _ in
            try await self.admin.require(request, roles: reviewers)
            return try JSONBody.response(try await self.models.releases(), status: .ok)
        }
        router.get("/v1/models/releases/:version") { request, context in
            try await self.admin.require(request, roles: reviewers)
            return try JSONBody.response(try await self.models.release(try context.parameters.require("version")), status: .ok)
        }
        router.get("/v1/models/current") { request, context in
            try await self.kiosks.requireKioskOrToken(request, context: context)
            return JSONBody.response(bytes: try await self.models.currentEnvelope())
        }
        router.get("/v1/models/releases/:version/envelope") { request, context in
            try await self.kiosks.requireKioskOrToken(request, context: context)
            return JSONBody.response(bytes: try await self.rollouts.envelope(try context.parameters.require("version")))
        }
        router.get("/v1/kiosk/model-assignment") { request, context in
            let device = try await self.kiosks.requireKiosk(request, context: context)
            let query = request.uri.queryParameters
            let assignment = try await self.rollouts.assignment(
                device: device, site: query["site"].map(String.init) ?? "",
                cameraModel: query["camera_model"].map(String.init) ?? "")
            return try JSONBody.response(assignment, status: .ok)
        }
        router.get("/v1/models/rollouts") { request, _ in
            try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.rollouts.rollouts(), status: .ok)
        }
        router.get("/v1/models/releases/:version/rollout") { request, context in
            try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.rollouts.rollout(try context.parameters.require("version")), status: .ok)
        }
        router.get("/v1/models/releases/:version/comparison") { request, context in
            try await self.admin.require(request, roles: engineer)
            let target = try request.uri.queryParameters["target_fmr"].map { text in
                guard let value = Double(String(text)), value.isFinite else {
                    throw ProblemResponse(.invalidRequest, "target_fmr must be a number within (0, 1)")
                }
                return value
            }
            return try JSONBody.response(try await self.rollouts.compare(try context.parameters.require("version"), targetFMR: target),
                                         status: .ok)
        }
        router.post("/v1/models/releases/:version/shadow") { request, context in
            let caller = try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.rollouts.shadow(try context.parameters.require("version"), by: caller), status: .ok)
        }
        router.post("/v1/models/releases/:version/canary") { request, context in
            let caller = try await self.admin.require(request, roles: engineer)
            let body = try await JSONBody.decode(CanaryRequest.self, from: request)
            return try JSONBody.response(try await self.rollouts.canary(try context.parameters.require("version"), request: body, by: caller),
                                         status: .ok)
        }
        router.post("/v1/models/releases/:version/promote") { request, context in
            let caller = try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.rollouts.promote(try context.parameters.require("version"), by: caller), status: .ok)
        }
        router.post("/v1/models/releases/:version/rollback") { request, context in
            let caller = try await self.admin.require(request, roles: engineer)
            let body = try await JSONBody.decode(RollbackRequest.self, from: request)
            return try JSONBody.response(try await self.rollouts.rollBack(try context.parameters.require("version"), reason: body.reason,
                                                                          actor: caller.actor), status: .ok)
        }
    }
}
