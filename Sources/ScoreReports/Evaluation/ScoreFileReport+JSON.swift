import Calibration
import StrictJSON

/// A number a report cannot write as JSON: an infinite threshold, which only scores at the
/// very end of the double range (about ±1.8e308) can produce.
public struct NonFiniteReportValue: Error, Sendable, CustomStringConvertible {
    public let field: String
    public let value: Double
    public var description: String { "\(field) is \(value), which JSON cannot hold; are the scores near ±1.8e308?" }
}

extension ScoreFileReport {
    /// The format name written into every report, versioned with `schemas/score-evaluation.schema.json`.
    public static let formatName = "faceloop.score-evaluation.v1"

    /// The report as JSON (`schemas/score-evaluation.schema.json`). Every double is written in
    /// its shortest round-trip form, so a threshold read back is bit-identical to the one computed.
    public func json() throws(NonFiniteReportValue) -> JSONValue {
        var groupValues: [JSONValue] = []
        for group in groups { groupValues.append(try group.json()) }
        return .object([
            ("format", .string(Self.formatName)),
            ("confidence", try number(confidence, "confidence")),
            ("target_fmrs", .array(try targetFMRs.map { value throws(NonFiniteReportValue) in try number(value, "target_fmr") })),
            ("groups", .array(groupValues)),
        ])
    }
}

extension ScoreFileReport.Group {
    func json() throws(NonFiniteReportValue) -> JSONValue {
        var targetValues: [JSONValue] = []
        for (index, (target, conservativeFNMR)) in zip(evaluation.targets, conservativeFalseNonMatchRates).enumerated() {
            var members: [(key: String, value: JSONValue)] = [
                ("target_fmr", try number(target.targetFMR, "target_fmr")),
                ("threshold", try optionalNumber(target.threshold, "threshold")),
                ("fmr", try optionalNumber(target.falseMatchRate, "fmr")),
                ("fnmr", try optionalNumber(target.falseNonMatchRate, "fnmr")),
                ("fmr_upper_bound", try optionalNumber(target.fmrUpperBound, "fmr_upper_bound")),
                ("conservative_threshold", try optionalNumber(target.conservativeThreshold, "conservative_threshold")),
                ("conservative_fmr", try optionalNumber(target.conservativeFalseMatchRate, "conservative_fmr")),
                ("conservative_fnmr", try optionalNumber(conservativeFNMR, "conservative_fnmr")),
                ("impostors_still_needed", target.impostorsStillNeeded.map { .number(Double($0)) } ?? .null),
                ("refusal", target.refusal.map(JSONValue.string) ?? .null),
            ]
            // Only files with a subject column get these, so reports of other files stay as they were.
            if index < subjectTargets.count {
                let subject = subjectTargets[index]
                members += [
                    ("subject_threshold", try optionalNumber(subject.threshold, "subject_threshold")),
                    ("subject_fmr_upper_bound", try optionalNumber(subject.fmrUpperBound, "subject_fmr_upper_bound")),
                    ("subject_fmr", try optionalNumber(subject.falseMatchRate, "subject_fmr")),
                    ("subject_fnmr", try optionalNumber(subject.falseNonMatchRate, "subject_fnmr")),
                    ("subject_refusal", subject.refusal.map(JSONValue.string) ?? .null),
                ]
            }
            targetValues.append(.object(members))
        }
        var members: [(key: String, value: JSONValue)] = [
            ("level", .string(level.rawValue)),
            ("model", model.map(JSONValue.string) ?? .null),
            ("cohort", cohort.map(JSONValue.string) ?? .null),
            ("counts", .object([
                ("genuine", .number(Double(evaluation.genuineCount))),
                ("impostor", .number(Double(evaluation.impostorCount))),
                ("unknown", .number(Double(evaluation.unknownCount))),
            ])),
            ("eer", try optionalNumber(evaluation.equalErrorRate, "eer")),
            ("eer_threshold", try optionalNumber(evaluation.equalErrorRateThreshold, "eer_threshold")),
            ("min_hter_threshold", try optionalNumber(evaluation.minHTERThreshold, "min_hter_threshold")),
            ("targets", .array(targetValues)),
        ]
        if let subjectCount { members.insert(("subjects", .number(Double(subjectCount))), at: 4) }
        return .object(members)
    }
}

private func number(_ value: Double, _ field: String) throws(NonFiniteReportValue) -> JSONValue {
    guard value.isFinite else { throw NonFiniteReportValue(field: field, value: value) }
    return .number(value)
}

private func optionalNumber(_ value: Double?, _ field: String) throws(NonFiniteReportValue) -> JSONValue {
    guard let value else { return .null }
    return try number(value, field)
}
