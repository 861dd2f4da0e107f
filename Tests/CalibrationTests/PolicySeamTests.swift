import Calibration
import Testing

/// A policy written outside the module, through the public seam only (this file does not
/// use `@testable`): half the target as a safety margin, on observed counts.
struct HalfTargetPolicy: ThresholdPolicy {
    let bound: ClopperPearson
    var name: String { "half-target" }

    func choose(from statistics: ScoreStatistics, targetFMR: Double) throws -> ThresholdChoice {
        if let refusal = try refusalForSampleSize(statistics: statistics, targetFMR: targetFMR, bound: bound) {
            throw refusal
        }
        let allowed = Int(Double(statistics.impostorCount) * targetFMR / 2)
        return try ThresholdChoice(
            policy: name, estimate: statistics.threshold(acceptingAtMost: allowed),
            statistics: statistics, targetFMR: targetFMR, bound: bound)
    }
}

@Suite("The ThresholdPolicy seam from outside the module")
struct PolicySeamTests {
    @Test("a custom policy drives a release and its name is recorded")
    func customPolicy() throws {
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.125)
        let impostors = (0..<20_000).map { Double($0 % 1_000) / 2_000 - 0.25 }
        let statistics = try ScoreStatistics(layout: layout, scores: impostors, label: .impostor)
        let key = CohortKey(modelVersion: "m1", cameraModel: "cam", cohort: "site")
        let window = try DataWindow(startUnixSeconds: 0, endUnixSeconds: 86_400)
        let computed = try ThresholdRelease.compute(
            version: 1, previousVersion: nil, cohorts: [key], statistics: [key: statistics], targetFMR: 1e-2,
            policy: HalfTargetPolicy(bound: ClopperPearson()), layout: layout, window: window)
        let entry = try #require(computed.release.entry(for: key))
        #expect(computed.release.policy == "half-target")
        #expect(entry.falseMatchCount <= 100)
        #expect(entry.estimatedFMR <= 0.005)
        #expect(entry.fallbackLevel == .cohort)
    }
}
