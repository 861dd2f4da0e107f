import ArgumentParser
import Charts
import Foundation
import ScoreReports

/// `faceloop curves`: DET/ROC points of a score file as CSV and a DET plot as SVG.
struct Curves: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "curves",
        abstract: "Write DET/ROC points of a score file as CSV and a DET plot as SVG, one curve per cohort.",
        discussion: "FILE is the same CSV as for `faceloop scores evaluate`. Points are bob.measure's roc thresholds; the plot has normal-deviate axes from 0.01% to 50%.")
    @Argument(help: "Score file (CSV; gzip is recognised by its magic bytes).") var file: String
    @Option(help: "Only this cohort.") var cohort: String?
    @Option(help: "Only this model.") var model: String?
    @Option(name: .customLong("csv"), help: "Where to write the points (CSV).") var csvPath: String?
    @Option(name: .customLong("svg"), help: "Where to write the DET plot (SVG).") var svgPath: String?
    @Option(name: .customLong("threshold"), help: "Mark this threshold on every curve (repeatable).") var thresholds: [Double] = []
    @Option(help: "Points per curve (bob.measure n_points).") var points = 2000

    func validate() throws {
        guard csvPath != nil || svgPath != nil else { throw ValidationError("give --csv, --svg or both") }
        guard points >= 16 else { throw ValidationError("--points must be at least 16") }
        guard thresholds.allSatisfy(\.isFinite) else { throw ValidationError("--threshold must be a finite number") }
    }

    func run() throws {
        try failingPlainly {
            let table = try ScoreFileReader.read(path: file)
            let curves = try CurveSet(table: table, model: model, cohort: cohort, markedThresholds: thresholds, pointCount: points)
            for skipped in curves.skipped {
                FileHandle.standardError.write(Data("note: no curve for \(skipped.label): \(skipped.reason)\n".utf8))
            }
            if let csvPath {
                try curves.csv().write(toFile: csvPath, atomically: true, encoding: .utf8)
            }
            if let svgPath {
                try DETPlot(curves: curves).svg().write(toFile: svgPath, atomically: true, encoding: .utf8)
            }
            let written = [csvPath.map { "points to \($0)" }, svgPath.map { "DET plot to \($0)" }].compactMap { $0 }
            print("\(curves.series.count) curve(s): \(written.joined(separator: ", "))")
        }
    }
}
