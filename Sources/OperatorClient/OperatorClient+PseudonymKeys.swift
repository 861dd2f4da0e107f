import FeedbackWire
import Foundation
import NIOHTTP1

extension OperatorClient {
    /// Rotates the jurisdiction's pseudonymisation key (administrators only); the answer names
    /// the new version, never the key.
    public func rotatePseudonymKey(jurisdiction: String) async throws -> PseudonymKeyRotation {
        let escaped = jurisdiction.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? jurisdiction
        return try await call(.POST, "/v1/admin/jurisdictions/\(escaped)/pseudonym-key-rotations",
                              body: Optional<EnrollmentTokenRequest>.none)
    }
}
