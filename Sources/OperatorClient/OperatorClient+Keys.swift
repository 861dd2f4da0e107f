import FeedbackWire
import Foundation
import NIOHTTP1
import StrictJSON

extension OperatorClient {
    /// Rotates one of the server's keys (administrators only).
    public func rotateKey(_ key: String) async throws -> KeyRotationResult {
        try await call(.POST, "/v1/admin/key-rotations", body: KeyRotationRequest(key: key))
    }

    /// The endorsements that chain the server's release keys, oldest first.
    public func releaseKeyEndorsements() async throws -> [SignedRelease] {
        let bytes = try await send(.GET, "/v1/releases/signing-keys", body: nil)
        guard let document = try? JSONValue.parse(bytes), let items = document["endorsements"]?.arrayValue else {
            throw Failure.unexpected(200, "the release-key history is not a JSON object with endorsements")
        }
        return try items.map { try WireJSON.decoder().decode(SignedRelease.self, from: Data($0.serialized())) }
    }
}
