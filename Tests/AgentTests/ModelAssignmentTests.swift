import Calibration
import FederationAPI
import FeedbackWire
import Foundation
import Testing
@testable import Agent

/// The kiosk's decision on a model assignment: the assigned model decides only together with
/// a published threshold for it and the kiosk's cohort.
@Suite("Applying a model assignment")
struct ModelAssignmentTests {
    static let backbone = AssignedModel(version: 0, modelVersion: "dlib_face_recognition_resnet_model_v1")
    static func release(_ version: Int) -> AssignedModel {
        AssignedModel(version: version, modelVersion: "dlib_face_recognition_resnet_model_v1:adapter-\(version)")
    }
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    static func assignment(decide: AssignedModel, shadow: AssignedModel? = nil, stage: RolloutStage? = nil,
                           site: String = "lobby", cameraModel: String = "cam-a") -> ModelAssignment {
        ModelAssignment(deviceID: "kiosk-1", site: site, cameraModel: cameraModel, decide: decide, shadow: shadow,
                        rolloutVersion: stage == nil ? nil : 4, rolloutStage: stage, reason: "server says so")
    }

    /// A threshold release with one entry per (model, camera model, site), threshold as given.
    static func thresholds(version: Int = 7, _ entries: [(AssignedModel, String, String, Double)]) throws -> ThresholdRelease {
        try ThresholdRelease(
            version: version, previousVersion: nil, policy: "conservative-fmr", window: DataWindow(startUnixSeconds: 0, endUnixSeconds: 1),
            entries: entries.map { model, cameraModel, site, threshold in
                CohortThreshold(cohort: CohortKey(modelVersion: model.modelVersion, cameraModel: cameraModel, cohort: site),
                                fallbackLevel: .cohort, targetFMR: 1e-3, threshold: threshold, estimatedFMR: 0, fmrUpperBound: 1e-3,
                                confidence: 0.95, estimatedFNMR: nil, impostorCount: 3000, falseMatchCount: 0, genuineCount: 100,
                                unknownCount: 0, precision: .exact)
            })
    }

    static func active(_ model: AssignedModel, threshold: Double?, release: Int = 6, site: String = "lobby") -> ActiveModel {
        ActiveModel(model: model, threshold: threshold.map {
            KioskAgent.AppliedThreshold(releaseVersion: release, cohort: CohortKey(modelVersion: model.modelVersion, cameraModel: "cam-a", cohort: site),
                                        threshold: $0, targetFMR: 1e-3, fallbackLevel: .cohort)
        })
    }

    @Test("the assigned model decides once the release holds its threshold for the kiosk's cohort")
    func switchesWithThreshold() throws {
        let release = try Self.thresholds([(Self.backbone, "cam-a", "lobby", 0.93), (Self.release(4), "cam-a", "lobby", 0.81)])
        let applied = AppliedModels.decide(assignment: Self.assignment(decide: Self.release(4), stage: .canary), thresholds: release,
                                           current: Self.active(Self.backbone, threshold: 0.93), at: Self.now)
        #expect(applied.active.model == Self.release(4))
        #expect(applied.active.threshold?.threshold == 0.81)
        #expect(applied.active.threshold?.releaseVersion == 7)
        #expect(applied.followsAssignment)
        #expect(applied.shadow == nil)
        #expect(applied.decidedAt == Self.now)
        #expect(applied.reason.hasPrefix("switched from the backbone (dlib_face_recognition_resnet_model_v1) to release 4"), "\(applied.reason)")
        #expect(applied.reason.contains("server says so"))
    }

