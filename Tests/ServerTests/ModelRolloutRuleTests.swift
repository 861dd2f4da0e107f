import Calibration
import FederationAPI
import Foundation
@testable import Server
import Storage
import Testing

/// The rollout's rules apart from the store: which model decides on a kiosk and which one it
/// scores in shadow, and when a promoted model's realised FMR breaks its bound.
@Suite("Model rollout rules")
struct ModelRolloutRuleTests {
    static let backbone = RolloutSettings.backboneModelVersion
    static let lobby = RolloutCohort(cameraModel: "cam-a", site: "lobby")
    static let annex = RolloutCohort(cameraModel: "cam-b", site: "annex")
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func rollout(_ version: Int, _ state: RolloutState, cohorts: [RolloutCohort] = [], devices: [String] = [],
                        percent: Double? = nil) -> StoredModelRollout {
        StoredModelRollout(version: version, state: state, cohorts: cohorts, canaryDevices: devices, canaryPercent: percent,
                           updatedAt: now)
    }

    static func assignment(_ device: String, _ cohort: RolloutCohort, _ rollouts: [StoredModelRollout]) throws -> ModelAssignment {
        try ModelRolloutService.assignment(deviceID: device, cohort: cohort, rollouts: rollouts, releases: [:])
    }

    @Test("without any release the backbone decides and nothing is scored in shadow")
    func backboneOnly() throws {
        let assigned = try Self.assignment("kiosk-1", Self.lobby, [Self.rollout(1, .candidate)])
        #expect(assigned.decide == AssignedModel(version: 0, modelVersion: Self.backbone))
        #expect(assigned.shadow == nil)
        #expect(assigned.rolloutVersion == nil)
    }

    @Test("a release in shadow is scored beside the deciding model on every kiosk of every cohort")
    func shadowEverywhere() throws {
        for cohort in [Self.lobby, Self.annex] {
            let assigned = try Self.assignment("kiosk-1", cohort, [Self.rollout(1, .shadow)])
            #expect(assigned.decide.version == 0)
            #expect(assigned.shadow?.version == 1)
            #expect(assigned.rolloutStage == .shadow)
        }
    }

    @Test("a canary decides only on its named kiosks of its cohorts; there the replaced model is scored in shadow")
    func canaryByName() throws {
        let rollouts = [Self.rollout(1, .fleet, cohorts: [Self.lobby, Self.annex]),
                        Self.rollout(2, .canary, cohorts: [Self.lobby], devices: ["kiosk-1"])]
        let canary = try Self.assignment("kiosk-1", Self.lobby, rollouts)
        #expect(canary.decide.version == 2)
        #expect(canary.shadow?.version == 1)
        let other = try Self.assignment("kiosk-2", Self.lobby, rollouts)
        #expect(other.decide.version == 1)
        #expect(other.shadow?.version == 2)
        let excludedCohort = try Self.assignment("kiosk-1", Self.annex, rollouts)
        #expect(excludedCohort.decide.version == 1, "a cohort the comparison did not offer keeps its model")
        #expect(excludedCohort.shadow?.version == 2)
    }

    @Test("a canary by percentage takes a stable share, and a larger share keeps every kiosk of a smaller one")
    func canaryByPercent() throws {
        let devices = (0..<2000).map { String(format: "kiosk-%04d", $0) }
        func chosen(_ percent: Double) throws -> Set<String> {
            let rollouts = [Self.rollout(3, .canary, cohorts: [Self.lobby], percent: percent)]
            return Set(try devices.filter { try Self.assignment($0, Self.lobby, rollouts).decide.version == 3 })
        }
        let ten = try chosen(10), thirty = try chosen(30)
        #expect((150...250).contains(ten.count), "\(ten.count) of 2000 at 10 %")
        #expect((500...700).contains(thirty.count), "\(thirty.count) of 2000 at 30 %")
        #expect(ten.isSubset(of: thirty))
        #expect(try chosen(10) == ten, "the same kiosks every time")
    }

