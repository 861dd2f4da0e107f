import FeedbackWire
import Foundation
import NIOHTTP1

extension OperatorClient {
    public func tokens() async throws -> [APITokenSummary] {
        try await call(.GET, "/v1/admin/tokens", body: Optional<EnrollmentTokenRequest>.none)
    }
}
