import Calibration
import FederationAPI
import FeedbackWire
import Storage

/// Stored outcomes turned into the paired comparisons and FMR checks of a rollout. An outcome
/// pairs two models when one of them decided and the other was scored in shadow on the same
/// attempt: in shadow, the model in use decided; on a canary kiosk, the candidate did.
enum RolloutComparisons {
    /// Two models that scored the same attempts of one cohort.
    struct Pairing: Hashable, Comparable {
        var candidateModelVersion: String
        var cohort: RolloutCohortRef
        var currentModelVersion: String

        static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.cohort, lhs.currentModelVersion, lhs.candidateModelVersion) < (rhs.cohort, rhs.currentModelVersion, rhs.candidateModelVersion)
        }
    }

    /// Labelled attempts that two models scored, by pairing. For `shadow`, whichever of the two
    /// decided, the candidate is the later release (`releaseVersions` by model version; a model
    /// version of no release, the backbone, counts as release 0), so a release keeps the
    /// attempts of its own rollout after a later release starts scoring in shadow beside it.
    /// Each entry of `shadow_scores` (a policy search's candidate) pairs with the model that
    /// decided, the candidate being the entry's: one attempt per candidate that scored it.
    static func pairedAttempts(_ outcomes: [CalibrationOutcome], releaseVersions: [String: Int]) -> [Pairing: [PairedAttempt]] {
        var pairs: [Pairing: [PairedAttempt]] = [:]
        for outcome in outcomes {
            guard let label = ScoreLabel(rawValue: outcome.label), label != .unknown else { continue }
            let cohort = RolloutCohortRef(site: outcome.site, cameraModel: outcome.cameraModel)
            for candidate in outcome.shadowScores {
                pairs[Pairing(candidateModelVersion: candidate.modelVersion, cohort: cohort, currentModelVersion: outcome.modelVersion),
                      default: []]
                    .append(PairedAttempt(subject: outcome.subjectPseudonym, label: label, currentScore: outcome.score,
                                          candidateScore: candidate.score))
            }
            guard let shadowVersion = outcome.shadowModelVersion, let shadowScore = outcome.shadowScore else { continue }
            let shadowIsCandidate = releaseVersions[shadowVersion, default: 0] >= releaseVersions[outcome.modelVersion, default: 0]
            let pairing = Pairing(
                candidateModelVersion: shadowIsCandidate ? shadowVersion : outcome.modelVersion, cohort: cohort,
                currentModelVersion: shadowIsCandidate ? outcome.modelVersion : shadowVersion)
            pairs[pairing, default: []].append(PairedAttempt(
                subject: outcome.subjectPseudonym, label: label,
                currentScore: shadowIsCandidate ? outcome.score : shadowScore, candidateScore: shadowIsCandidate ? shadowScore : outcome.score))
        }
        return pairs
    }

    /// One comparison per cohort and current model of `candidate`, sorted by cohort.
    static func compare(candidate: String, outcomes: [CalibrationOutcome], releaseVersions: [String: Int], thresholds: ThresholdRelease?,
                        targetFMR: Double, settings: RolloutSettings) throws -> [CohortComparison] {
        let groups = pairedAttempts(outcomes, releaseVersions: releaseVersions).filter { $0.key.candidateModelVersion == candidate }
        let bootstrap = try SubjectBootstrap(resamples: settings.bootstrapResamples, confidence: settings.confidence,
                                             seed: settings.bootstrapSeed)
        return try groups.keys.sorted().map { group in
            let attempts = groups[group] ?? []
            func threshold(_ modelVersion: String) -> Double? {
                thresholds?.entry(for: CohortKey(modelVersion: modelVersion, cameraModel: group.cohort.cameraModel,
                                                 cohort: group.cohort.site))?.threshold
            }
            let current = threshold(group.currentModelVersion)
            let candidateThreshold = threshold(candidate)
            guard let current, let candidateThreshold else {
                let missing = [current == nil ? group.currentModelVersion : nil, candidateThreshold == nil ? candidate : nil]
                    .compactMap { $0 }.joined(separator: " and ")
                return CohortComparison(cohort: group.cohort, currentModelVersion: group.currentModelVersion, candidateModelVersion: candidate,
                                        currentThreshold: current, candidateThreshold: candidateThreshold, figures: nil,
                                        verdict: .insufficientData,
                                        reason: "no published threshold for \(missing) in this cohort; compute and publish thresholds from the shadow scores first")
            }
            let result = try PairedComparison(attempts: attempts, currentThreshold: current, candidateThreshold: candidateThreshold,
                                              targetFMR: targetFMR, confidence: settings.confidence, margin: settings.fnmrMargin,
                                              bootstrap: bootstrap)
            return CohortComparison(cohort: group.cohort, currentModelVersion: group.currentModelVersion, candidateModelVersion: candidate,
                                    currentThreshold: current, candidateThreshold: candidateThreshold, figures: figures(result),
                                    verdict: verdict(result.decision), reason: result.reason)
        }
    }

    /// The figures, when there were genuine and impostor attempts to compute them from.
    static func figures(_ result: PairedComparison) -> PairedFigures? {
        guard let currentFNMR = result.currentFNMR, let candidateFNMR = result.candidateFNMR,
              let difference = result.fnmrDifference, let lower = result.fnmrDifferenceLowerBound,
              let upper = result.fnmrDifferenceUpperBound, let currentFMR = result.currentFMR, let candidateFMR = result.candidateFMR,
              let currentBound = result.currentFMRUpperBound, let candidateBound = result.candidateFMRUpperBound else { return nil }
        return PairedFigures(
            genuineAttempts: result.genuineAttempts, impostorAttempts: result.impostorAttempts, subjects: result.subjects,
            currentFNMR: currentFNMR, candidateFNMR: candidateFNMR, candidateWorse: result.candidateWorse,
            candidateBetter: result.candidateBetter, mcnemarPValue: result.mcnemarPValue, fnmrDifference: difference,
            fnmrDifferenceLower: lower, fnmrDifferenceUpper: upper, currentFMR: currentFMR, candidateFMR: candidateFMR,
            currentFMRUpperBound: currentBound, candidateFMRUpperBound: candidateBound)
    }

    static func verdict(_ decision: PairedComparison.Decision) -> CohortVerdict {
        switch decision {
        case .better: return .better
        case .notWorse: return .notWorse
        case .worse: return .worse
        case .inconclusive: return .inconclusive
        case .insufficientData: return .insufficientData
        }
    }

    /// Impostor attempts of a model in one cohort, and those at or above its threshold.
    struct ImpostorTally: Equatable {
        var impostors = 0
        var falseMatches = 0
    }

    /// Per cohort of `cohorts` with a threshold for `modelVersion` in `thresholds`: the
    /// outcomes where `modelVersion` decided that are impostor attempts, and those at or above
    /// the threshold.
    static func tallies(of outcomes: [CalibrationOutcome], modelVersion: String, cohorts: [RolloutCohort],
                        thresholds: ThresholdRelease) -> [RolloutCohort: ImpostorTally] {
        var tallies: [RolloutCohort: ImpostorTally] = [:]
        for cohort in cohorts {
            guard let entry = thresholds.entry(for: CohortKey(modelVersion: modelVersion, cameraModel: cohort.cameraModel, cohort: cohort.site))
            else { continue }
            let impostors = outcomes.filter {
                $0.modelVersion == modelVersion && $0.site == cohort.site && $0.cameraModel == cohort.cameraModel && $0.label == "impostor"
            }
            tallies[cohort] = ImpostorTally(impostors: impostors.count, falseMatches: impostors.count { $0.score >= entry.threshold })
        }
        return tallies
    }

    /// The first cohort where `modelVersion` falsely matched more impostors than its published
    /// FMR bound allows at `confidence` (a one-sided exact binomial test), described.
    static func fmrBreach(modelVersion: String, cohorts: [RolloutCohort], tallies: [RolloutCohort: ImpostorTally], thresholds: ThresholdRelease,
                          confidence: Double) -> String? {
        for cohort in cohorts.sorted() {
            guard let entry = thresholds.entry(for: CohortKey(modelVersion: modelVersion, cameraModel: cohort.cameraModel, cohort: cohort.site)),
                  let tally = tallies[cohort] else { continue }
            let bound = max(entry.fmrUpperBound, entry.subjectFMRUpperBound ?? 0)
            guard tally.impostors > 0,
                  Binomial.probabilityAtLeast(tally.falseMatches, trials: tally.impostors, probability: bound) < 1 - confidence else { continue }
            return "\(cohort.cameraModel) at \(cohort.site): \(tally.falseMatches) false matches in \(tally.impostors) impostor attempts "
                + "at threshold \(entry.threshold), above the FMR bound \(bound) at confidence \(confidence)"
        }
        return nil
    }
}
