import Calibration
import Foundation

extension ScoreFileReport {
    /// The report for a terminal: one block per group, thresholds as exact doubles, rates to
    /// four significant digits, refusals spelled out under the row they concern.
    ///
    /// ```
    /// overall: 1000 genuine, 3000 impostor, 0 unknown
    ///   EER 0.001667 at 0.28500000000000003; min HTER threshold 0.3
    ///   target   threshold             FMR       FNMR      FMR<=95%  conservative          FMR       FNMR
    ///   0.01     0.24                  0.007667  0         0.01084   0.25                  0.005667  0
    /// ```
    public func table() -> String {
        var lines: [String] = []
        for group in groups {
            let e = group.evaluation
            lines.append("\(group.title): \(e.genuineCount) genuine, \(e.impostorCount) impostor, \(e.unknownCount) unknown")
            if let eer = e.equalErrorRate, let eerThreshold = e.equalErrorRateThreshold {
                let hter = e.minHTERThreshold.map { "\($0)" } ?? "-"
                lines.append("  EER \(rate(eer)) at \(eerThreshold); min HTER threshold \(hter)")
            } else {
                lines.append("  EER: needs both genuine and impostor scores")
            }
            let bound = "FMR<=\(Int((confidence * 100).rounded()))%"
            lines.append("  " + [cell("target", 9), cell("threshold", 22), cell("FMR", 10), cell("FNMR", 10), cell(bound, 10),
                                 cell("conservative", 22), cell("FMR", 10), "FNMR"].joined())
            for (target, conservativeFNMR) in zip(e.targets, group.conservativeFalseNonMatchRates) {
                let row = [
                    cell("\(target.targetFMR)", 9),
                    cell(target.threshold.map { "\($0)" } ?? "-", 22),
                    cell(target.falseMatchRate.map(rate) ?? "-", 10),
                    cell(target.falseNonMatchRate.map(rate) ?? "-", 10),
                    cell(target.fmrUpperBound.map(rate) ?? "-", 10),
                    cell(target.conservativeThreshold.map { "\($0)" } ?? "refused", 22),
                    cell(target.conservativeFalseMatchRate.map(rate) ?? "-", 10),
                    conservativeFNMR.map(rate) ?? "-",
                ]
                lines.append("  " + row.joined())
                if let refusal = target.refusal {
                    lines.append("      \(target.targetFMR): \(refusal)")
                }
            }
            if let subjects = group.subjectCount {
                lines.append("  by subject (\(subjects) subjects; bootstrap prediction bound at \(Int((confidence * 100).rounded())) %):")
                for (target, subject) in zip(e.targets, group.subjectTargets) {
                    let row = [
                        cell("\(target.targetFMR)", 9),
                        cell(subject.threshold.map { "\($0)" } ?? "refused", 22),
                        cell(subject.falseMatchRate.map(rate) ?? "-", 10),
                        cell(subject.falseNonMatchRate.map(rate) ?? "-", 10),
                        subject.fmrUpperBound.map(rate) ?? "-",
                    ]
                    lines.append("  " + row.joined())
                    if let refusal = subject.refusal { lines.append("      \(target.targetFMR): \(refusal)") }
                }
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }
}

extension ScoreFileReport.Group {
    /// How the group is named in the table: "overall", "model m1", "model m1 / cohort lobby".
    public var title: String {
        switch level {
        case .overall: return "overall"
        case .model: return "model \(model ?? "-")"
        case .cohort: return (model.map { "model \($0) / " } ?? "") + "cohort \(cohort ?? "-")"
        }
    }
}

private func rate(_ value: Double) -> String {
    value == 0 ? "0" : String(format: "%.4g", value)
}

private func cell(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
