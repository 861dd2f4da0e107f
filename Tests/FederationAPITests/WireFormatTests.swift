import Crypto
import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import StrictJSON
import Testing

@Suite("Federation wire formats")
struct WireFormatTests {
    @Test("an update survives encoding bit for bit")
    func updateRoundTrip() throws {
        let values: [Float] = (0..<(128 * 128)).map { Float($0 % 17) * 1e-3 - 0.008 } + []
        var withSpecials = values
        withSpecials[0] = -0.0
        withSpecials[1] = .leastNonzeroMagnitude
        let update = ModelUpdate(values: withSpecials, exampleCount: 42)
        let body = try ModelUpdateUpload(deviceID: "kiosk-1", roundID: 3, baseVersion: 2, update: update).encoded()
        let decoded = try ModelUpdateUpload.decode(body)
        #expect(decoded.update.values.map(\.bitPattern) == withSpecials.map(\.bitPattern))
        #expect(decoded.update.exampleCount == 42)
        #expect(decoded.upload.roundID == 3 && decoded.upload.baseVersion == 2 && decoded.upload.deviceID == "kiosk-1")
    }

    static func violations(_ body: String) -> [JSONSchemaViolation]? {
        do {
            _ = try ModelUpdateUpload.decode(Array(body.utf8))
            return nil
        } catch let .schema(violations) {
            return violations
        } catch {
            return []
        }
    }

    @Test("malformed updates are refused with the pointer of the offending field")
    func refusals() throws {
        let nan = Data(withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) }).base64EncodedString()
        let one = Data(withUnsafeBytes(of: Float(1).bitPattern.littleEndian) { Array($0) }).base64EncodedString()
        func body(_ values: String, count: Int = 1, extra: String = "") -> String {
            #"{"protocol":"faceloop.update.v1","device_id":"kiosk-1","round_id":1,"base_version":0,"example_count":5,"parameter_count":\#(count),"values":"\#(values)"\#(extra)}"#
        }
        #expect(Self.violations(body(one)) == nil)
        #expect(Self.violations(body(nan))?.first?.pointer == "/values")
        #expect(Self.violations(body(one, count: 2))?.first?.pointer == "/values")
        #expect(Self.violations(body(one, extra: #","descriptor":[1,2]"#))?.isEmpty == false, "no room for anything but the update")
        #expect(Self.violations(body(one).replacingOccurrences(of: #""round_id":1"#, with: #""round_id":0"#))?.first?.pointer == "/round_id")
        do {
            _ = try ModelUpdateUpload.decode(Array("{".utf8))
            Issue.record("malformed JSON was accepted")
        } catch .malformedJSON {
        } catch {
            Issue.record("malformed JSON reported as \(error)")
        }
    }

    @Test("a model release verifies only unaltered and with the pinned key")
    func releaseVerification() throws {
        let key = Curve25519.Signing.PrivateKey()
        let statement = try PrivacyStatement(clippingNorm: 0.5, noiseMultiplier: 1, samplingRate: 0.1, releaseRounds: 1,
                                             ledger: [PrivacyLedgerEntry(samplingRate: 0.1, noiseMultiplier: 1, rounds: 1)], delta: 1e-6)
        let outcome = RoundOutcome(accepted: ["kiosk-1"], rejected: [], adjusted: [], baseline: nil, candidate: nil, releaseVersion: 4,
                                   reason: nil)
        let release = ModelRelease(version: 4, baseVersion: 3, roundID: 9, backbone: "dlib_face_recognition_resnet_model_v1", adapter: Adapter.identity(dimension: 4),
                                   privacy: ReleasedPrivacy(statement), outcome: ReleasedRoundSummary(outcome),
                                   createdAt: Date(timeIntervalSince1970: 1_790_000_000))
        let envelope = try SignedRelease.sign(kind: .model, version: 4, payload: try ModelReleaseCoding.canonicalBytes(release), key: key)
        let verified = try ModelReleaseCoding.verify(envelope, publicKey: key.publicKey.rawRepresentation)
        #expect(verified == release)
        #expect(!String(decoding: try ModelReleaseCoding.canonicalBytes(release), as: UTF8.self).contains("kiosk-1"),
                "the signed release names no participant")
        #expect(verified.modelVersion == "dlib_face_recognition_resnet_model_v1:adapter-4")

        var altered = release
        altered.adapter = try Adapter(dimension: 4, weights: [Float](repeating: 0.5, count: 16), bias: nil)
        var forged = envelope
        forged.payload = Data(try ModelReleaseCoding.canonicalBytes(altered)).base64EncodedString()
        #expect(throws: ModelReleaseCoding.Refusal.self) { try ModelReleaseCoding.verify(forged, publicKey: key.publicKey.rawRepresentation) }
        #expect(throws: ModelReleaseCoding.Refusal.self) {
            try ModelReleaseCoding.verify(envelope, publicKey: Curve25519.Signing.PrivateKey().publicKey.rawRepresentation)
        }
        let thresholds = try SignedRelease.sign(kind: .thresholds, version: 4, payload: try ModelReleaseCoding.canonicalBytes(release), key: key)
        #expect(throws: ModelReleaseCoding.Refusal.self) { try ModelReleaseCoding.verify(thresholds, publicKey: key.publicKey.rawRepresentation) }
    }
}
