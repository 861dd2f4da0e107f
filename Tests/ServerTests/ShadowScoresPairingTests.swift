import Calibration
import FederationAPI
import FeedbackWire
import Foundation
@testable import Server
import Storage
import Testing

/// A policy search's candidates reach the rollout comparison through `shadow_scores`: each
/// entry is one attempt of its candidate, paired with the model that decided it.
@Suite("Shadow scores pair with the deciding model")
struct ShadowScoresPairingTests {
    static let lobby = RolloutCohortRef(site: "lobby", cameraModel: "cam-a")
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func outcome(_ label: String, score: Double, subject: String, model: String = "release-1",
                        shadow: (String, Double)? = nil, candidates: [(String, Double)]) -> CalibrationOutcome {
        CalibrationOutcome(modelVersion: model, site: lobby.site, cameraModel: lobby.cameraModel, label: label, score: score,
                           attemptedAt: now, subjectPseudonym: subject, shadowModelVersion: shadow?.0, shadowScore: shadow?.1,
                           shadowScores: candidates.map { MatchOutcome.ShadowScore(modelVersion: $0.0, score: $0.1) })
    }

    @Test("every shadow_scores entry is one attempt of its candidate against the deciding model's score; shadow pairs as before; unknown labels pair nothing")
    func pairsEveryEntry() {
        let outcomes = [
            Self.outcome("genuine", score: 0.61, subject: "anna", shadow: ("release-2", 0.64), candidates: [("policy-a", 0.70), ("policy-b", 0.58)]),
            Self.outcome("impostor", score: 0.21, subject: "ben", candidates: [("policy-b", 0.19)]),
            Self.outcome("unknown", score: 0.40, subject: "cleo", candidates: [("policy-a", 0.45)]),
            // A release older than the one deciding: shadow's rule makes the decider the candidate,
            // while a policy candidate is always the entry's model.
            Self.outcome("genuine", score: 0.55, subject: "dan", model: "release-3", shadow: ("release-2", 0.50),
                         candidates: [("policy-a", 0.52)]),
        ]
        let pairs = RolloutComparisons.pairedAttempts(outcomes, releaseVersions: ["release-1": 1, "release-2": 2, "release-3": 3,
                                                                                 "policy-a": 4, "policy-b": 5])
        func pairing(_ candidate: String, _ current: String) -> RolloutComparisons.Pairing {
            .init(candidateModelVersion: candidate, cohort: Self.lobby, currentModelVersion: current)
        }
        #expect(pairs[pairing("policy-a", "release-1")] == [
            PairedAttempt(subject: "anna", label: .genuine, currentScore: 0.61, candidateScore: 0.70),
        ])
        #expect(pairs[pairing("policy-b", "release-1")] == [
            PairedAttempt(subject: "anna", label: .genuine, currentScore: 0.61, candidateScore: 0.58),
            PairedAttempt(subject: "ben", label: .impostor, currentScore: 0.21, candidateScore: 0.19),
        ])
        #expect(pairs[pairing("policy-a", "release-3")] == [
            PairedAttempt(subject: "dan", label: .genuine, currentScore: 0.55, candidateScore: 0.52),
        ])
        #expect(pairs[pairing("release-2", "release-1")] == [
            PairedAttempt(subject: "anna", label: .genuine, currentScore: 0.61, candidateScore: 0.64),
        ])
        #expect(pairs[pairing("release-3", "release-2")] == [
            PairedAttempt(subject: "dan", label: .genuine, currentScore: 0.50, candidateScore: 0.55),
        ])
        #expect(pairs.count == 5, "\(pairs.keys.sorted())")
    }

    @Test("compare(candidate:) for a policy candidate reads its shadow_scores entries, each model at its own published threshold")
    func comparesACandidate() throws {
        // 30 subjects, each with 10 genuine attempts the candidate saves (0.45 → 0.60 across
        // the threshold of 0.5) and 40 impostor attempts both models reject.
        let outcomes = (0..<30).flatMap { index -> [CalibrationOutcome] in
            let subject = String(format: "%064x", index)
            return (0..<10).map { _ in Self.outcome("genuine", score: 0.45, subject: subject, candidates: [("policy-a", 0.60)]) }
                + (0..<40).map { _ in Self.outcome("impostor", score: 0.10, subject: subject, candidates: [("policy-a", 0.12)]) }
        }
        let entries = ["release-1", "policy-a"].map {
            ModelRolloutRuleTests.entry($0, camera: Self.lobby.cameraModel, site: Self.lobby.site, threshold: 0.5)
        }
        let release = try ThresholdRelease(version: 4, previousVersion: nil, policy: "conservative-fmr",
                                           window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 1), entries: entries)
        let cohorts = try RolloutComparisons.compare(candidate: "policy-a", outcomes: outcomes,
                                                     releaseVersions: ["release-1": 1, "policy-a": 2], thresholds: release,
                                                     targetFMR: 1e-2, settings: RolloutSettings(targetFMR: 1e-2, bootstrapResamples: 200))
        #expect(cohorts.count == 1)
        let cohort = try #require(cohorts.first)
        #expect(cohort.currentModelVersion == "release-1" && cohort.candidateModelVersion == "policy-a")
        #expect(cohort.verdict == .better, "\(cohort.reason)")
        let figures = try #require(cohort.figures)
        #expect(figures.genuineAttempts == 300 && figures.impostorAttempts == 1200 && figures.subjects == 30)
        #expect(figures.currentFNMR == 1 && figures.candidateFNMR == 0 && figures.candidateBetter == 300)
    }
}
