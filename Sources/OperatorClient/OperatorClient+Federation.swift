import FeedbackWire
import FederationAPI
import NIOHTTP1

/// Federated rounds and model releases.
extension OperatorClient {
    public func openRound(_ request: OpenRoundRequest) async throws -> RoundView {
        try await call(.POST, "/v1/federation/rounds", body: request)
    }

    public func rounds() async throws -> RoundList {
        try await call(.GET, "/v1/federation/rounds", body: Optional<OpenRoundRequest>.none)
    }

    public func round(_ id: Int) async throws -> RoundView {
        try await call(.GET, "/v1/federation/rounds/\(id)", body: Optional<OpenRoundRequest>.none)
    }

    public func closeRound(_ id: Int) async throws -> RoundView {
        try await call(.POST, "/v1/federation/rounds/\(id)/close", body: Optional<OpenRoundRequest>.none)
    }

    public func modelReleases() async throws -> ModelReleaseList {
        try await call(.GET, "/v1/models/releases", body: Optional<OpenRoundRequest>.none)
    }

    public func modelRelease(_ version: Int) async throws -> ModelReleaseSummary {
        try await call(.GET, "/v1/models/releases/\(version)", body: Optional<OpenRoundRequest>.none)
    }

    public func currentModelEnvelope() async throws -> SignedRelease {
        try await call(.GET, "/v1/models/current", body: Optional<OpenRoundRequest>.none)
    }

    public func rollouts() async throws -> RolloutList {
        try await call(.GET, "/v1/models/rollouts", body: Optional<OpenRoundRequest>.none)
    }

    public func rollout(_ version: Int) async throws -> RolloutView {
        try await call(.GET, "/v1/models/releases/\(version)/rollout", body: Optional<OpenRoundRequest>.none)
    }

    public func compareModels(_ version: Int, targetFMR: Double?) async throws -> RolloutComparison {
        let query = targetFMR.map { "?target_fmr=\($0)" } ?? ""
        return try await call(.GET, "/v1/models/releases/\(version)/comparison" + query, body: Optional<OpenRoundRequest>.none)
    }

    public func shadowModel(_ version: Int) async throws -> RolloutView {
        try await call(.POST, "/v1/models/releases/\(version)/shadow", body: Optional<OpenRoundRequest>.none)
    }

    public func canaryModel(_ version: Int, _ request: CanaryRequest) async throws -> RolloutView {
        try await call(.POST, "/v1/models/releases/\(version)/canary", body: request)
    }

    public func promoteModel(_ version: Int) async throws -> RolloutView {
        try await call(.POST, "/v1/models/releases/\(version)/promote", body: Optional<OpenRoundRequest>.none)
    }

    public func rollBackModel(_ version: Int, reason: String) async throws -> RolloutView {
        try await call(.POST, "/v1/models/releases/\(version)/rollback", body: RollbackRequest(reason: reason))
    }
}
