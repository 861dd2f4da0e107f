import FederationAPI
import Hummingbird

/// `/v1/federation/*`: engineers open, inspect and close rounds; kiosks poll the open round
/// and upload signed updates through the same authentication as outcome batches. The work
/// is ``RoundService``'s.
struct FederationRoutes: Sendable {
    let rounds: RoundService
    let admin: AdminAuthenticator
    let kiosks: KioskAuthentication
    let authentication: SignedUploadAuthentication

    func register(on router: Router<FeedbackRequestContext>) {
        let engineer: Set<Role> = [.engineer]
        router.post("/v1/federation/rounds") { request, _ in
            let caller = try await self.admin.require(request, roles: engineer)
            let body = try await JSONBody.decode(OpenRoundRequest.self, from: request)
            return try JSONBody.response(try await self.rounds.open(body, by: caller.label), status: .created)
        }
        router.get("/v1/federation/rounds") { request, _ in
            try await self.admin.require(request, roles: engineer)
            return try JSONBody.response(try await self.rounds.list(), status: .ok)
        }
        router.get("/v1/federation/rounds/:round") { request, context in
            try await self.admin.require(request, roles: engineer)
            let round = try await self.rounds.round(try context.parameters.require("round"))
            return try JSONBody.response(try await self.rounds.view(round), status: .ok)
        }
        router.post("/v1/federation/rounds/:round/close") { request, context in
            try await self.admin.require(request, roles: engineer)
            let round = try await self.rounds.round(try context.parameters.require("round"))
            return try JSONBody.response(try await self.rounds.close(round), status: .ok)
        }
        router.get("/v1/federation/current") { request, context in
            let device = try await self.kiosks.requireKiosk(request, context: context)
            return try JSONBody.response(try await self.rounds.current(for: device), status: .ok)
        }
        router.post("/v1/federation/rounds/:round/updates") { request, context in
            let upload = try await self.authentication.authenticate(request, context: context, payload: "update")
            let roundText = try context.parameters.require("round")
            return try await self.rounds.receiveUpdate(upload, roundText: roundText, logger: context.logger).response
        }
    }
}
