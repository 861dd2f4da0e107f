import Calibration

/// A window of days of live statistics as a store keeps it read (`SQLiteStatisticsWindows`,
/// `PostgresStatisticsWindows`): nil ends are open.
struct StatisticsWindow: Hashable, Sendable {
    var firstDay: Int?
    var lastDay: Int?

    func holds(day: Int) -> Bool { (firstDay.map { day >= $0 } ?? true) && (lastDay.map { day <= $0 } ?? true) }

    /// Commits' changes to day rows, those inside the window summed per cohort and applied to
    /// it; a cohort left empty leaves the window, as it has no row left to be read from.
    func applying(_ changes: [[StatisticsRowKey: CohortStatisticsChange]],
                  to cohorts: [CohortKey: PackedCohortStatistics]) throws -> [CohortKey: PackedCohortStatistics] {
        var summed: [CohortKey: CohortStatisticsChange] = [:]
        for days in changes {
            for (key, dayChange) in days where holds(day: key.bucket) {
                summed[key.cohort, default: CohortStatisticsChange()].append(contentsOf: dayChange)
            }
        }
        var cohorts = cohorts
        for (key, change) in summed {
            if let packed = cohorts[key] {
                cohorts[key] = try packed.applying(change)
            } else {
                cohorts[key] = try PackedCohortStatistics(counting: change, layout: CohortStatistics.liveLayout)
            }
        }
        return cohorts
    }
}
