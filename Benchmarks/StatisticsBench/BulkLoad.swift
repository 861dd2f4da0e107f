import Calibration
import Foundation
import Storage

/// Where a bulk load writes: straight into a store's tables, bypassing the API.
protocol BulkSink: AnyObject {
    /// Before the first row of a phase (indexes may be dropped here).
    func begin(phase: Fleet.Phase) throws
    func device(id: String, at time: Double) throws
    func batch(id: String, device: String, sequence: Int, receivedAt: Double, events: Int) throws
    func outcome(_ row: OutcomeRow) throws
    func statistics(key: CohortKey, granularity: String, bucket: Int, statistics: CohortStatistics) throws
    /// Adds to the counters `outcomes stats` reads.
    func count(device: String, site: String, camera: String, outcomesByLabel: [String: Int], batches: Int) throws
    /// After each cohort: where the sink may commit.
    func endCohort(outcomesSoFar: Int) throws
    /// After the last cohort: indexes rebuilt, everything committed.
    func finish() throws
}

struct OutcomeRow {
    var eventID: String
    var batchID: String
    var device: String
    var attemptedAt: Double
    var site: String
    var camera: String
    var score: Double
    var decision: String
    var label: String
    var labelSource: String
    var faceSize: Int
    var sharpness: Double
    var brightness: Double
    var liveness: Double
    var subject: String
    var shadowScore: Double?
}

