import FeedbackWire
import Foundation
import Storage
import ThresholdAPI

/// Bearer tokens for people: granted and revoked by administrators, listed by the first 16
/// hex digits of their hash. The token itself is shown once, when it is granted.
struct TokenService: Sendable {
    let store: any FeedbackStore
    let now: @Sendable () -> Date

    func grant(_ request: APITokenRequest, by caller: APITokenRecord) async throws -> APITokenGrant {
        guard let role = Role(rawValue: request.role) else {
            throw ProblemResponse(.invalidRequest, "role must be \(Role.choices)")
        }
        guard (1...64).contains(request.label.count), request.label.allSatisfy({ $0.isLetter || $0.isNumber || "-_.@ ".contains($0) }) else {
            throw ProblemResponse(.invalidRequest, "label must be 1 to 64 letters, digits, spaces or -_.@")
        }
        let token = APIToken.generate()
        try await store.addAPIToken(sha256: APIToken.sha256(token), role: role.rawValue, label: request.label, at: now(),
                                    actor: caller.actor)
        return APITokenGrant(role: role.rawValue, label: request.label, token: token)
    }

    func tokens() async throws -> [APITokenSummary] {
        try await store.apiTokens()
    }

    /// The token as listed after its revocation.
    func revoke(id: String, by caller: APITokenRecord) async throws -> APITokenSummary? {
        guard try await store.revokeAPIToken(id: id, at: now(), actor: caller.actor) else {
            throw ProblemResponse(.notFound, "no active token with id \(id)")
        }
        return try await store.apiTokens().first { $0.id == id.lowercased() }
    }
}