    @Test("fleet: the newest release holding the cohort decides; rolling it back returns the cohort to the one before")
    func fleetAndRollback() throws {
        let both = [Self.rollout(1, .fleet, cohorts: [Self.lobby, Self.annex]), Self.rollout(2, .fleet, cohorts: [Self.lobby])]
        #expect(try Self.assignment("kiosk-1", Self.lobby, both).decide.version == 2)
        #expect(try Self.assignment("kiosk-1", Self.annex, both).decide.version == 1)
        let rolledBack = [Self.rollout(1, .fleet, cohorts: [Self.lobby, Self.annex]), Self.rollout(2, .rolledBack, cohorts: [Self.lobby])]
        let assigned = try Self.assignment("kiosk-1", Self.lobby, rolledBack)
        #expect(assigned.decide.version == 1)
        #expect(assigned.shadow == nil, "a rolled-back release is not scored any more")
    }

    static func outcome(_ model: String, _ label: String, _ score: Double, site: String = "lobby", camera: String = "cam-a") -> CalibrationOutcome {
        CalibrationOutcome(modelVersion: model, site: site, cameraModel: camera, label: label, score: score, attemptedAt: now,
                           subjectPseudonym: String(repeating: "a", count: 64))
    }

    static func thresholds(model: String, threshold: Double, bound: Double) throws -> ThresholdRelease {
        let entry = CohortThreshold(
            cohort: CohortKey(modelVersion: model, cameraModel: "cam-a", cohort: "lobby"), fallbackLevel: .cohort, targetFMR: 1e-3,
            threshold: threshold, estimatedFMR: 0, fmrUpperBound: bound, confidence: 0.95, estimatedFNMR: nil, impostorCount: 3000,
            falseMatchCount: 0, genuineCount: 100, unknownCount: 0, precision: .exact)
        return try ThresholdRelease(version: 1, previousVersion: nil, policy: "conservative-fmr",
                                    window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 1), entries: [entry])
    }

    @Test("drift: a promoted model is flagged when its false matches exceed the published FMR bound beyond chance, not before")
    func fmrBreach() throws {
        let model = "backbone:adapter-2"
        let release = try Self.thresholds(model: model, threshold: 0.6, bound: 1e-3)
        let cohort = [Self.lobby]
        // 2,000 impostor attempts at a bound of 1e-3 expect 2 false matches; 4 is within chance (P(X ≥ 4) ≈ 0.14).
        var outcomes = (0..<2000).map { Self.outcome(model, "impostor", $0 < 4 ? 0.7 : 0.1) }
        func breach(_ outcomes: [CalibrationOutcome]) -> String? {
            RolloutComparisons.fmrBreach(modelVersion: model, cohorts: cohort,
                                         tallies: RolloutComparisons.tallies(of: outcomes, modelVersion: model, cohorts: cohort, thresholds: release),
                                         thresholds: release, confidence: 0.95)
        }
        #expect(breach(outcomes) == nil)
        // 8 is not (P(X ≥ 8) ≈ 0.001).
        outcomes = (0..<2000).map { Self.outcome(model, "impostor", $0 < 8 ? 0.7 : 0.1) }
        let found = breach(outcomes)
        #expect(found?.contains("8 false matches in 2000 impostor attempts") == true, "\(found ?? "nil")")
        // Other models' and other cohorts' outcomes do not count.
        let others = outcomes.map { Self.outcome(Self.backbone, $0.label, $0.score) } + outcomes.map { Self.outcome(model, $0.label, $0.score, site: "annex") }
        #expect(breach(others) == nil)
    }

    /// Paired outcomes of one cohort: 30 subjects × (40 impostor + 10 genuine) attempts, the
    /// candidate's genuine scores shifted by `genuineShift` against the current model's.
    static func pairedOutcomes(site: String, camera: String, current: String, candidate: String, genuineShift: Double,
                               candidateDecides: Bool = false) -> [CalibrationOutcome] {
        var outcomes: [CalibrationOutcome] = []
        var state: UInt64 = 7
        func unit() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        for subject in 0..<30 {
            let pseudonym = String(format: "%064x", subject)
            for index in 0..<50 {
                let genuine = index < 10
                let base = genuine ? 0.55 + 0.2 * unit() : 0.4 * unit()
                let other = genuine ? base + genuineShift : base
                let (decided, shadowed) = candidateDecides ? (other, base) : (base, other)
                outcomes.append(CalibrationOutcome(
                    modelVersion: candidateDecides ? candidate : current, site: site, cameraModel: camera,
                    label: genuine ? "genuine" : "impostor", score: decided, attemptedAt: now, subjectPseudonym: pseudonym,
                    shadowModelVersion: candidateDecides ? current : candidate, shadowScore: shadowed))
            }
        }
        return outcomes
    }

    static func entry(_ model: String, camera: String, site: String, threshold: Double) -> CohortThreshold {
        CohortThreshold(cohort: CohortKey(modelVersion: model, cameraModel: camera, cohort: site), fallbackLevel: .cohort,
                        targetFMR: 1e-2, threshold: threshold, estimatedFMR: 0, fmrUpperBound: 1e-2, confidence: 0.95,
                        estimatedFNMR: nil, impostorCount: 1200, falseMatchCount: 0, genuineCount: 300, unknownCount: 0, precision: .exact)
    }

    @Test("comparison: outcomes pair by attempt whichever model decided; each model at its own published threshold; a cohort without a candidate threshold is insufficient data")
    func comparison() throws {
        let candidate = "backbone:adapter-3"
        let outcomes = Self.pairedOutcomes(site: "lobby", camera: "cam-a", current: Self.backbone, candidate: candidate, genuineShift: 0.15)
            + Self.pairedOutcomes(site: "annex", camera: "cam-b", current: Self.backbone, candidate: candidate, genuineShift: -0.15,
                                  candidateDecides: true)
            + Self.pairedOutcomes(site: "hall", camera: "cam-a", current: Self.backbone, candidate: candidate, genuineShift: 0.15)
            + [Self.outcome(Self.backbone, "genuine", 0.9)]  // no shadow score: not paired
        let entries = ["lobby": "cam-a", "annex": "cam-b"].flatMap { site, camera in
            [Self.entry(Self.backbone, camera: camera, site: site, threshold: 0.7), Self.entry(candidate, camera: camera, site: site, threshold: 0.7)]
        } + [Self.entry(Self.backbone, camera: "cam-a", site: "hall", threshold: 0.7)]
        let release = try ThresholdRelease(version: 4, previousVersion: nil, policy: "conservative-fmr",
                                           window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 1), entries: entries)
        let cohorts = try RolloutComparisons.compare(candidate: candidate, outcomes: outcomes, releaseVersions: [candidate: 3],
                                                     thresholds: release, targetFMR: 1e-2,
                                                     settings: RolloutSettings(targetFMR: 1e-2, bootstrapResamples: 200))
        let byCohort = Dictionary(uniqueKeysWithValues: cohorts.map { ($0.cohort.site, $0) })
        #expect(cohorts.count == 3)
        let lobby = try #require(byCohort["lobby"])
        #expect(lobby.verdict == .better, "\(lobby.reason)")
        #expect(lobby.figures?.genuineAttempts == 300)
        #expect(lobby.figures?.subjects == 30)
        #expect((lobby.figures?.candidateBetter ?? 0) > 0 && lobby.figures?.candidateWorse == 0)
        let annex = try #require(byCohort["annex"])
        #expect(annex.currentModelVersion == Self.backbone, "on a canary kiosk the shadow score is the current model's")
        #expect(annex.verdict == .worse, "\(annex.reason)")
        #expect((annex.figures?.candidateWorse ?? 0) > 0 && annex.figures?.candidateBetter == 0)
        let hall = try #require(byCohort["hall"])
        #expect(hall.verdict == .insufficientData)
        #expect(hall.reason.contains("no published threshold for \(candidate)"), "\(hall.reason)")
        let comparison = RolloutComparison(releaseVersion: 3, thresholdReleaseVersion: 4, targetFMR: 1e-2, confidence: 0.95, margin: 0.01,
                                           computedAt: Self.now, cohorts: cohorts)
        #expect(ModelRolloutService.offeredCohorts(comparison) == [RolloutCohort(cameraModel: "cam-a", site: "lobby")])
    }
}
