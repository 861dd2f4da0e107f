import ArgumentParser
import Foundation
import ScoreReports

/// `faceloop scores …`: offline work on a score file, what engineers otherwise do with bob.measure.
struct Scores: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scores", abstract: "Work offline on a score file (CSV, optionally gzipped).",
        subcommands: [Evaluate.self])

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "evaluate",
            abstract: "Counts, EER, min-HTER threshold and the thresholds at target FMRs, overall, per model and per cohort.",
            discussion: "FILE has a header and the columns score,label[,cohort][,model][,subject] in any order; label is genuine, impostor or unknown; subject names who each attempt claimed to be, and adds conservative thresholds whose FMR bounds resample subjects (subject_threshold). A higher score means more similar. The JSON is described by schemas/score-evaluation.schema.json.")
        @Argument(help: "Score file (CSV; gzip is recognised by its magic bytes).") var file: String
        @Option(name: .customLong("target-fmr"), help: "Comma-separated target false match rates.") var targetFMR = "1e-2,1e-3,1e-4"
        @Option(help: "Confidence of the Clopper–Pearson upper bound.") var confidence = 0.95
        @Flag(help: "Print the report as JSON.") var json = false

        func validate() throws {
            _ = try targets()
            guard confidence > 0, confidence < 1 else { throw ValidationError("--confidence must be between 0 and 1") }
        }

        func run() throws {
            let targets = try targets()
            try failingPlainly {
                let table = try ScoreFileReader.read(path: file)
                let report = try ScoreFileReport(table: table, targetFMRs: targets, confidence: confidence)
                if json {
                    print(try report.json().serializedString)
                } else {
                    print(report.table(), terminator: "")
                }
            }
        }

        private func targets() throws -> [Double] {
            let fields = targetFMR.split(separator: ",", omittingEmptySubsequences: false)
            return try fields.map { field in
                let text = field.trimmingCharacters(in: .whitespaces)
                guard let target = Double(text), target > 0, target < 1 else {
                    throw ValidationError("--target-fmr: '\(text)' is not a rate between 0 and 1")
                }
                return target
            }
        }
    }
}

/// Runs offline work and turns any failure — a bad line in the file, a refused computation —
/// into one plain line on standard error and exit status 1.
func failingPlainly(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
