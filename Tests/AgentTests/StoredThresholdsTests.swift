import Calibration
import Foundation
import Testing
@testable import Agent

/// A kiosk upgraded after a release was published keeps the thresholds.json it pulled then:
/// it must still verify and apply.
@Suite("Threshold releases kept from before the upgrade")
struct StoredThresholdsTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ThresholdAPITests/Fixtures")

    @Test("a thresholds.json signed in the earlier payload form verifies and applies its cohort's threshold")
    func legacyStoredRelease() throws {
        let directory = try UploadQueueTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = AgentFiles(directory: directory)
        try files.write(try Data(contentsOf: Self.fixtures.appendingPathComponent("thresholds-v1-legacy.json")), to: files.thresholds, mode: 0o600)
        try files.write(try Data(contentsOf: Self.fixtures.appendingPathComponent("release-signing-legacy.pub")), to: files.releaseSigningKey, mode: 0o600)
        let agent = KioskAgent(files: files)
        let release = try agent.storedThresholds()
        let cohort = CohortKey(modelVersion: "dlib_face_recognition_resnet_model_v1", cameraModel: "cam-1", cohort: "branch-b")
        let applied = try agent.applicableThreshold(in: release, cohort: cohort)
        #expect(applied.releaseVersion == 3)
        #expect(applied.threshold == 0.499)
        #expect(applied.fallbackLevel == .cameraModel)
    }
}
