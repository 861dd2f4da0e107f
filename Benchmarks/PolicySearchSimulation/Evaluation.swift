import Calibration
import Charts
import FederationCore
import Foundation
import SeededRandom
import SimulatedCapture

/// FNMR and FMR of one policy on a set of attempts at a threshold (calibrated on these
/// attempts' impostor scores at the target FMR when none is given: bob.measure's far_threshold).
struct OperatingPoint {
    var threshold: Double
    var fnmr: Double
    var fmr: Double
    var genuine: [Double]
    var impostor: [Double]

    init(attempts: AttemptSet, policy: NormalizationPolicy, threshold: Double?, scorer: Scorer, targetFMR: Double) throws {
        var genuine: [Double] = [], impostor: [Double] = []
        for (attempt, score) in zip(attempts.attempts, try scorer.scores(attempts.attempts, policy: policy)) {
            if attempt.label == .genuine { genuine.append(score) } else { impostor.append(score) }
        }
        let chosen = try threshold ?? ErrorRates.farThreshold(impostors: impostor, target: targetFMR)
        self.threshold = chosen
        self.genuine = genuine
        self.impostor = impostor
        fnmr = genuine.isEmpty ? .nan : Double(genuine.filter { $0 < chosen }.count) / Double(genuine.count)
        fmr = impostor.isEmpty ? .nan : Double(impostor.filter { $0 >= chosen }.count) / Double(impostor.count)
    }
}

/// Error counts of one test person's attempts (as the person at the kiosk), before and after.
struct PersonTally: Codable {
    var genuine = 0
    var falseNonMatchesBefore = 0
    var falseNonMatchesAfter = 0
    var impostor = 0
    var falseMatchesBefore = 0
    var falseMatchesAfter = 0

    static func + (a: Self, b: Self) -> Self {
        PersonTally(genuine: a.genuine + b.genuine, falseNonMatchesBefore: a.falseNonMatchesBefore + b.falseNonMatchesBefore,
                    falseNonMatchesAfter: a.falseNonMatchesAfter + b.falseNonMatchesAfter, impostor: a.impostor + b.impostor,
                    falseMatchesBefore: a.falseMatchesBefore + b.falseMatchesBefore, falseMatchesAfter: a.falseMatchesAfter + b.falseMatchesAfter)
    }
}

/// One cohort of one rotation: the policy the search chose, the thresholds calibrated on the
/// fleet (today's pipeline, and the chosen policy), and the test people's errors at them.
struct CohortEvaluation {
    var rotation: Int
    var condition: KioskCondition
    var policy: NormalizationPolicy
    var thresholdBefore: Double
    var thresholdAfter: Double
    var before: OperatingPoint
    var after: OperatingPoint
    var tallies: [Int: PersonTally]

    init(rotation: Int, condition: KioskCondition, policy: NormalizationPolicy, fleet: AttemptSet, test: AttemptSet, scorer: Scorer,
         targetFMR: Double) throws {
        self.rotation = rotation
        self.condition = condition
        self.policy = policy
        let calibratedBefore = try OperatingPoint(attempts: fleet, policy: .identity, threshold: nil, scorer: scorer, targetFMR: targetFMR)
        let calibratedAfter = try OperatingPoint(attempts: fleet, policy: policy, threshold: nil, scorer: scorer, targetFMR: targetFMR)
        thresholdBefore = calibratedBefore.threshold
        thresholdAfter = calibratedAfter.threshold
        before = try OperatingPoint(attempts: test, policy: .identity, threshold: thresholdBefore, scorer: scorer, targetFMR: targetFMR)
        after = try OperatingPoint(attempts: test, policy: policy, threshold: thresholdAfter, scorer: scorer, targetFMR: targetFMR)
        var tallies: [Int: PersonTally] = [:]
        let scoresBefore = try scorer.scores(test.attempts, policy: .identity)
        let scoresAfter = try scorer.scores(test.attempts, policy: policy)
        for (index, attempt) in test.attempts.enumerated() {
            let scoreBefore = scoresBefore[index], scoreAfter = scoresAfter[index]
            var tally = tallies[attempt.probe.person, default: PersonTally()]
            if attempt.label == .genuine {
                tally.genuine += 1
                if scoreBefore < thresholdBefore { tally.falseNonMatchesBefore += 1 }
                if scoreAfter < thresholdAfter { tally.falseNonMatchesAfter += 1 }
            } else {
                tally.impostor += 1
                if scoreBefore >= thresholdBefore { tally.falseMatchesBefore += 1 }
                if scoreAfter >= thresholdAfter { tally.falseMatchesAfter += 1 }
            }
            tallies[attempt.probe.person] = tally
        }
        self.tallies = tallies
    }
}

/// FNMR before and after over a set of people, with a percentile interval over people.
struct RelativeChange: Codable {
    var people: Int
    var genuine: Int
    var fnmrBefore: Double
    var fnmrAfter: Double
    var fmrBefore: Double
    var fmrAfter: Double
    /// FNMR after / FNMR before − 1.
    var change: Double
    /// 5th and 95th percentiles of the change over `resamples` resamples of the people.
    var lower: Double
    var upper: Double

