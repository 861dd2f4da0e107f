import FederationAPI
import FeedbackWire
import Hummingbird

/// Searches for per-cohort capture-normalisation policies: engineers (the role that moves
/// model releases) start a search, look at its ranking, refine it and propose its leader.
struct PolicySearchRoutes: Sendable {
    let searches: PolicySearchService
    let admin: AdminAuthenticator

    func register(on router: Router<FeedbackRequestContext>) {
        let engineer: Set<Role> = [.engineer]
        router.post("/v1/policy-searches") { request, _ in
            let caller = try await self.admin.require(request, roles: engineer)
            let body = try await JSONBody.decode(PolicySearchRequest.self, from: request, members: PolicySearchRequest.members)
            return try JSONBody.response(try await self.searches.start(body, by: caller), status: .created)
        }
        router.get("/v1/policy-searches") { request, _ in
            try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.searches.list(), status: .ok)
        }
        router.get("/v1/policy-searches/:id") { request, context in
            try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.searches.show(try context.parameters.require("id")), status: .ok)
        }
        router.post("/v1/policy-searches/:id/refine") { request, context in
            let caller = try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.searches.refine(try context.parameters.require("id"), by: caller), status: .ok)
        }
        router.post("/v1/policy-searches/:id/propose") { request, context in
            let caller = try await self.admin.require(request, roles: engineer)
            let body = try await JSONBody.decode(PolicySearchProposal.self, from: request, members: PolicySearchProposal.members)
            return try JSONBody.response(try await self.searches.propose(try context.parameters.require("id"), proposal: body, by: caller),
                                         status: .ok)
        }
    }
}
