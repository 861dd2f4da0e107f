import Calibration
import FederationAPI
import FeedbackWire
import Foundation
@testable import Server
import Storage
import StrictJSON
import Testing
import ThresholdAPI

/// The calibration page's model rollouts, built from stored values without a store: which
/// attempts pair which two models, and what each rollout shows.
@Suite("Model rollouts on the calibration page, from stored values")
struct WebRolloutSectionTests {
    static let backbone = RolloutSettings.backboneModelVersion
    static let modelVersions = [2: "bb:adapter-2", 3: "bb:adapter-3", 4: "bb:adapter-4"]
    static let releaseVersions = Dictionary(uniqueKeysWithValues: modelVersions.map { ($0.value, $0.key) })
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let lobby = RolloutCohortRef(site: "lobby", cameraModel: "cam-a")

    static func outcome(_ model: String, _ score: Double, shadow: String?, _ shadowScore: Double?, label: String,
                        subject: String = "s1", site: String = "lobby") -> CalibrationOutcome {
        CalibrationOutcome(modelVersion: model, site: site, cameraModel: "cam-a", label: label, score: score, attemptedAt: now,
                           subjectPseudonym: subject, shadowModelVersion: shadow, shadowScore: shadowScore)
    }

    /// Release 3 scored in shadow beside the backbone, then deciding on a canary kiosk with the
    /// backbone in shadow; afterwards release 4 scored in shadow beside release 3.
    static let outcomes: [CalibrationOutcome] = [
        outcome(backbone, 0.7, shadow: "bb:adapter-3", 0.8, label: "genuine", subject: "s1"),
        outcome(backbone, 0.2, shadow: "bb:adapter-3", 0.1, label: "impostor", subject: "s2"),
        outcome("bb:adapter-3", 0.9, shadow: backbone, 0.6, label: "genuine", subject: "s3"),
        outcome("bb:adapter-3", 0.05, shadow: backbone, 0.3, label: "impostor", subject: "s3"),
        outcome(backbone, 0.4, shadow: "bb:adapter-3", 0.5, label: "unknown"),
        outcome(backbone, 0.4, shadow: nil, nil, label: "genuine"),
        outcome("bb:adapter-3", 0.75, shadow: "bb:adapter-4", 0.85, label: "genuine", subject: "s4"),
    ]

