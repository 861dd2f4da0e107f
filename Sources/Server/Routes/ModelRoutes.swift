import Hummingbird

/// Signed model releases: engineers and compliance officers (for the privacy report) list and inspect them; kiosks (and engineers) download
/// the current one and verify it with the release key before use.
struct ModelRoutes: Sendable {
    let models: ModelReleaseService
    let admin: AdminAuthenticator
    let kiosks: KioskAuthentication

    func register(on router: Router<FeedbackRequestContext>) {
        let reviewers: Set<Role> = [.engineer, .compliance]
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
    }
}
