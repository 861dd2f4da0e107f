import Crypto
import FeedbackWire
import Foundation
import Hummingbird
import Storage
import StrictJSON

/// `POST /v1/admin/key-rotations` (admin) rotates one of the server's keys; `GET
/// /v1/releases/signing-keys` (a kiosk or any token) lists the release keys with the
/// endorsements that chain them, which a kiosk follows from the key it pinned.
struct KeyRoutes: Sendable {
    let rotation: KeyRotation
    let keys: ServerKeys
    let admin: AdminAuthenticator
    let kiosks: KioskAuthentication

    func register(on router: Router<FeedbackRequestContext>) {
        router.post("/v1/admin/key-rotations") { request, context in
            let caller = try await self.admin.requireAdmin(request)
            let body = try await JSONBody.decode(KeyRotationRequest.self, from: request, members: ["key"])
            guard let purpose = KeyPurpose(rawValue: body.key) else {
                throw ProblemResponse(.invalidRequest, "key must be one of \(KeyPurpose.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let rotated: KeyRotationResult
            do {
                rotated = try await self.rotation.rotate(purpose, actor: caller.actor)
            } catch let conflict as ServerKeyStoreError {
                throw ProblemResponse(.keyRotationConflict, conflict.description)
            }
            context.logger.notice("key rotated", metadata: ["key": "\(rotated.key)", "generation": "\(rotated.generation)"])
            return try JSONBody.response(rotated, status: .created)
        }
        router.get("/v1/releases/signing-keys") { request, context in
            try await self.kiosks.requireKioskOrToken(request, context: context)
            return JSONBody.response(json: Self.history(anchor: self.keys.current.releaseAnchor,
                                                        endorsements: self.keys.current.releaseEndorsements))
        }
    }

    /// The keys of a history and the endorsements that prove it, oldest first.
    static func history(anchor: Curve25519.Signing.PublicKey, endorsements: [SignedRelease]) -> JSONValue {
        var keys: [JSONValue] = [.object([("generation", .number(1)), ("key_id", .string(SignedRelease.keyID(of: anchor))),
                                          ("public_key", .string(anchor.rawRepresentation.base64EncodedString()))])]
        if let verified = try? SigningKeyHistory.verify(pinned: anchor, endorsements: endorsements, purpose: .releaseSigning) {
            keys = verified.map { key in
                var members: [(key: String, value: JSONValue)] = [
                    ("generation", .number(Double(key.generation))), ("key_id", .string(key.keyID)),
                    ("public_key", .string(key.publicKey.rawRepresentation.base64EncodedString())),
                ]
                if let activated = key.activatedAt { members.append(("activated_at", .string(RFC3339.format(activated)))) }
                return .object(members)
            }
        }
        let envelopes = endorsements.compactMap { envelope -> JSONValue? in
            guard let data = try? WireJSON.encoder().encode(envelope) else { return nil }
            return try? JSONValue.parse([UInt8](data))
        }
        return .object([("keys", .array(keys)), ("endorsements", .array(envelopes))])
    }
}