    @Test("the later release of the two is the candidate, whichever of them decided; unlabelled and unpaired attempts are left out")
    func pairing() {
        let pairs = WebRoutes.pairedScores(Self.outcomes, releaseVersions: Self.releaseVersions)
        #expect(Set(pairs.keys) == [
            .init(candidateModelVersion: "bb:adapter-3", cohort: Self.lobby, currentModelVersion: Self.backbone),
            .init(candidateModelVersion: "bb:adapter-4", cohort: Self.lobby, currentModelVersion: "bb:adapter-3"),
        ])
        let third = pairs[.init(candidateModelVersion: "bb:adapter-3", cohort: Self.lobby, currentModelVersion: Self.backbone)]
        #expect(third?.current.map(\.score) == [0.7, 0.2, 0.6, 0.3])
        #expect(third?.candidate.map(\.score) == [0.8, 0.1, 0.9, 0.05])
        #expect(third?.candidate.map(\.label) == [.genuine, .impostor, .genuine, .impostor])
        #expect(third?.subjects == ["s1", "s2", "s3"])
    }

    static func published() throws -> ThresholdReleaseView {
        let entry = CohortThreshold(
            cohort: CohortKey(modelVersion: backbone, cameraModel: "cam-a", cohort: "lobby"), fallbackLevel: .cohort, targetFMR: 1e-3,
            threshold: 0.5, estimatedFMR: 0, fmrUpperBound: 0.01, confidence: 0.95, estimatedFNMR: nil, impostorCount: 2,
            falseMatchCount: 0, genuineCount: 2, unknownCount: 0, precision: .exact)
        let release = try ThresholdRelease(version: 5, previousVersion: nil, policy: "conservative",
                                           window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 1), entries: [entry])
        return ThresholdReleaseView(version: 5, state: "published", release: release, refused: [], largestChange: nil, requiredApprovals: 1,
                                    approvals: [], computedAt: now, computedBy: "erin", publishedAt: now)
    }

    static func comparison() throws -> [UInt8] {
        let figures = PairedFigures(
            genuineAttempts: 2, impostorAttempts: 2, subjects: 3, currentFNMR: 0.5, candidateFNMR: 0, candidateWorse: 0, candidateBetter: 1,
            mcnemarPValue: 1, fnmrDifference: -0.5, fnmrDifferenceLower: -1, fnmrDifferenceUpper: 0, currentFMR: 0, candidateFMR: 0,
            currentFMRUpperBound: 0.78, candidateFMRUpperBound: 0.78)
        let comparison = RolloutComparison(
            releaseVersion: 3, thresholdReleaseVersion: 5, targetFMR: 1e-3, confidence: 0.95, margin: 0.01, computedAt: now, cohorts: [
                CohortComparison(cohort: lobby, currentModelVersion: backbone, candidateModelVersion: "bb:adapter-3", currentThreshold: 0.5,
                                 candidateThreshold: 0.55, figures: figures, verdict: .inconclusive, reason: "too few attempts"),
                CohortComparison(cohort: RolloutCohortRef(site: "annex", cameraModel: "cam-b"), currentModelVersion: backbone,
                                 candidateModelVersion: "bb:adapter-3", currentThreshold: nil, candidateThreshold: nil, figures: nil,
                                 verdict: .insufficientData, reason: "no genuine attempt"),
            ])
        return [UInt8](try WireJSON.encoder().encode(comparison))
    }

    @Test("releases past candidate, newest first, with one two-curve chart per paired cohort and the stored test's figures")
    func section() throws {
        let rollouts = [
            StoredModelRollout(version: 2, state: .candidate, updatedAt: Self.now),
            StoredModelRollout(version: 3, state: .canary, cohorts: [RolloutCohort(cameraModel: "cam-a", site: "lobby")],
                               canaryPercent: 12.5, approvals: [
                                   RolloutApproval(step: .shadow, tokenID: "t1", actor: "erin", at: Self.now),
                                   RolloutApproval(step: .canary, tokenID: "t2", actor: "sam", at: Self.now),
                                   RolloutApproval(step: .fleet, tokenID: "t1", actor: "erin", at: Self.now),
                               ], comparison: try Self.comparison(), updatedAt: Self.now),
            StoredModelRollout(version: 4, state: .rolledBack, comparison: Array("not json".utf8), reason: "FNMR rose", updatedAt: Self.now),
        ]
        let section = try WebRoutes.rolloutSection(rollouts: rollouts, modelVersions: Self.modelVersions, outcomes: Self.outcomes,
                                                   published: try Self.published())
        #expect(section.map(\.version) == [4, 3])

        let rolledBack = try #require(section.first)
        #expect(rolledBack.stageLabel == "rolled back" && rolledBack.reason == "FNMR rose" && rolledBack.fleetApprovals == nil)
        #expect(rolledBack.comparisonError?.hasPrefix("the stored comparison could not be read") == true)
        #expect(rolledBack.pairs.isEmpty, "a rolled-back release is not charted, and its unreadable comparison names no cohort")

        let canary = try #require(section.last)
        #expect(canary.promotedCohorts == ["cam-a · lobby"])
        #expect(canary.canary == "12.5 % of kiosks, chosen by a stable hash of the device id")
        #expect(canary.fleetApprovals == "1 of 2")
        #expect(canary.approvals.count == 3 && canary.approvals[1].hasPrefix("canary by sam"))
        #expect(canary.comparison?.contains("threshold release v5") == true)
        #expect(canary.pairs.map(\.key) == ["cam-b/annex/\(Self.backbone)", "cam-a/lobby/\(Self.backbone)"])

        let lobby = try #require(canary.pairs.last)
        #expect(lobby.genuine == 2 && lobby.impostors == 2 && lobby.subjects == 3)
        let svg = try #require(lobby.detSVG)
        #expect(svg.components(separatedBy: "<polyline class=\"curve\"").count - 1 == 2)
        #expect(svg.contains(">current: \(Self.backbone.prefix(29))…</text>") && svg.contains(">candidate: release 3</text>"))
        #expect(svg.components(separatedBy: "class=\"threshold\"").count - 1 == 1, "only the current model has a published threshold")
        #expect(lobby.thresholds.map(\.threshold) == ["0.5", nil])
        // The current model scored the genuine attempts 0.7 and 0.6 and the impostors 0.2 and 0.3: no error at 0.5.
        #expect(lobby.thresholds.first?.falseMatchRate == "0 %" && lobby.thresholds.first?.falseNonMatchRate == "0 %")
        let test = try #require(lobby.test)
        #expect(test.verdict == "inconclusive" && !test.offersPromotion)
        #expect(test.figures?.currentFNMR == "50 %" && test.figures?.candidateFNMR == "0 %")
        #expect(test.figures?.candidateWorse == 0 && test.figures?.candidateBetter == 1 && test.figures?.mcnemarPValue == "1")
        #expect(test.figures?.fnmrDifference == "-50 % (subject bootstrap -100 % to 0 %)")
        #expect(test.figures?.thresholds == "0.5 → 0.55")

        let annex = try #require(canary.pairs.first)
        #expect(annex.detSVG == nil && annex.genuine == 0, "in the comparison but without paired scores stored now")
        #expect(annex.test?.verdict == "insufficient_data" && annex.test?.figures == nil)
    }

    @Test("a release in fleet keeps its stored comparison's cohorts and figures, without curves, though paired attempts are stored")
    func fleetNotCharted() throws {
        let rollouts = [StoredModelRollout(version: 3, state: .fleet, cohorts: [RolloutCohort(cameraModel: "cam-a", site: "lobby")],
                                           comparison: try Self.comparison(), updatedAt: Self.now)]
        let section = try WebRoutes.rolloutSection(rollouts: rollouts, modelVersions: Self.modelVersions, outcomes: Self.outcomes,
                                                   published: try Self.published())
        let fleet = try #require(section.first)
        #expect(fleet.pairs.map(\.key) == ["cam-b/annex/\(Self.backbone)", "cam-a/lobby/\(Self.backbone)"])
        #expect(fleet.pairs.allSatisfy { $0.detSVG == nil && $0.genuine == 0 && $0.impostors == 0 })
        #expect(fleet.pairs.last?.test?.verdict == "inconclusive")
    }

    @Test("the page reads paired attempts from the first shadow approval of a release in shadow or canary, a day early; none without one")
    func chartedSince() {
        let shadowed = Self.now.addingTimeInterval(-10 * 86_400)
        func rollout(_ version: Int, _ state: RolloutState, shadowAt: Date?) -> StoredModelRollout {
            StoredModelRollout(version: version, state: state,
                               approvals: shadowAt.map { [RolloutApproval(step: .shadow, tokenID: "t", actor: "erin", at: $0)] } ?? [],
                               updatedAt: Self.now)
        }
        #expect(WebRoutes.chartedSince([]) == nil)
        #expect(WebRoutes.chartedSince([rollout(2, .candidate, shadowAt: nil), rollout(3, .fleet, shadowAt: shadowed.addingTimeInterval(-86_400)),
                                        rollout(4, .rolledBack, shadowAt: shadowed)]) == nil, "nothing in shadow or canary")
        #expect(WebRoutes.chartedSince([rollout(3, .canary, shadowAt: shadowed), rollout(4, .shadow, shadowAt: Self.now),
                                        rollout(5, .fleet, shadowAt: shadowed.addingTimeInterval(-30 * 86_400))])
                == shadowed.addingTimeInterval(-86_400))
        #expect(WebRoutes.chartedSince([rollout(4, .shadow, shadowAt: nil)]) == Self.now.addingTimeInterval(-86_400),
                "a rollout stored without its shadow approval: from its last step")
    }

    @Test("a policy search's proposal names each model's exact threshold; a comparison stored before `thresholds` reads as a threshold release's")
    func comparisonThresholds() throws {
        var comparison = try WireJSON.decoder().decode(RolloutComparison.self, from: Data(try Self.comparison()))
        comparison.thresholds = .exactAtTarget
        comparison.thresholdReleaseVersion = nil
        let rollouts = [StoredModelRollout(version: 3, state: .canary, cohorts: [RolloutCohort(cameraModel: "cam-a", site: "lobby")],
                                           canaryPercent: 100, comparison: [UInt8](try WireJSON.encoder().encode(comparison)),
                                           updatedAt: Self.now)]
        let section = try WebRoutes.rolloutSection(rollouts: rollouts, modelVersions: Self.modelVersions, outcomes: Self.outcomes,
                                                   published: try Self.published())
        let summary = try #require(section.first?.comparison)
        #expect(summary.contains("each model's exact threshold at that FMR on the attempts both scored") && !summary.contains("threshold release"))

        guard case let .object(members) = try JSONValue.parse(try Self.comparison()) else {
            Issue.record("the comparison is not a JSON object")
            return
        }
        let stored = JSONValue.object(members.filter { $0.key != "thresholds" })
        let old = try WireJSON.decoder().decode(RolloutComparison.self, from: Data(stored.serializedString.utf8))
        #expect(old.thresholds == .thresholdRelease && old.thresholdReleaseVersion == 5)
    }
}
