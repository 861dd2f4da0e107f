import Calibration
import Charts
import FederationAPI
import FeedbackWire
import Foundation
import Storage
import ThresholdAPI
import WebPages

extension WebRoutes {
    typealias RolloutPairKey = RolloutComparisons.Pairing

    struct PairedScores {
        var current: [(score: Double, label: ScoreLabel)] = []
        var candidate: [(score: Double, label: ScoreLabel)] = []
        var subjects: Set<String> = []
    }

    static let currentCurveColor = "#1f4e99"
    static let candidateCurveColor = "#c2410c"

    /// Both models' labelled scores of each pairing (`RolloutComparisons.pairedAttempts`), for
    /// the DET curves, and the subjects behind them.
    static func pairedScores(_ outcomes: [CalibrationOutcome], releaseVersions: [String: Int]) -> [RolloutPairKey: PairedScores] {
        RolloutComparisons.pairedAttempts(outcomes, releaseVersions: releaseVersions).mapValues { attempts in
            PairedScores(current: attempts.map { ($0.currentScore, $0.label) }, candidate: attempts.map { ($0.candidateScore, $0.label) },
                         subjects: Set(attempts.map(\.subject).filter { !$0.isEmpty }))
        }
    }

    /// Whether a rollout's paired attempts are charted: while it is in shadow or canary, when
    /// the next step is decided on them. Later the stored comparison's figures stand alone.
    static func chartsPairedAttempts(_ state: RolloutState) -> Bool {
        state == .shadow || state == .canary
    }

    /// Where the charted rollouts' paired attempts start: the first shadow approval among them,
    /// a day early for kiosk clocks behind the server's; nil when no rollout is charted.
    static func chartedSince(_ rollouts: [StoredModelRollout]) -> Date? {
        rollouts.filter { chartsPairedAttempts($0.state) }
            .map { rollout in (rollout.approvals.first { $0.step == .shadow }?.at ?? rollout.updatedAt).addingTimeInterval(-86_400) }
            .min()
    }

    /// Every release past `candidate`, newest first: its stage, cohorts, canary and approvals,
    /// and per cohort where it was paired with the model in use, the stored comparison's
    /// figures and, while it is charted, both models' DET curves on the same attempts with
    /// their published thresholds.
    static func rolloutSection(rollouts: [StoredModelRollout], modelVersions: [Int: String], outcomes: [CalibrationOutcome],
                               published: ThresholdReleaseView?) throws -> [CalibrationPage.Rollout] {
        let releaseVersions = Dictionary(modelVersions.map { ($0.value, $0.key) }, uniquingKeysWith: max)
        let paired = pairedScores(outcomes, releaseVersions: releaseVersions)
        var section: [CalibrationPage.Rollout] = []
        for rollout in rollouts.sorted(by: { $0.version > $1.version }) where rollout.state != .candidate {
            guard let modelVersion = modelVersions[rollout.version] else { continue }
            var comparison: RolloutComparison?
            var comparisonError: String?
            if !rollout.comparison.isEmpty {
                do {
                    comparison = try WireJSON.decoder().decode(RolloutComparison.self, from: Data(rollout.comparison))
                } catch {
                    // One unreadable record should not take the whole page down; it is shown instead.
                    comparisonError = "the stored comparison could not be read: \(error)"
                }
            }
            let charted = chartsPairedAttempts(rollout.state) ? paired.filter { $0.key.candidateModelVersion == modelVersion } : [:]
            var keys = Set(charted.keys)
            for cohort in comparison?.cohorts ?? [] {
                keys.insert(RolloutPairKey(candidateModelVersion: modelVersion, cohort: cohort.cohort,
                                           currentModelVersion: cohort.currentModelVersion))
            }
            let pairs = try keys.sorted().map { key in
                try pairedCohort(key, scores: charted[key] ?? PairedScores(), releaseVersions: releaseVersions, published: published,
                                 comparison: comparison?.cohorts.first {
                                     $0.cohort == key.cohort && $0.currentModelVersion == key.currentModelVersion
                                 })
            }
            let fleetApprovals = rollout.approvals.count { $0.step == .fleet }
            section.append(CalibrationPage.Rollout(
                version: rollout.version, modelVersion: modelVersion, stage: rollout.state.rawValue,
                stageLabel: rollout.state.rawValue.replacingOccurrences(of: "_", with: " "), updated: Format.time(rollout.updatedAt),
                promotedCohorts: rollout.cohorts.map { "\($0.cameraModel) · \($0.site)" },
                canary: canary(rollout),
                approvals: rollout.approvals.map { "\($0.step.rawValue) by \($0.actor), \(Format.time($0.at))" },
                fleetApprovals: rollout.state == .canary || rollout.state == .fleet
                    ? "\(fleetApprovals) of \(RolloutSettings.fleetApprovals)" : nil,
                reason: rollout.reason, comparison: comparison.map(summary), comparisonError: comparisonError, pairs: pairs))
        }
        return section
    }

    private static func canary(_ rollout: StoredModelRollout) -> String? {
        if !rollout.canaryDevices.isEmpty { return rollout.canaryDevices.joined(separator: ", ") }
        return rollout.canaryPercent.map { "\(Format.decimal($0)) % of kiosks, chosen by a stable hash of the device id" }
    }

