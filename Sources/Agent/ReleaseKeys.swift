import AsyncHTTPClient
import Crypto
import FeedbackWire
import Foundation
import StrictJSON

/// The release keys a kiosk trusts: the key pinned at enrollment and every key that chains to
/// it through endorsements (`SigningKeyHistory`). A release signed by a key the kiosk has not
/// seen makes it fetch `GET /v1/releases/signing-keys` once and keep the endorsements only if
/// they chain from its pin, so a rotation on the server needs nothing done at the kiosk.
extension KioskAgent {
    /// The trusted keys as the kiosk's files say: the pin and the kept endorsements, verified again.
    func releaseKeys() throws -> [SigningKey] {
        let anchor = try pinnedReleaseKey()
        var endorsements: [SignedRelease] = []
        if let data = FileManager.default.contents(atPath: files.releaseSigningKeyHistory) {
            do {
                endorsements = try WireJSON.decoder().decode([SignedRelease].self, from: data)
            } catch {
                throw AgentError.unreadable(files.releaseSigningKeyHistory, "not a list of key endorsements: \(error)")
            }
        }
        do {
            return try SigningKeyHistory.verify(pinned: anchor, endorsements: endorsements, purpose: .releaseSigning)
        } catch {
            throw AgentError.releaseRefused("the kept release-key history does not chain from the pinned key: \(error)")
        }
    }

    func pinnedReleaseKey() throws -> Curve25519.Signing.PublicKey {
        guard let text = try? String(contentsOfFile: files.releaseSigningKey, encoding: .utf8),
              let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else {
            throw AgentError.unreadable(files.releaseSigningKey, "no pinned release key; enroll again")
        }
        return key
    }

    /// Learns the server's newer release keys when `bytes` is a release signed by a key not
    /// trusted yet; does nothing otherwise (and leaves malformed bytes to the verification).
    func learnReleaseKey(for bytes: [UInt8], client: HTTPClient, settings: AgentSettings) async throws {
        guard let envelope = try? WireJSON.decoder().decode(SignedRelease.self, from: Data(bytes)) else { return }
        guard try !releaseKeys().contains(where: { $0.keyID == envelope.keyID }) else { return }
        let (status, body) = try await ServerTLS.get(client: client, url: settings.serverURL + "/v1/releases/signing-keys")
        guard status == 200 else { throw ServerTLS.refusal(status: status, body: body) }
        guard let document = try? JSONValue.parse(body), let items = document["endorsements"]?.arrayValue else {
            throw AgentError.server("the release-key history is not a JSON object with endorsements")
        }
        let endorsements: [SignedRelease]
        do {
            endorsements = try items.map { try WireJSON.decoder().decode(SignedRelease.self, from: Data($0.serialized())) }
        } catch {
            throw AgentError.server("the release-key history holds an unreadable endorsement: \(error)")
        }
        do {
            _ = try SigningKeyHistory.verify(pinned: try pinnedReleaseKey(), endorsements: endorsements, purpose: .releaseSigning)
        } catch {
            throw AgentError.releaseRefused("the server's release-key history does not chain from the pinned key: \(error)")
        }
        try files.write(try WireJSON.encoder().encode(endorsements), to: files.releaseSigningKeyHistory, mode: 0o600)
    }
}
