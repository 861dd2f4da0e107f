import Crypto
import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import StrictJSON
import Testing
@testable import Agent

/// What `verify --record` queues when a shadow model is assigned, and the kept releases
/// `verify` applies.
@Suite("Shadow scores and kept model releases")
struct ShadowRecordingTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test("an outcome with a shadow score is queued with it, clamped to [-1, 1], in a batch the validator accepts")
    func recordsShadowScore() throws {
        try RecordPathTests.withAgent { agent throws in
            var outcome = UploadQueueTests.outcome()
            // A cosine of two unit vectors can come out a rounding step above 1.
            outcome.shadow = MatchOutcome.ShadowScore(modelVersion: "m1:adapter-5", cosineSimilarity: 1.0000002)
            #expect(outcome.shadow?.score == 1)
            #expect(try agent.record([outcome], now: Self.now) == [outcome])
            let queued = try #require(try RecordPathTests.sealed(agent, "outcomes").first)
            #expect(queued == outcome.encoded())
            let shadow = try JSONValue.parse(queued)["shadow"]
            #expect(shadow?["model_version"]?.stringValue == "m1:adapter-5")
            #expect(shadow?["score"]?.numberValue == 1)
            #expect(MatchOutcome.ShadowScore(modelVersion: "m", cosineSimilarity: -1.5).score == -1)
            #expect(MatchOutcome.ShadowScore(modelVersion: "m", cosineSimilarity: 0.25).score == 0.25)
        }
    }

    @Test("a shadow score under the outcome's own model version, or out of range, is refused and nothing is queued")
    func refusesBadShadow() throws {
        try RecordPathTests.withAgent { agent throws in
            var sameModel = UploadQueueTests.outcome()
            sameModel.shadow = MatchOutcome.ShadowScore(modelVersion: sameModel.modelVersion, score: 0.5)
            var outOfRange = UploadQueueTests.outcome()
            outOfRange.shadow = MatchOutcome.ShadowScore(modelVersion: "m1:adapter-5", score: 1.5)
            for bad in [sameModel, outOfRange] {
                #expect(throws: AgentError.self) { try agent.record([UploadQueueTests.outcome(), bad], now: Self.now) }
            }
            #expect(try agent.openQueue().status().pendingOutcomes == 0)
        }
    }

    /// Computed once: the accountants take seconds in a debug build.
    static let privacy: Result<ReleasedPrivacy, any Error> = Result {
        ReleasedPrivacy(try PrivacyStatement(clippingNorm: 0.5, noiseMultiplier: 1, samplingRate: 0.1, releaseRounds: 1,
                                             ledger: [PrivacyLedgerEntry(samplingRate: 0.1, noiseMultiplier: 1, rounds: 1)], delta: 1e-6))
    }

    static func signedRelease(version: Int, key: Curve25519.Signing.PrivateKey, scale: Float = 1) throws -> (ModelRelease, Data) {
        let outcome = RoundOutcome(accepted: ["kiosk-1"], rejected: [], adjusted: [], baseline: nil, candidate: nil, releaseVersion: version,
                                   reason: nil)
        // A small adapter: the agent keeps and verifies releases whatever their dimension.
        let adapter = try Adapter(dimension: 4, weights: Adapter.identity(dimension: 4).weights.map { $0 * scale }, bias: nil)
        let release = ModelRelease(version: version, baseVersion: 0, roundID: version, backbone: "dlib_face_recognition_resnet_model_v1",
                                   adapter: adapter, privacy: try privacy.get(), outcome: ReleasedRoundSummary(outcome),
                                   createdAt: now)
        let envelope = try SignedRelease.sign(kind: .model, version: version, payload: try ModelReleaseCoding.canonicalBytes(release), key: key)
        return (release, try WireJSON.encoder().encode(envelope))
    }

    @Test("a kept release is used only when it verifies and is the model the state names")
    func keptRelease() throws {
        let directory = try UploadQueueTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = AgentFiles(directory: directory)
        let agent = KioskAgent(files: files)
        let key = Curve25519.Signing.PrivateKey()
        try files.write(Data((key.publicKey.rawRepresentation.base64EncodedString() + "\n").utf8), to: files.releaseSigningKey, mode: 0o600)
        let (release, envelope) = try Self.signedRelease(version: 4, key: key)
        let model = AssignedModel(version: 4, modelVersion: release.modelVersion)

        #expect(try agent.keptRelease(for: AssignedModel(version: 0, modelVersion: "dlib_face_recognition_resnet_model_v1")) == nil)
        #expect(throws: AgentError.self, "not kept yet") { try agent.keptRelease(for: model) }

        try files.ensureModelReleasesDirectory()
        try files.write(envelope, to: files.modelRelease(version: 4), mode: 0o600)
        #expect(try agent.keptRelease(for: model) == release)
        #expect(throws: AgentError.self, "the state names another model version") {
            try agent.keptRelease(for: AssignedModel(version: 4, modelVersion: "other"))
        }
        // Release 4's envelope kept under version 5 is refused.
        try files.write(envelope, to: files.modelRelease(version: 5), mode: 0o600)
        #expect(throws: AgentError.self) { try agent.keptRelease(for: AssignedModel(version: 5, modelVersion: release.modelVersion)) }

        // A release signed by another key (or altered on disk) is refused.
        let (_, foreign) = try Self.signedRelease(version: 4, key: Curve25519.Signing.PrivateKey())
        try files.write(foreign, to: files.modelRelease(version: 4), mode: 0o600)
        #expect(throws: AgentError.self) { try agent.keptRelease(for: model) }
    }
}
