import Calibration
import Foundation
@testable import ScoreReports
import StrictJSON
import Testing

/// `faceloop scores evaluate` with a `subject` column: the conservative thresholds and FMR
/// bounds resample subjects, not attempts.
@Suite("Score files with a subject column")
struct SubjectColumnTests {
    /// 60 subjects with 40 impostor and 4 genuine attempts each; subjects 0–5 are look-alikes
    /// whose impostor scores sit high, so the false matches cluster in a few people.
    static func clusteredFile() -> String {
        var generator = SplitMix(seed: 3)
        var lines = ["subject,score,label"]
        for subject in 0..<60 {
            let lookAlike = subject < 6
            for _ in 0..<40 {
                let score = (lookAlike ? 0.55 : 0.2) + 0.25 * generator.unit()
                lines.append("s\(subject),\(score),impostor")
            }
            for _ in 0..<4 { lines.append("s\(subject),\(0.6 + 0.4 * generator.unit()),genuine") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func unit() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }

    @Test("the subject threshold is the larger of Clopper–Pearson's and the subjects bootstrap's, and its bound is the bootstrap's")
    func subjectThreshold() throws {
        let path = try TestFiles.temporary(Self.clusteredFile())
        defer { try? FileManager.default.removeItem(atPath: path) }
        let table = try ScoreFileReader.read(path: path)
        #expect(table.hasSubjectColumn)
        #expect(table.subjectNames.count == 60)
        let report = try ScoreFileReport(table: table, targetFMRs: [1e-2], resamples: 500)
        let overall = try #require(report.groups.first)
        #expect(overall.subjectCount == 60)
        let subject = try #require(overall.subjectTargets.first)
        let conservative = try #require(overall.evaluation.targets.first?.conservativeThreshold)

        // The same computation by hand, from the rows.
        let rows = Self.clusteredFile().split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        let scores = try SubjectScores(attempts: rows.map { (subject: String($0[0]), score: Double(String($0[1])) ?? .nan,
                                                            label: ScoreLabel(rawValue: String($0[2])) ?? .unknown) })
        let bootstrap = try SubjectBootstrap(resamples: 500, confidence: 0.95)
        let expected = max(conservative, try bootstrap.threshold(targetFMR: 1e-2, in: scores))
        #expect(subject.threshold == expected)
        #expect(subject.fmrUpperBound == bootstrap.fmrUpperBound(at: expected, in: scores))
        #expect((subject.fmrUpperBound ?? 1) <= 1e-2)
        // Clustered false matches: resampling subjects asks for a higher threshold than counting attempts.
        #expect(expected > conservative, "subject \(expected) vs Clopper–Pearson \(conservative)")
        let genuine = try SortedScores(rows.filter { $0[2] == "genuine" }.compactMap { Double(String($0[1])) })
        #expect(subject.falseNonMatchRate == Double(genuine.count(below: expected)) / Double(genuine.count))
    }

    @Test("too few subjects: the subject threshold is refused and says why; a file without the column reports as before")
    func refusalsAndOldFiles() throws {
        var lines = ["subject,score,label"]
        for index in 0..<3000 { lines.append("s\(index % 5),\(Double(index % 97) / 97),impostor") }
        lines.append("s1,0.99,genuine")
        let path = try TestFiles.temporary(lines.joined(separator: "\n"))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let report = try ScoreFileReport(table: try ScoreFileReader.read(path: path), targetFMRs: [1e-2])
        let subject = try #require(report.groups.first?.subjectTargets.first)
        #expect(subject.threshold == nil)
        #expect(subject.refusal?.contains("subject") == true, "\(subject.refusal ?? "nil")")
        let json = try JSONValue.parse(report.json().serialized())
        #expect(json["groups"]?[0]?["subjects"]?.numberValue == 5)
        #expect(json["groups"]?[0]?["targets"]?[0]?["subject_threshold"] == .null)
        #expect(ReportSchemaTests.schema.validate(json) == [])

        let plain = try TestFiles.fixture("cohorts.csv")
        let old = try JSONValue.parse(try ScoreFileReport(table: try ScoreFileReader.read(path: plain), targetFMRs: [1e-2]).json().serialized())
        #expect(old["groups"]?[0]?["subjects"] == nil)
        #expect(old["groups"]?[0]?["targets"]?[0]?["subject_threshold"] == nil)
    }

    @Test("an empty subject is refused with its line")
    func emptySubject() throws {
        let path = try TestFiles.temporary("subject,score,label\ns1,0.5,impostor\n,0.4,impostor\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: ScoreFileError.emptyName(line: 3, column: "subject")) { try ScoreFileReader.read(path: path) }
    }
}
