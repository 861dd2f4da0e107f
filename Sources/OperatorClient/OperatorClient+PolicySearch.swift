import FederationAPI
import FeedbackWire
import NIOHTTP1

/// Searches for per-cohort capture-normalisation policies.
extension OperatorClient {
    public func startPolicySearch(_ request: PolicySearchRequest) async throws -> PolicySearchView {
        try await call(.POST, "/v1/policy-searches", body: request)
    }

    public func policySearches() async throws -> PolicySearchList {
        try await call(.GET, "/v1/policy-searches", body: Optional<PolicySearchRequest>.none)
    }

    public func policySearch(_ id: Int) async throws -> PolicySearchView {
        try await call(.GET, "/v1/policy-searches/\(id)", body: Optional<PolicySearchRequest>.none)
    }

    public func refinePolicySearch(_ id: Int) async throws -> PolicySearchView {
        try await call(.POST, "/v1/policy-searches/\(id)/refine", body: Optional<PolicySearchRequest>.none)
    }

    public func proposePolicySearch(_ id: Int, _ proposal: PolicySearchProposal) async throws -> PolicySearchView {
        try await call(.POST, "/v1/policy-searches/\(id)/propose", body: proposal)
    }
}
