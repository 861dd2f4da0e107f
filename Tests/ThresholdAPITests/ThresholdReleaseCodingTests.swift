import Calibration
import Crypto
import FeedbackWire
import Foundation
import StrictJSON
import Testing
import ThresholdAPI

@Suite("ThresholdAPI: the signed threshold-release payload")
struct ThresholdReleaseCodingTests {
    /// thresholds.json as a kiosk kept it before the payload had its own wire types, and the
    /// public half of the key that signed it.
    static func legacyEnvelope() throws -> (envelope: SignedRelease, key: Data) {
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let envelope = try WireJSON.decoder().decode(SignedRelease.self,
                                                     from: try Data(contentsOf: fixtures.appendingPathComponent("thresholds-v1-legacy.json")))
        let keyText = try String(contentsOf: fixtures.appendingPathComponent("release-signing-legacy.pub"), encoding: .utf8)
        return (envelope, try #require(Data(base64Encoded: keyText.trimmingCharacters(in: .whitespacesAndNewlines))))
    }

    /// The release inside the legacy fixture, field by field: every fallback level, both
    /// precisions, with and without an FNMR estimate.
    static func legacyRelease() throws -> ThresholdRelease {
        let model = "dlib_face_recognition_resnet_model_v1"
        func entry(_ camera: String, _ site: String, model: String = model, _ level: FallbackLevel, target: Double = 0.01,
                   threshold: Double = 0.499, fmr: Double, upper: Double, fnmr: Double?, impostors: Int, falseMatches: Int = 2,
                   genuine: Int, precision: Precision = .exact) -> CohortThreshold {
            CohortThreshold(cohort: CohortKey(modelVersion: model, cameraModel: camera, cohort: site), fallbackLevel: level,
                            targetFMR: target, threshold: threshold, estimatedFMR: fmr, fmrUpperBound: upper, confidence: 0.95,
                            estimatedFNMR: fnmr.map { RateBounds(lower: $0, upper: $0) }, impostorCount: impostors,
                            falseMatchCount: falseMatches, genuineCount: genuine, unknownCount: 0, precision: precision)
        }
        return try ThresholdRelease(
            version: 3, previousVersion: 2, policy: "conservative",
            window: try DataWindow(startUnixSeconds: 1_764_000_000, endUnixSeconds: 1_764_600_000),
            entries: [
                entry("cam-1", "branch-a", .cohort, fmr: 0.002857142857142857, upper: 0.008966433262667328,
                      fnmr: 0.09666666666666666, impostors: 700, genuine: 300),
                entry("cam-1", "branch-b", .cameraModel, fmr: 0.002777777777777778, upper: 0.00871810885555134,
                      fnmr: 0.09090909090909091, impostors: 720, genuine: 330),
                entry("cam-2", "branch-c", .modelVersion, fmr: 0.0027397260273972603, upper: 0.008599034167413963,
                      fnmr: 0.09090909090909091, impostors: 730, genuine: 330),
                entry("cam-1", "branch-d", model: model + ":adapter-1", .cohort, target: 0.6, threshold: 0.0048828125,
                      fmr: 0.5575, upper: 0.5991799782167224, fnmr: nil, impostors: 400, falseMatches: 223, genuine: 0,
                      precision: .binned(binWidth: 0.0001220703125)),
            ])
    }

    /// Every object key anywhere in `value`.
    static func keys(of value: JSONValue) -> [String] {
        switch value {
        case let .object(members): members.flatMap { [$0.key] + keys(of: $0.value) }
        case let .array(items): items.flatMap(keys(of:))
        default: []
        }
    }

    @Test("a release signed before the wire types still verifies and decodes to the same release")
    func legacyPayload() throws {
        let (envelope, key) = try Self.legacyEnvelope()
        let expected = try Self.legacyRelease()
        #expect(try ThresholdReleaseCoding.verify(envelope, publicKey: key) == expected)
        let payload = try #require(Data(base64Encoded: envelope.payload))
        #expect(try ThresholdReleaseCoding.decode([UInt8](payload)) == expected)
        // Re-signing it in the current form carries the same release.
        #expect(try ThresholdReleaseCoding.decode(try ThresholdReleaseCoding.canonicalBytes(expected)) == expected)
    }

    @Test("the payload is snake_case with its enums as explicit strings")
    func snakeCasePayload() throws {
        let payload = try JSONValue.parse(try ThresholdReleaseCoding.canonicalBytes(try Self.legacyRelease()))
        let keys = Self.keys(of: payload)
        #expect(keys.allSatisfy { $0.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" } }, "\(Set(keys).sorted())")
        #expect(Set(payload.objectValue?.map(\.key) ?? []) == ["version", "previous_version", "policy", "window", "entries"])
        #expect(payload["window"]?["start_unix_seconds"]?.numberValue == 1_764_000_000)
        let entries = payload["entries"]?.arrayValue ?? []
        #expect(entries.compactMap { $0["fallback_level"]?.stringValue } == ["cohort", "camera_model", "model_version", "cohort"])
        #expect(entries.compactMap { $0["precision"]?.stringValue } == ["exact", "exact", "exact", "binned"])
        #expect(entries.map { $0["bin_width"]?.numberValue } == [nil, nil, nil, 0.0001220703125])
        #expect(entries.first?["cohort"]?["site"]?.stringValue == "branch-a")
        #expect(entries.first?["estimated_fnmr"]?["lower"]?.numberValue == 0.09666666666666666)
        #expect(entries.last?["estimated_fnmr"] == nil)
    }

    @Test("a release signed in the current form verifies with the same bytes every time")
    func currentPayloadSigns() throws {
        let release = try Self.legacyRelease()
        let bytes = try ThresholdReleaseCoding.canonicalBytes(release)
        #expect(bytes == (try ThresholdReleaseCoding.canonicalBytes(try ThresholdReleaseCoding.decode(bytes))))
        let key = Curve25519.Signing.PrivateKey()
        let envelope = try SignedRelease.sign(kind: .thresholds, version: release.version, payload: bytes, key: key)
        #expect(try ThresholdReleaseCoding.verify(envelope, publicKey: key.publicKey.rawRepresentation) == release)
    }

    @Test("subject-level fields travel as subject_count and subject_fmr_upper_bound, and come together")
    func subjectLevelFields() throws {
        let legacy = try Self.legacyRelease()
        var entries = legacy.entries
        entries[0].subjectCount = 212
        entries[0].subjectFMRUpperBound = 0.0087
        let release = try ThresholdRelease(version: legacy.version, previousVersion: legacy.previousVersion, policy: legacy.policy,
                                           window: legacy.window, entries: entries)
        let bytes = try ThresholdReleaseCoding.canonicalBytes(release)
        #expect(try ThresholdReleaseCoding.decode(bytes) == release)
        let payload = try JSONValue.parse(bytes)
        let first = payload["entries"]?.arrayValue?.first
        #expect(first?["subject_count"]?.numberValue == 212)
        #expect(first?["subject_fmr_upper_bound"]?.numberValue == 0.0087)
        #expect(payload["entries"]?.arrayValue?.last?["subject_count"] == nil)
        // A release without subject data signs exactly as before.
        let legacyText = String(decoding: try ThresholdReleaseCoding.canonicalBytes(legacy), as: UTF8.self)
        #expect(!legacyText.contains("subject"))
        let text = String(decoding: bytes, as: UTF8.self)
        let countOnly = text.replacingOccurrences(of: "\"subject_fmr_upper_bound\":0.0087,", with: "")
        #expect(countOnly != text)
        #expect(throws: ThresholdReleaseCoding.MalformedPayload.self) { try ThresholdReleaseCoding.decode(Array(countOnly.utf8)) }
    }

    @Test("a payload whose precision and bin width disagree is refused")
    func contradictoryPrecision() throws {
        let text = String(decoding: try ThresholdReleaseCoding.canonicalBytes(try Self.legacyRelease()), as: UTF8.self)
        let withoutWidth = text.replacingOccurrences(of: "\"bin_width\":0.0001220703125,", with: "")
        #expect(withoutWidth != text)
        #expect(throws: ThresholdReleaseCoding.MalformedPayload.self) { try ThresholdReleaseCoding.decode(Array(withoutWidth.utf8)) }
        let exactWithWidth = text.replacingOccurrences(of: "\"precision\":\"binned\"", with: "\"precision\":\"exact\"")
        #expect(throws: ThresholdReleaseCoding.MalformedPayload.self) { try ThresholdReleaseCoding.decode(Array(exactWithWidth.utf8)) }
        #expect(throws: (any Error).self) { try ThresholdReleaseCoding.decode(Array("{\"version\":3}".utf8)) }
    }
}
