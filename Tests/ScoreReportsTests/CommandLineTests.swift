import Charts
import ChildProcess
import FeedbackWire
import Foundation
@testable import ScoreReports
import StrictJSON
import TestSupport
import Testing

/// The `faceloop` executable itself: what an engineer sees on stdout, stderr and in the exit status.
@Suite("faceloop scores evaluate and faceloop curves, as run from a shell")
struct CommandLineTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the `faceloop` built beside this test bundle (`swift build --build-tests` builds it).
    static func faceloop(_ arguments: [String]) throws -> Run {
        let bundle = Bundle.main.bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent(), URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        let binary = try #require(candidates.map { $0.appendingPathComponent("faceloop").path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }, "faceloop is not built next to the tests")
        let base = temporaryPath("run")
        let (outputPath, errorPath) = (base + ".out", base + ".err")
        defer { for path in [outputPath, errorPath] { try? FileManager.default.removeItem(atPath: path) } }
        let status = try ChildProcess(executable: binary, arguments: arguments,
                                      standardOutput: outputPath, standardError: errorPath).wait()
        return Run(status: status, stdout: String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self),
                   stderr: String(decoding: FileManager.default.contents(atPath: errorPath) ?? Data(), as: UTF8.self))
    }

    @Test("--json prints the library's report, and it validates against the schema")
    func json() throws {
        let path = try TestFiles.fixture("two_decimal.csv.gz")
        let run = try Self.faceloop(["scores", "evaluate", path, "--target-fmr", "1e-2,1e-3,1e-4", "--json"])
        #expect(run.status == 0)
        #expect(run.stderr == "")
        let printed = try JSONValue.parse(Array(run.stdout.utf8))
        let report = try ScoreFileReport(table: ScoreFileReader.read(path: path), targetFMRs: [1e-2, 1e-3, 1e-4])
        #expect(printed == (try report.json()))
        #expect(ReportSchemaTests.schema.validate(printed) == [])
    }

    @Test("bad input: exit status 1, nothing on stdout, one plain line on stderr naming the line", arguments: [
        ("score,label\n0.1,genuine\nabc,impostor\n", "error: line 3: score 'abc' is not a number\n"),
        ("score,label\n0.1,genuine\nNaN,impostor\n", "error: line 3: score is NaN; fix the scorer or drop the row\n"),
        ("score,label\n0.1,genuine\n0.2,imposter\n", "error: line 3: label 'imposter' is not genuine, impostor or unknown\n"),
        ("score,cohort\n0.1,a\n", "error: line 1: no 'label' column in the header (found: score,cohort)\n"),
        ("", "error: line 1: the file is empty; expected a header such as score,label,cohort,model\n"),
    ])
    func badInput(_ text: String, _ message: String) throws {
        let path = try TestFiles.temporary(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for command in [["scores", "evaluate", path], ["curves", path, "--csv", path + ".points.csv"]] {
            let run = try Self.faceloop(command)
            #expect(run.status == 1)
            #expect(run.stdout == "")
            #expect(run.stderr == message)
        }
        #expect(!FileManager.default.fileExists(atPath: path + ".points.csv"))
    }

    @Test("corrupt gzip is refused the same way")
    func corruptGzip() throws {
        let run = try Self.faceloop(["scores", "evaluate", try TestFiles.fixture("truncated.csv.gz")])
        #expect(run.status == 1)
        #expect(run.stderr == "error: the gzip data is corrupt: the stream is cut short before its end marker\n")
    }

    @Test("curves writes the CSV and the SVG, and notes the cohort without a curve")
    func curves() throws {
        let directory = URL(fileURLWithPath: try temporaryDirectory("curves"))
        defer { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("points.csv").path, svg = directory.appendingPathComponent("det.svg").path
        let run = try Self.faceloop(["curves", try TestFiles.fixture("cohorts.csv"), "--model", "m2",
                                     "--csv", csv, "--svg", svg, "--threshold", "0.45", "--points", "100"])
        #expect(run.status == 0)
        #expect(run.stderr == "note: no curve for desk: 1 genuine score(s); at least 2 needed\n")
        let table = try ScoreFileReader.read(path: try TestFiles.fixture("cohorts.csv"))
        let curves = try CurveSet(table: table, model: "m2", markedThresholds: [0.45], pointCount: 100)
        #expect(try String(contentsOfFile: csv, encoding: .utf8) == curves.csv())
        #expect(try String(contentsOfFile: svg, encoding: .utf8) == DETPlot(curves: curves).svg())
    }
}