    @Test("without a threshold for the assigned model and this cohort the kiosk stays on its model and says why")
    func refusesWithoutThreshold() throws {
        // Release 4 has a threshold, but for another site and another camera model only.
        let release = try Self.thresholds([(Self.backbone, "cam-a", "lobby", 0.93), (Self.release(4), "cam-a", "garage", 0.8),
                                           (Self.release(4), "cam-b", "lobby", 0.8)])
        let applied = AppliedModels.decide(assignment: Self.assignment(decide: Self.release(4), stage: .canary), thresholds: release,
                                           current: Self.active(Self.backbone, threshold: 0.9), at: Self.now)
        #expect(applied.active.model == Self.backbone)
        #expect(applied.active.threshold?.threshold == 0.93, "the current model takes the fresher threshold of the new release")
        #expect(!applied.followsAssignment)
        #expect(applied.reason.hasPrefix("release 4 (dlib_face_recognition_resnet_model_v1:adapter-4) has no published threshold for cam-a at lobby "
                                          + "in threshold release 7; staying on the backbone"), "\(applied.reason)")

        let none = AppliedModels.decide(assignment: Self.assignment(decide: Self.release(4)), thresholds: nil,
                                        current: Self.active(Self.backbone, threshold: nil), at: Self.now)
        #expect(none.active == Self.active(Self.backbone, threshold: nil))
        #expect(none.reason.contains("none is published yet"))
    }

    @Test("a rollback returns to the previous model when its threshold is published, and not otherwise")
    func rollback() throws {
        let assignment = Self.assignment(decide: Self.release(2), stage: .rolledBack)
        let current = Self.active(Self.release(4), threshold: 0.8)
        let withThreshold = try Self.thresholds([(Self.release(2), "cam-a", "lobby", 0.85), (Self.release(4), "cam-a", "lobby", 0.8)])
        let back = AppliedModels.decide(assignment: assignment, thresholds: withThreshold, current: current, at: Self.now)
        #expect(back.active.model == Self.release(2))
        #expect(back.active.threshold?.threshold == 0.85)
        #expect(back.reason.hasPrefix("rolled back from release 4"), "\(back.reason)")

        let without = try Self.thresholds([(Self.release(4), "cam-a", "lobby", 0.8)])
        let stays = AppliedModels.decide(assignment: assignment, thresholds: without, current: current, at: Self.now)
        #expect(stays.active.model == Self.release(4))
        #expect(stays.active.threshold?.threshold == 0.8)
        #expect(!stays.followsAssignment)
    }

    @Test("the assigned shadow model is scored whether or not the decision changes, and never the model that decides")
    func shadow() throws {
        let release = try Self.thresholds([(Self.backbone, "cam-a", "lobby", 0.93)])
        let shadowed = AppliedModels.decide(assignment: Self.assignment(decide: Self.backbone, shadow: Self.release(5), stage: .shadow),
                                            thresholds: release, current: Self.active(Self.backbone, threshold: 0.93), at: Self.now)
        #expect(shadowed.active.model == Self.backbone)
        #expect(shadowed.shadow == Self.release(5))
        #expect(shadowed.reason.contains("release 5 (dlib_face_recognition_resnet_model_v1:adapter-5) is scored in shadow"))

        // Refused switch: the shadow is still scored.
        let refused = AppliedModels.decide(assignment: Self.assignment(decide: Self.release(4), shadow: Self.release(5)),
                                           thresholds: release, current: Self.active(Self.backbone, threshold: 0.93), at: Self.now)
        #expect(refused.active.model == Self.backbone && refused.shadow == Self.release(5))

        // The kiosk stays on release 4 (no threshold for the backbone), which is also the shadow model: cleared.
        let same = AppliedModels.decide(assignment: Self.assignment(decide: Self.backbone, shadow: Self.release(4), stage: .rolledBack),
                                        thresholds: try Self.thresholds([(Self.release(4), "cam-a", "lobby", 0.8)]),
                                        current: Self.active(Self.release(4), threshold: 0.8), at: Self.now)
        #expect(same.active.model == Self.release(4))
        #expect(same.shadow == nil)

        // No shadow assigned: none scored, even if one was before.
        let cleared = AppliedModels.decide(assignment: Self.assignment(decide: Self.backbone), thresholds: release,
                                           current: Self.active(Self.backbone, threshold: 0.93), at: Self.now)
        #expect(cleared.shadow == nil)
    }

    @Test("staying on the assigned model keeps the threshold it was applied with when a newer release lacks one for its cohort")
    func keepsAppliedThreshold() throws {
        let assignment = Self.assignment(decide: Self.release(4), stage: .fleet)
        let lacking = try Self.thresholds(version: 8, [(Self.backbone, "cam-a", "lobby", 0.93)])
        let kept = AppliedModels.decide(assignment: assignment, thresholds: lacking, current: Self.active(Self.release(4), threshold: 0.8),
                                        at: Self.now)
        #expect(kept.active.threshold?.threshold == 0.8 && kept.active.threshold?.releaseVersion == 6)
        #expect(kept.followsAssignment)

        let fresher = try Self.thresholds(version: 8, [(Self.release(4), "cam-a", "lobby", 0.79)])
        let updated = AppliedModels.decide(assignment: assignment, thresholds: fresher, current: Self.active(Self.release(4), threshold: 0.8),
                                           at: Self.now)
        #expect(updated.active.threshold?.threshold == 0.79 && updated.active.threshold?.releaseVersion == 8)

        // A threshold applied for another site does not follow the kiosk to this one.
        let moved = AppliedModels.decide(assignment: assignment, thresholds: lacking,
                                         current: Self.active(Self.release(4), threshold: 0.8, site: "garage"), at: Self.now)
        #expect(moved.active.threshold == nil)
    }

    @Test("the applied state reads back as written")
    func stateRoundTrip() throws {
        let directory = try UploadQueueTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let agent = KioskAgent(files: AgentFiles(directory: directory))
        #expect(try agent.appliedModels() == nil)
        let applied = AppliedModels.decide(assignment: Self.assignment(decide: Self.release(4), shadow: Self.release(5), stage: .canary),
                                           thresholds: try Self.thresholds([(Self.release(4), "cam-a", "lobby", 0.81)]),
                                           current: Self.active(Self.backbone, threshold: nil), at: Self.now)
        try agent.files.write(try WireJSON.encoder().encode(applied), to: agent.files.modelState, mode: 0o600)
        #expect(try agent.appliedModels() == applied)
    }
}
