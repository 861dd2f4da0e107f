import Calibration

/// The threshold a threshold release publishes for one model in one cohort, from that model's
/// impostor scores and the subjects they claimed: the server's own computation
/// (`ThresholdReleasePlan` with the exact-at-target policy and `SubjectBootstrap.thresholdReleases`,
/// as `faceloop thresholds compute --policy exact-at-target` runs it), so that with
/// `--rank-at-release-thresholds` the search ranks its candidates at the thresholds the
/// server's search ranks them at. The subjects bootstrap
/// raises bob's `far_threshold` where a few claimed subjects collect most false matches.
enum ReleaseThreshold {
    static func threshold(impostors: [Double], subjects: [String], targetFMR: Double) throws -> Double {
        let layout = CohortStatistics.liveLayout
        var statistics = CohortStatistics(layout: layout)
        for (score, subject) in zip(impostors, subjects) {
            try statistics.add(score: score, label: .impostor, subject: subject)
        }
        let key = CohortKey(modelVersion: "simulated", cameraModel: "simulated", cohort: "simulated")
        let plan = try ThresholdReleasePlan(statistics: [key: PackedCohortStatistics(statistics)], targetFMR: targetFMR,
                                            policy: try ExactAtTargetPolicy(), layout: layout,
                                            subjectBootstrap: SubjectBootstrap.thresholdReleases)
        let steps = plan.cohorts.indices.map(plan.cohortStep)
        let tasks = plan.poolTasks(for: steps)
        let pooled = Dictionary(uniqueKeysWithValues: tasks.map { ($0, plan.poolStep($0)) })
        let computation = try plan.computation(version: 1, previousVersion: nil, window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 1),
                                               steps: steps, pooled: pooled)
        guard let entry = computation.release.entries.first else {
            throw SimulationError("no release threshold: \(computation.refused.map(\.reason))")
        }
        return entry.threshold
    }
}