/// Fills a store with a phase of the fleet's outcomes, cohort by cohort, together with the
/// statistics rows the live maintenance would hold for them (`score_statistics`: one row per
/// cohort and UTC day and one per cohort and UTC month, built with the same `CohortStatistics`)
/// and the counters. Memory stays bounded whatever the volume: one cohort-day's outcomes and
/// four statistics (day and month, own and shadow model) at a time.
enum BulkLoad {
    static func run(_ fleet: Fleet, phase: Fleet.Phase, into sink: some BulkSink, progress: (Int, Int) -> Void) throws -> Int {
        try sink.begin(phase: phase)
        let days = fleet.days(of: phase)
        let receivedAt = Double(days.upperBound + 1) * Double(StatisticsBuckets.secondsPerDay) - 1
        var written = 0
        var pseudonyms: (site: Int, names: [String]) = (-1, [])
        let layout = CohortStatistics.liveLayout
        for cohort in 0..<fleet.cohorts {
            let device = fleet.device(cohort), site = fleet.site(cohort), camera = fleet.camera(cohort)
            if phase == .base { try sink.device(id: device, at: Double(fleet.firstDay * StatisticsBuckets.secondsPerDay)) }
            if pseudonyms.site != cohort / Fleet.cameraModels {
                pseudonyms = (cohort / Fleet.cameraModels, fleet.pseudonyms(site: cohort / Fleet.cameraModels))
            }
            let distribution = fleet.distribution(cohort)
            let total = fleet.outcomesBefore(slot: fleet.slot(cohort: cohort, day: days.upperBound) + 1)
                - fleet.outcomesBefore(slot: fleet.slot(cohort: cohort, day: days.lowerBound))
            // The phase's batches first (outcomes reference them), 500 outcomes each.
            let batchCount = (total + Fleet.outcomesPerBatch - 1) / Fleet.outcomesPerBatch
            let batchIDs = (0..<batchCount).map { "bench-\(phase.rawValue)-\(device)-" + Fleet.decimal($0, width: 6) }
            for (index, id) in batchIDs.enumerated() {
                try sink.batch(id: id, device: device, sequence: (phase == .recent ? 1_000_000 : 0) + index + 1, receivedAt: receivedAt,
                               events: min(Fleet.outcomesPerBatch, total - index * Fleet.outcomesPerBatch))
            }
            let own = fleet.key(cohort), shadow = fleet.key(cohort, shadow: true)
            var month: (bucket: Int, own: CohortStatistics, shadow: CohortStatistics)?
            var byLabel: [String: Int] = [:]
            var index = 0
            func flushMonth() throws {
                guard let month else { return }
                for (key, statistics) in [(own, month.own), (shadow, month.shadow)] where !statistics.isEmpty {
                    try sink.statistics(key: key, granularity: "month", bucket: month.bucket, statistics: statistics)
                }
            }
            for day in days {
                let monthStart = StatisticsBuckets.monthStart(ofDay: day)
                if month?.bucket != monthStart {
                    try flushMonth()
                    month = (monthStart, CohortStatistics(layout: layout), CohortStatistics(layout: layout))
                }
                var dayOwn = CohortStatistics(layout: layout), dayShadow = CohortStatistics(layout: layout)
                let dayEnd = Double(day + 1) * Double(StatisticsBuckets.secondsPerDay)
                for outcome in fleet.outcomes(cohort: cohort, day: day, distribution: distribution).outcomes {
                    let subject = pseudonyms.names[outcome.subject]
                    // Never the next day's first second, whatever the rounding.
                    let attemptedAt = min(outcome.attemptedAt, dayEnd.nextDown)
                    try sink.outcome(OutcomeRow(
                        eventID: outcome.eventID, batchID: batchIDs[index / Fleet.outcomesPerBatch], device: device,
                        attemptedAt: attemptedAt, site: site, camera: camera, score: outcome.score,
                        decision: outcome.score >= 0.9 ? "accept" : "reject", label: outcome.label.rawValue,
                        labelSource: outcome.label == .unknown ? "none" : "fallback_id_check", faceSize: outcome.faceSize,
                        sharpness: outcome.sharpness, brightness: outcome.brightness, liveness: outcome.liveness, subject: subject,
                        shadowScore: outcome.shadowScore))
                    index += 1
                    byLabel[outcome.label.rawValue, default: 0] += 1
                    try dayOwn.add(score: outcome.score, label: outcome.label, subject: subject)
                    try month?.own.add(score: outcome.score, label: outcome.label, subject: subject)
                    if let shadowScore = outcome.shadowScore {
                        try dayShadow.add(score: shadowScore, label: outcome.label, subject: subject)
                        try month?.shadow.add(score: shadowScore, label: outcome.label, subject: subject)
                    }
                }
                for (key, statistics) in [(own, dayOwn), (shadow, dayShadow)] where !statistics.isEmpty {
                    try sink.statistics(key: key, granularity: "day", bucket: day, statistics: statistics)
                }
            }
            try flushMonth()
            precondition(index == total, "cohort \(cohort): \(index) outcomes generated, \(total) expected")
            try sink.count(device: device, site: site, camera: camera, outcomesByLabel: byLabel, batches: batchCount)
            written += total
            try sink.endCohort(outcomesSoFar: written)
            progress(cohort + 1, written)
        }
        try sink.finish()
        return written
    }
}

/// Passes on everything but outcome and batch rows: a store whose statistics describe a
/// volume of outcomes that the disk could not hold. Threshold computation, drift and the
/// calibration page read only the statistics (the page reads outcome rows only for model
/// rollouts past candidate, which a generated store has none of).
final class StatisticsOnlySink<Inner: BulkSink>: BulkSink {
    let inner: Inner
    init(_ inner: Inner) { self.inner = inner }
    func begin(phase: Fleet.Phase) throws { try inner.begin(phase: phase) }
    func device(id: String, at time: Double) throws { try inner.device(id: id, at: time) }
    func batch(id: String, device: String, sequence: Int, receivedAt: Double, events: Int) throws {}
    func outcome(_ row: OutcomeRow) throws {}
    func statistics(key: CohortKey, granularity: String, bucket: Int, statistics: CohortStatistics) throws {
        try inner.statistics(key: key, granularity: granularity, bucket: bucket, statistics: statistics)
    }
    func count(device: String, site: String, camera: String, outcomesByLabel: [String: Int], batches: Int) throws {
        try inner.count(device: device, site: site, camera: camera, outcomesByLabel: outcomesByLabel, batches: batches)
    }
    func endCohort(outcomesSoFar: Int) throws { try inner.endCohort(outcomesSoFar: outcomesSoFar) }
    func finish() throws { try inner.finish() }
}