    init(tallies: [PersonTally], resamples: Int, seed: UInt64) {
        func rates(_ sample: [PersonTally]) -> (before: Double, after: Double, fmrBefore: Double, fmrAfter: Double) {
            let total = sample.reduce(PersonTally(), +)
            return (Double(total.falseNonMatchesBefore) / Double(max(1, total.genuine)),
                    Double(total.falseNonMatchesAfter) / Double(max(1, total.genuine)),
                    Double(total.falseMatchesBefore) / Double(max(1, total.impostor)),
                    Double(total.falseMatchesAfter) / Double(max(1, total.impostor)))
        }
        let observed = rates(tallies)
        people = tallies.count
        genuine = tallies.reduce(0) { $0 + $1.genuine }
        fnmrBefore = observed.before
        fnmrAfter = observed.after
        fmrBefore = observed.fmrBefore
        fmrAfter = observed.fmrAfter
        change = observed.before > 0 ? observed.after / observed.before - 1 : .nan
        var generator = SeededGenerator(seed: seed)
        var changes: [Double] = []
        for _ in 0..<resamples where !tallies.isEmpty {
            let sample = (0..<tallies.count).map { _ in tallies[Int(generator.next() % UInt64(tallies.count))] }
            let resampled = rates(sample)
            if resampled.before > 0 { changes.append(resampled.after / resampled.before - 1) }
        }
        changes.sort()
        lower = changes.isEmpty ? .nan : changes[Int(0.05 * Double(changes.count - 1))]
        upper = changes.isEmpty ? .nan : changes[Int((0.95 * Double(changes.count - 1)).rounded(.up))]
    }
}

struct SimulationReport {
    var evaluations: [CohortEvaluation]
    var seed: UInt64

    func change(_ conditions: [KioskCondition], rotation: Int? = nil) -> RelativeChange {
        var tallies: [Int: PersonTally] = [:]
        for evaluation in evaluations where conditions.contains(evaluation.condition) && (rotation == nil || evaluation.rotation == rotation) {
            for (person, tally) in evaluation.tallies { tallies[person, default: PersonTally()] = tallies[person, default: PersonTally()] + tally }
        }
        return RelativeChange(tallies: tallies.keys.sorted().compactMap { tallies[$0] }, resamples: 2_000, seed: seed)
    }

    func print() {
        func line(_ name: String, _ change: RelativeChange) -> String {
            String(format: "%-28@ people %3d genuine %5d  FNMR %.4f → %.4f  %+6.1f %% [%+6.1f, %+6.1f]  FMR %.2e → %.2e",
                   name as NSString, change.people, change.genuine, change.fnmrBefore, change.fnmrAfter, 100 * change.change,
                   100 * change.lower, 100 * change.upper, change.fmrBefore, change.fmrAfter)
        }
        let seen = KioskCondition.allCases.filter { $0 != KioskCondition.unseen }
        Swift.print("pooled over rotations, test people only (90 % interval over people):")
        for condition in KioskCondition.allCases {
            Swift.print(line(condition.rawValue + (condition == KioskCondition.unseen ? " (unseen)" : ""), change([condition])))
        }
        Swift.print(line("seen conditions", change(seen)))
        Swift.print(line("all conditions", change(KioskCondition.allCases)))
        let rotations = Set(evaluations.map(\.rotation)).sorted()
        let perRotation = rotations.map { change(seen, rotation: $0).change }
        Swift.print("per rotation, seen conditions: " + perRotation.map { String(format: "%+.1f %%", 100 * $0) }.joined(separator: ", ")
            + String(format: "; mean %+.1f %%", 100 * perRotation.reduce(0, +) / Double(max(1, perRotation.count))))
    }
}

/// DET curves per condition, today's pipeline against the chosen policies, from the test
/// people's scores pooled over rotations.
enum DETCurves {
    static func points(genuine: [Double], impostor: [Double]) throws -> [DETChart.Point] {
        let targets = stride(from: -4.0, through: -0.3, by: 0.1).map { pow(10, $0) }
        let sortedGenuine = try SortedScores(genuine)
        return try targets.map { target in
            let threshold = try ErrorRates.farThreshold(impostors: impostor, target: target)
            let fmr = Double(impostor.filter { $0 >= threshold }.count) / Double(impostor.count)
            return DETChart.Point(falseMatchRate: fmr, falseNonMatchRate: Double(sortedGenuine.count(below: threshold)) / Double(genuine.count))
        }
    }

    static func write(_ evaluations: [CohortEvaluation], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for condition in KioskCondition.allCases {
            let parts = evaluations.filter { $0.condition == condition }
            guard !parts.isEmpty else { continue }
            let before = try points(genuine: parts.flatMap(\.before.genuine), impostor: parts.flatMap(\.before.impostor))
            let after = try points(genuine: parts.flatMap(\.after.genuine), impostor: parts.flatMap(\.after.impostor))
            let chart = DETChart(title: "\(condition.rawValue)\(condition == KioskCondition.unseen ? " (unseen)" : ""): test people, five rotations",
                                 series: [DETChart.Series(label: "today's pipeline", color: "#888888", dashed: true, points: before),
                                          DETChart.Series(label: "policy chosen by the fleet", color: "#1f4e99", points: after)],
                                 markers: [])
            try chart.svg().write(toFile: (directory as NSString).appendingPathComponent("policy-search-\(condition.rawValue).svg"),
                                  atomically: true, encoding: .utf8)
        }
    }
}
