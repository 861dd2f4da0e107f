import Calibration
import FeedbackWire
import Foundation
@testable import ScoreReports
import StrictJSON
import Testing

/// The whole `scores evaluate` path — file, parser, Calibration, JSON text — against the
/// numbers bob.measure 6.1.1 produced for the same scores.
@Suite("scores evaluate: file to JSON equals bob.measure")
struct EvaluateAgainstBobTests {
    /// Reads a score file, evaluates it and parses the JSON text the CLI would print.
    static func evaluateJSON(path: String, targets: [Double]) throws -> JSONValue {
        let table = try ScoreFileReader.read(path: path)
        let report = try ScoreFileReport(table: table, targetFMRs: targets)
        return try JSONValue.parse(report.json().serialized())
    }

    static func group(_ json: JSONValue, model: String? = nil, cohort: String? = nil) throws -> JSONValue {
        let groups = try #require(json["groups"]?.arrayValue)
        return try #require(groups.first { group in
            group["model"]?.stringValue == model && group["cohort"]?.stringValue == cohort
        }, "no group for model \(model ?? "-") cohort \(cohort ?? "-")")
    }

    /// Checks one group of the JSON against one bob case, bit for bit.
    static func expectEqual(_ group: JSONValue, bob: BobCases.Case, unknown: Int = 0) throws {
        #expect(group["counts"]?["impostor"]?.numberValue == Double(bob.impostors.count))
        #expect(group["counts"]?["genuine"]?.numberValue == Double(bob.genuine.count))
        #expect(group["counts"]?["unknown"]?.numberValue == Double(unknown))
        for (key, reference) in [("eer_threshold", bob.eer_threshold), ("eer", bob.eer), ("min_hter_threshold", bob.min_hter_threshold)] {
            if let number = reference.number {
                #expect(group[key]?.numberValue?.bitPattern == number.exact.bitPattern, "\(bob.name) \(key)")
            } else {
                #expect(group[key] == .null, "\(bob.name) \(key): bob refuses")
            }
        }
        let targets = try #require(group["targets"]?.arrayValue)
        #expect(!targets.isEmpty)
        for entry in targets {
            let reference = try #require(bob.evaluableTargets.first { $0.target == entry["target_fmr"]?.numberValue },
                                         "bob has no far_threshold at this target")
            guard let threshold = reference.result.number else {
                #expect(entry["threshold"] == .null, "\(bob.name) \(reference.target): bob refuses")
                // bob refuses far_threshold with fewer than two impostors; the report must say that, not another reason.
                #expect(reference.result.refusal == "the number of negative scores must be at least 2")
                let reason = CalibrationError.tooFewImpostors(count: bob.impostors.count, required: 2).description
                #expect(entry["refusal"]?.stringValue?.hasPrefix(reason) == true, "\(bob.name): \(entry["refusal"] ?? .null)")
                continue
            }
            #expect(entry["threshold"]?.numberValue?.bitPattern == threshold.exact.bitPattern, "\(bob.name) \(reference.target)")
            let rates = try #require(bob.farfrr_at_far_threshold.first { $0.threshold.bits == threshold.bits }?.result)
            #expect(entry["fmr"]?.numberValue?.bitPattern == rates[0].exact.bitPattern, "\(bob.name) \(reference.target) fmr")
            if bob.genuine.isEmpty {
                #expect(entry["fnmr"] == .null)
            } else {
                #expect(entry["fnmr"]?.numberValue?.bitPattern == rates[1].exact.bitPattern, "\(bob.name) \(reference.target) fnmr")
            }
        }
    }

    @Test("every bob case written as CSV evaluates to bob's numbers", arguments: BobCases.shared.cases)
    func everyCase(_ bob: BobCases.Case) throws {
        let path = try TestFiles.temporary(bob.csv())
        defer { try? FileManager.default.removeItem(atPath: path) }
        let json = try Self.evaluateJSON(path: path, targets: bob.evaluableTargets.map(\.target))
        let groups = try #require(json["groups"]?.arrayValue)
        #expect(groups.count == 1, "no model or cohort column: the overall group only")
        #expect(groups.first?["targets"]?.arrayValue?.count == bob.evaluableTargets.count)
        try Self.expectEqual(try Self.group(json), bob: bob)
    }

    @Test("all cases in one file as cohorts: each cohort equals its bob case")
    func allCasesAsCohorts() throws {
        var text = "cohort,score,label\n"
        for bob in BobCases.shared.cases {
            text += bob.csv(cohort: bob.name).split(separator: "\n").dropFirst().joined(separator: "\n") + "\n"
        }
        let path = try TestFiles.temporary(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let targets = [0.5, 0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]
        let json = try Self.evaluateJSON(path: path, targets: targets)
        #expect(json["groups"]?.arrayValue?.count == BobCases.shared.cases.count + 1)
        for bob in BobCases.shared.cases {
            #expect(bob.evaluableTargets.map(\.target) == targets)
            try Self.expectEqual(try Self.group(json, cohort: bob.name), bob: bob)
        }
    }

    @Test("committed CSV: columns in any order, CRLF, an extra column and an unknown outcome")
    func tiesFixture() throws {
        let bob = BobCases.named("ties_across_target")
        let json = try Self.evaluateJSON(path: try TestFiles.fixture("ties_across_target.csv"),
                                         targets: bob.evaluableTargets.map(\.target))
        try Self.expectEqual(try Self.group(json), bob: bob, unknown: 1)
    }

    @Test("committed .csv.gz with model and cohort columns")
    func gzipFixture() throws {
        let bob = BobCases.named("two_decimal")
        let json = try Self.evaluateJSON(path: try TestFiles.fixture("two_decimal.csv.gz"),
                                         targets: bob.evaluableTargets.map(\.target))
        for group in [try Self.group(json), try Self.group(json, model: "m1"), try Self.group(json, model: "m1", cohort: "hall")] {
            try Self.expectEqual(group, bob: bob)
        }
    }

    @Test("several models and cohorts: each cohort is its bob case, model and overall groups are their merges")
    func cohortsFixture() throws {
        let targets = [0.5, 0.1, 1e-2]
        let json = try Self.evaluateJSON(path: try TestFiles.fixture("cohorts.csv"), targets: targets)
        let levels = try #require(json["groups"]?.arrayValue).map { group in
            [group["level"]?.stringValue, group["model"]?.stringValue, group["cohort"]?.stringValue].map { $0 ?? "-" }.joined(separator: " ")
        }
        #expect(levels == ["overall - -", "model m1 -", "cohort m1 gate", "cohort m1 lobby",
                           "model m2 -", "cohort m2 desk", "cohort m2 lobby"])
        let cohorts = [("m1", "gate", "tiny"), ("m1", "lobby", "ties_across_target"),
                       ("m2", "lobby", "all_equal"), ("m2", "desk", "one_genuine")]
        for (model, cohort, name) in cohorts {
            try Self.expectEqual(try Self.group(json, model: model, cohort: cohort), bob: BobCases.named(name))
        }
        // A model's group is Calibration on the merged scores of its cohorts.
        let m2 = [BobCases.named("all_equal"), BobCases.named("one_genuine")]
        let merged = try ScoreSet(genuine: m2.flatMap(\.genuine), impostor: m2.flatMap(\.impostors))
        let direct = try ScoreEvaluation(scores: merged, targetFMRs: targets)
        let group = try Self.group(json, model: "m2")
        #expect(group["eer_threshold"]?.numberValue?.bitPattern == direct.equalErrorRateThreshold?.bitPattern)
        for (entry, target) in zip(try #require(group["targets"]?.arrayValue), direct.targets) {
            #expect(entry["threshold"]?.numberValue?.bitPattern == target.threshold?.bitPattern)
            #expect(entry["conservative_threshold"]?.numberValue == target.conservativeThreshold)
        }
    }
}