    private static func summary(_ comparison: RolloutComparison) -> String {
        let thresholds = switch comparison.thresholds {
        case .thresholdRelease: comparison.thresholdReleaseVersion.map { "threshold release v\($0)" } ?? "no published threshold release"
        case .exactAtTarget: "each model's exact threshold at that FMR on the attempts both scored"
        }
        return "computed \(Format.time(comparison.computedAt)) at target FMR \(Format.percent(comparison.targetFMR)) with \(thresholds), "
            + "confidence \(Format.percent(comparison.confidence)), FNMR margin \(Format.percent(comparison.margin))"
    }

    private static func pairedCohort(_ key: RolloutPairKey, scores: PairedScores, releaseVersions: [String: Int],
                                     published: ThresholdReleaseView?, comparison: CohortComparison?) throws -> CalibrationPage.PairedCohort {
        let models = [
            (role: "current", modelVersion: key.currentModelVersion, scores: scores.current, color: currentCurveColor, dashed: false),
            (role: "candidate", modelVersion: key.candidateModelVersion, scores: scores.candidate, color: candidateCurveColor, dashed: true),
        ]
        var rows: [CalibrationPage.ModelThreshold] = []
        var series: [DETChart.Series] = []
        var markers: [ThresholdMarker] = []
        var genuine = 0, impostors = 0
        for model in models {
            let statistics = try ScoreStatistics(layout: ThresholdService.layout, outcomes: model.scores)
            genuine = statistics.genuineCount
            impostors = statistics.impostorCount
            let plottable = genuine > 0 && impostors > 0
            let entry = published?.release.entry(
                for: CohortKey(modelVersion: model.modelVersion, cameraModel: key.cohort.cameraModel, cohort: key.cohort.site))
            let rates = try entry.flatMap { entry in plottable ? try statistics.rates(at: entry.threshold) : nil }
            rows.append(CalibrationPage.ModelThreshold(
                role: model.role, modelVersion: model.modelVersion, threshold: entry.map { Format.score($0.threshold) },
                falseMatchRate: rates.map { rate($0.falseMatch) } ?? "n/a", falseNonMatchRate: rates.map { rate($0.falseNonMatch) } ?? "n/a"))
            guard plottable else { continue }
            let name = releaseVersions[model.modelVersion].map { "release \($0)" } ?? shortened(model.modelVersion)
            series.append(DETChart.Series(
                label: "\(model.role): \(name)", color: model.color, dashed: model.dashed,
                points: try statistics.rocPoints().map { DETChart.Point(falseMatchRate: $0.falseMatchRate, falseNonMatchRate: $0.falseNonMatchRate) }))
            if let entry, let published, let rates {
                markers.append(ThresholdMarker(
                    kind: .released, label: "\(model.role) threshold v\(published.version): \(Format.score(entry.threshold))",
                    threshold: entry.threshold, falseMatchRate: rates.falseMatch.lower, falseNonMatchRate: rates.falseNonMatch.lower,
                    color: model.color))
            }
        }
        let title = "DET curves, \(key.cohort.cameraModel) \(key.cohort.site): \(key.currentModelVersion) and \(key.candidateModelVersion)"
        return CalibrationPage.PairedCohort(
            key: "\(key.cohort.cameraModel)/\(key.cohort.site)/\(key.currentModelVersion)", cameraModel: key.cohort.cameraModel,
            site: key.cohort.site, currentModelVersion: key.currentModelVersion, candidateModelVersion: key.candidateModelVersion,
            genuine: genuine, impostors: impostors, subjects: scores.subjects.count, thresholds: rows,
            detSVG: series.isEmpty ? nil : DETChart(title: title, series: series, markers: markers).svg(),
            test: comparison.map(pairedTest))
    }

    private static func pairedTest(_ comparison: CohortComparison) -> CalibrationPage.PairedTest {
        CalibrationPage.PairedTest(
            verdict: comparison.verdict.rawValue, offersPromotion: comparison.verdict.offersPromotion, reason: comparison.reason,
            figures: comparison.figures.map { figures in
                let thresholds = [comparison.currentThreshold, comparison.candidateThreshold].map { $0.map(Format.score) ?? "none" }
                return CalibrationPage.PairedFigures(
                    attempts: "\(figures.genuineAttempts) genuine, \(figures.impostorAttempts) impostor, \(figures.subjects) subjects",
                    thresholds: "\(thresholds[0]) → \(thresholds[1])",
                    currentFNMR: Format.percent(figures.currentFNMR), candidateFNMR: Format.percent(figures.candidateFNMR),
                    fnmrDifference: "\(Format.signedPercent(figures.fnmrDifference)) (subject bootstrap "
                        + "\(Format.signedPercent(figures.fnmrDifferenceLower)) to \(Format.signedPercent(figures.fnmrDifferenceUpper)))",
                    candidateWorse: figures.candidateWorse, candidateBetter: figures.candidateBetter,
                    mcnemarPValue: Format.probability(figures.mcnemarPValue),
                    currentFMR: Format.percent(figures.currentFMR), candidateFMR: Format.percent(figures.candidateFMR),
                    currentFMRUpperBound: Format.percent(figures.currentFMRUpperBound),
                    candidateFMRUpperBound: Format.percent(figures.candidateFMRUpperBound))
            })
    }

    /// A model version short enough for a chart's legend; the page's text gives it in full.
    private static func shortened(_ modelVersion: String) -> String {
        modelVersion.count <= 30 ? modelVersion : modelVersion.prefix(29) + "…"
    }
}
