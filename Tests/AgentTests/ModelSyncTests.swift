import Calibration
import Crypto
import FederationAPI
import FeedbackWire
import Foundation
import TestSupport
import Testing
import ThresholdAPI
@testable import Agent

/// `syncModels` against a stand-in server over mutual TLS: what it asks, what it keeps, and
/// that nothing is applied unless everything it needs verified.
@Suite("Syncing the assigned models")
struct ModelSyncTests {
    static let backbone = ModelAssignmentTests.backbone

    /// An enrolled agent for `kiosk-1` that trusts `server`'s CA and pins `releaseKey`.
    static func enrolledAgent(_ directory: String, identity: FakeKioskServer.Identity, serverURL: String,
                              releaseKey: Curve25519.Signing.PrivateKey) throws -> KioskAgent {
        let files = AgentFiles(directory: directory)
        try files.write(Data(identity.caPEM.utf8), to: files.caCertificate, mode: 0o600)
        try files.write(Data(identity.deviceCertificatePEM.utf8), to: files.certificate, mode: 0o600)
        try files.write(Data(identity.deviceKeyPEM.utf8), to: files.tlsKey, mode: 0o600)
        try files.write(Data((identity.deviceSigningKey + "\n").utf8), to: files.signingKey, mode: 0o600)
        try files.write(Data((releaseKey.publicKey.rawRepresentation.base64EncodedString() + "\n").utf8), to: files.releaseSigningKey, mode: 0o600)
        try files.write(try WireJSON.encoder().encode(AgentSettings(serverURL: serverURL, deviceID: "kiosk-1", enrolledAt: Date())),
                        to: files.settings, mode: 0o600)
        return KioskAgent(files: files, connectTimeout: .seconds(5))
    }

    static func signedThresholds(_ release: ThresholdRelease, key: Curve25519.Signing.PrivateKey) throws -> [UInt8] {
        let envelope = try SignedRelease.sign(kind: .thresholds, version: release.version,
                                              payload: try ThresholdReleaseCoding.canonicalBytes(release), key: key)
        return [UInt8](try WireJSON.encoder().encode(envelope))
    }

