import Crypto
import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import Testing

/// A model release names a capture-normalisation policy per cohort, and an assignment names
/// the candidate releases a kiosk scores in shadow.
@Suite("Release normalisation and shadow candidates on the wire")
struct ReleaseNormalisationTests {
    static let gamma = NormalizationPolicy(exposure: .init(method: .gamma, targetMean: 0.45))
    static let clahe = NormalizationPolicy(clahe: .init(tilesX: 8, tilesY: 8, clipLimit: 2))

    static func release(normalisation: [CohortNormalisation] = []) throws -> ModelRelease {
        let statement = try PrivacyStatement(clippingNorm: 0.5, noiseMultiplier: 1, samplingRate: 0.1, releaseRounds: 1,
                                             ledger: [PrivacyLedgerEntry(samplingRate: 0.1, noiseMultiplier: 1, rounds: 1)], delta: 1e-6)
        let outcome = RoundOutcome(accepted: [], rejected: [], adjusted: [], baseline: nil, candidate: nil, releaseVersion: 5, reason: nil)
        return ModelRelease(version: 5, baseVersion: 4, roundID: 9, backbone: "dlib-resnet-v1", adapter: Adapter.identity(dimension: 4),
                            privacy: ReleasedPrivacy(statement), outcome: ReleasedRoundSummary(outcome),
                            createdAt: Date(timeIntervalSince1970: 1_790_000_000), normalisation: normalisation)
    }

    /// The release's canonical JSON with `normalisation` replaced by `value` (nil removes it).
    static func payload(_ release: ModelRelease, normalisation value: String?) throws -> [UInt8] {
        let text = String(decoding: try ModelReleaseCoding.canonicalBytes(release), as: UTF8.self)
        let empty = #""normalisation":[],"#
        #expect(text.contains(empty))
        return Array(text.replacingOccurrences(of: empty, with: value.map { #""normalisation":\#($0),"# } ?? "").utf8)
    }

    @Test("a release's policies survive signing and verification, and each cohort gets its own policy or the identity")
    func roundTrip() throws {
        let key = Curve25519.Signing.PrivateKey()
        let release = try Self.release(normalisation: [
            CohortNormalisation(cameraModel: "cam-a", site: "lobby", policy: Self.gamma),
            CohortNormalisation(cameraModel: "cam-b", site: "lobby", policy: Self.clahe),
        ])
        let envelope = try SignedRelease.sign(kind: .model, version: 5, payload: try ModelReleaseCoding.canonicalBytes(release), key: key)
        let verified = try ModelReleaseCoding.verify(envelope, publicKey: key.publicKey.rawRepresentation)
        #expect(verified == release)
        #expect(verified.normalisation(cameraModel: "cam-a", site: "lobby") == Self.gamma)
        #expect(verified.normalisation(cameraModel: "cam-b", site: "lobby") == Self.clahe)
        #expect(verified.normalisation(cameraModel: "cam-a", site: "hall") == .identity)
        #expect(verified.normalisation(cameraModel: "lobby", site: "cam-a") == .identity, "camera model and site are not interchangeable")
        let text = String(decoding: try ModelReleaseCoding.canonicalBytes(release), as: UTF8.self)
        #expect(text.contains(#""normalisation":[{"camera_model":"cam-a","policy":{"exposure":{"method":"gamma","target_mean":0.45}},"site":"lobby"}"#))

        var tampered = envelope
        var altered = release
        altered.normalisation[0].policy = Self.clahe
        tampered.payload = Data(try ModelReleaseCoding.canonicalBytes(altered)).base64EncodedString()
        #expect(throws: ModelReleaseCoding.Refusal.self) { try ModelReleaseCoding.verify(tampered, publicKey: key.publicKey.rawRepresentation) }
    }

    @Test("a release without policies still writes the key, and one signed before the key existed verifies and names the identity everywhere")
    func legacyRelease() throws {
        let key = Curve25519.Signing.PrivateKey()
        let release = try Self.release()
        let legacy = try Self.payload(release, normalisation: nil)
        #expect(!String(decoding: legacy, as: UTF8.self).contains("normalisation"))
        let envelope = try SignedRelease.sign(kind: .model, version: 5, payload: legacy, key: key)
        let verified = try ModelReleaseCoding.verify(envelope, publicKey: key.publicKey.rawRepresentation)
        #expect(verified == release)
        #expect(verified.normalisation.isEmpty)
        #expect(verified.normalisation(cameraModel: "cam-a", site: "lobby").isIdentity)
    }

    @Test("a malformed normalisation is refused: the release does not decode, so its envelope never verifies",
          arguments: [
              (#"[{"camera_model":"cam-a","site":"lobby","policy":{}},{"camera_model":"cam-a","site":"lobby","policy":{"clahe":{"tiles_x":8,"tiles_y":8,"clip_limit":2}}}]"#,
               "more than once"),
              (#"null"#, "normalisation"),
              (#"{}"#, "normalisation"),
              (#"[{"camera_model":"cam-a","site":"lobby","policy":{},"note":"x"}]"#, "note is not a known key"),
              (#"[{"camera_model":"","site":"lobby","policy":{}}]"#, "camera_model must have 1 to 128 bytes"),
              (#"[{"camera_model":"cam-a","site":"\#(String(repeating: "s", count: 129))","policy":{}}]"#, "site must have 1 to 128 bytes"),
              (#"[{"camera_model":"cam-a","policy":{}}]"#, "site"),
              (#"[{"camera_model":"cam-a","site":"lobby"}]"#, "policy"),
              (#"[{"camera_model":"cam-a","site":"lobby","policy":null}]"#, "policy"),
              (#"[{"camera_model":"cam-a","site":"lobby","policy":{"exposure":{"method":"gamma","target_mean":2}}}]"#, "exposure.target_mean"),
              (#"[{"camera_model":"cam-a","site":"lobby","policy":{"sharpen":{}}}]"#, "sharpen"),
              (#"[{"camera_model":"cam-a","site":7,"policy":{}}]"#, "site"),
          ])
    func refusals(normalisation: String, reason: String) throws {
        let key = Curve25519.Signing.PrivateKey()
        let bytes = try Self.payload(try Self.release(), normalisation: normalisation)
        #expect(throws: (any Error).self) { try ModelReleaseCoding.decode(bytes) }
        do {
            _ = try ModelReleaseCoding.decode(bytes)
        } catch {
            #expect("\(error)".contains(reason), "\(error)")
        }
        let envelope = try SignedRelease.sign(kind: .model, version: 5, payload: bytes, key: key)
        do {
            _ = try ModelReleaseCoding.verify(envelope, publicKey: key.publicKey.rawRepresentation)
            Issue.record("a release with a malformed normalisation verified")
        } catch {
            guard case .payload = error else { Issue.record("refused for another reason: \(error)"); return }
        }
    }

    @Test("setting a cohort's policy replaces its entry and keeps the entries in one order, so equal releases sign equal bytes")
    func setNormalisation() throws {
        var one = try Self.release()
        one.setNormalisation(Self.gamma, cameraModel: "cam-b", site: "lobby")
        one.setNormalisation(Self.gamma, cameraModel: "cam-a", site: "lobby")
        one.setNormalisation(Self.clahe, cameraModel: "cam-b", site: "lobby")
        var other = try Self.release()
        other.setNormalisation(Self.gamma, cameraModel: "cam-a", site: "lobby")
        other.setNormalisation(Self.clahe, cameraModel: "cam-b", site: "lobby")
        #expect(one.normalisation.map(\.cameraModel) == ["cam-a", "cam-b"])
        #expect(one.normalisation(cameraModel: "cam-b", site: "lobby") == Self.clahe)
        #expect(try ModelReleaseCoding.canonicalBytes(one) == ModelReleaseCoding.canonicalBytes(other))
        #expect(CohortNormalisation.firstDuplicate(in: one.normalisation) == nil)
    }

    static func assignment(candidates: [AssignedModel]) -> ModelAssignment {
        ModelAssignment(deviceID: "kiosk-1", site: "lobby", cameraModel: "cam-a", decide: AssignedModel(version: 4, modelVersion: "m:adapter-4"),
                        shadow: nil, rolloutVersion: nil, rolloutStage: nil, reason: "fleet", shadowCandidates: candidates)
    }

    @Test("an assignment's shadow candidates round-trip, are always written, and read as none from a server that predates them")
    func assignmentCandidates() throws {
        let candidates = (6...8).map { AssignedModel(version: $0, modelVersion: "m:adapter-\($0)") }
        let assignment = Self.assignment(candidates: candidates)
        let bytes = try WireJSON.encoder().encode(assignment)
        #expect(try WireJSON.decoder().decode(ModelAssignment.self, from: bytes) == assignment)
        let none = String(decoding: try WireJSON.encoder().encode(Self.assignment(candidates: [])), as: UTF8.self)
        #expect(none.contains(#""shadow_candidates":[]"#))
        let legacy = none.replacingOccurrences(of: #""shadow_candidates":[],"#, with: "")
        #expect(!legacy.contains("shadow_candidates"))
        #expect(try WireJSON.decoder().decode(ModelAssignment.self, from: Data(legacy.utf8)).shadowCandidates.isEmpty)
    }

    @Test("an assignment naming more shadow candidates than an outcome can carry scores for is refused")
    func tooManyCandidates() throws {
        let limit = ModelAssignment.maxShadowCandidates
        let fits = Self.assignment(candidates: (1...limit).map { AssignedModel(version: $0, modelVersion: "m:adapter-\($0)") })
        #expect(try WireJSON.decoder().decode(ModelAssignment.self, from: WireJSON.encoder().encode(fits)) == fits)
        let over = Self.assignment(candidates: (1...(limit + 1)).map { AssignedModel(version: $0, modelVersion: "m:adapter-\($0)") })
        #expect(throws: DecodingError.self) { try WireJSON.decoder().decode(ModelAssignment.self, from: WireJSON.encoder().encode(over)) }
    }
}