    static func mode(_ path: String) throws -> Int {
        try ((FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue).map { $0 & 0o777 } ?? -1
    }

    @Test("the assignment, the threshold release and the assigned releases are fetched, verified, kept 0600 and applied")
    func syncs() async throws {
        let directory = try temporaryDirectory("model-sync")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let identity = try FakeKioskServer.Identity.make(deviceID: "kiosk-1")
        let server = FakeKioskServer()
        let baseURL = try await server.start(identity: identity)
        let releaseKey = Curve25519.Signing.PrivateKey()
        let agent = try Self.enrolledAgent(directory, identity: identity, serverURL: baseURL, releaseKey: releaseKey)
        let files = agent.files

        let (release4, envelope4) = try ShadowRecordingTests.signedRelease(version: 4, key: releaseKey, scale: 2)
        let (release5, envelope5) = try ShadowRecordingTests.signedRelease(version: 5, key: releaseKey, scale: 3)
        let model4 = AssignedModel(version: 4, modelVersion: release4.modelVersion)
        let model5 = AssignedModel(version: 5, modelVersion: release5.modelVersion)
        server.answer("/v1/models/releases/4/envelope", body: [UInt8](envelope4))
        server.answer("/v1/models/releases/5/envelope", body: [UInt8](envelope5))
        let assignmentTarget = "/v1/kiosk/model-assignment?site=north%20lobby&camera_model=cam-a"
        func assign(_ decide: AssignedModel, shadow: AssignedModel?, device: String = "kiosk-1") throws {
            let assignment = ModelAssignment(deviceID: device, site: "north lobby", cameraModel: "cam-a", decide: decide, shadow: shadow,
                                             rolloutVersion: 4, rolloutStage: .canary, reason: "canary kiosk")
            server.answer(assignmentTarget, body: [UInt8](try WireJSON.encoder().encode(assignment)))
        }
        try assign(model4, shadow: model5)
        let thresholds = try ModelAssignmentTests.thresholds([(model4, "cam-a", "north lobby", 0.8)])
        server.answer("/v1/thresholds/current", body: try Self.signedThresholds(thresholds, key: releaseKey))

        let applied = try await agent.syncModels(site: "north lobby", cameraModel: "cam-a", backbone: Self.backbone.modelVersion)
        try await server.stop()
        #expect(applied.active.model == model4 && applied.active.threshold?.threshold == 0.8)
        #expect(applied.shadow == model5)
        #expect(server.requests.first == assignmentTarget)
        #expect(Set(server.requests) == [assignmentTarget, "/v1/thresholds/current", "/v1/models/releases/4/envelope",
                                         "/v1/models/releases/5/envelope"])
        #expect(try agent.appliedModels() == applied)
        #expect(try agent.keptRelease(for: model4) == release4 && agent.keptRelease(for: model5) == release5)
        #expect(try agent.storedThresholds() == thresholds)
        for path in [files.modelState, files.modelRelease(version: 4), files.modelRelease(version: 5), files.thresholds] {
            #expect(try Self.mode(path) == 0o600, "\(path)")
        }
        #expect(try Self.mode(files.modelReleases) == 0o700)
    }

    @Test("a newer assignment without a published threshold keeps the model; an assignment for another kiosk or an unknown release changes nothing")
    func refusals() async throws {
        let directory = try temporaryDirectory("model-sync")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let identity = try FakeKioskServer.Identity.make(deviceID: "kiosk-1")
        let server = FakeKioskServer()
        let baseURL = try await server.start(identity: identity)
        let releaseKey = Curve25519.Signing.PrivateKey()
        let agent = try Self.enrolledAgent(directory, identity: identity, serverURL: baseURL, releaseKey: releaseKey)
        let (release6, envelope6) = try ShadowRecordingTests.signedRelease(version: 6, key: releaseKey)
        let model6 = AssignedModel(version: 6, modelVersion: release6.modelVersion)
        let target = "/v1/kiosk/model-assignment?site=lobby&camera_model=cam-a"
        func assign(_ decide: AssignedModel, device: String = "kiosk-1") throws {
            let assignment = ModelAssignment(deviceID: device, site: "lobby", cameraModel: "cam-a", decide: decide, shadow: nil,
                                             rolloutVersion: 6, rolloutStage: .fleet, reason: "fleet")
            server.answer(target, body: [UInt8](try WireJSON.encoder().encode(assignment)))
        }

        // No threshold release published: the backbone stays, and says why.
        try assign(model6)
        server.answer("/v1/models/releases/6/envelope", body: [UInt8](envelope6))
        server.problem("/v1/thresholds/current", status: 404, slug: "not-found", detail: "no threshold release has been published yet")
        let first = try await agent.syncModels(site: "lobby", cameraModel: "cam-a", backbone: Self.backbone.modelVersion)
        #expect(first.active.model == Self.backbone)
        #expect(!first.followsAssignment)
        #expect(first.reason.contains("release 6 (dlib_face_recognition_resnet_model_v1:adapter-6) has no published threshold for cam-a at lobby"))

        // An answer about another kiosk is refused, and the state stays.
        try assign(model6, device: "kiosk-2")
        await #expect(throws: AgentError.self) {
            try await agent.syncModels(site: "lobby", cameraModel: "cam-a", backbone: Self.backbone.modelVersion)
        }
        // A release the server cannot serve is not applied either.
        try assign(AssignedModel(version: 7, modelVersion: "dlib_face_recognition_resnet_model_v1:adapter-7"))
        await #expect(throws: AgentError.self) {
            try await agent.syncModels(site: "lobby", cameraModel: "cam-a", backbone: Self.backbone.modelVersion)
        }
        // An envelope that names another model than the assignment is refused.
        try assign(AssignedModel(version: 6, modelVersion: "something-else"))
        await #expect(throws: AgentError.self) {
            try await agent.syncModels(site: "lobby", cameraModel: "cam-a", backbone: Self.backbone.modelVersion)
        }
        try await server.stop()
        #expect(try agent.appliedModels() == first)
    }
}
