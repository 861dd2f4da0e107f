import Foundation
import TestSupport
import Testing
@testable import ScoreReports

/// Committed fixtures, files shared with other targets, and temporary score files.
enum TestFiles {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A file of this target's `Fixtures` folder (made by scripts/fixtures/score_files.py).
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"),
                               "fixture \(name) is missing from the test bundle")
        return url.path
    }

    /// Writes `text` to a fresh temporary file and returns its path.
    static func temporary(_ bytes: [UInt8], suffix: String = ".csv") throws -> String {
        let path = temporaryPath("score-reports", suffix: suffix)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func temporary(_ text: String, suffix: String = ".csv") throws -> String {
        try temporary(Array(text.utf8), suffix: suffix)
    }
}

/// The bob.measure 6.1.1 reference cases of the Calibration tests (`bob_measure.json`),
/// decoded as far as these tests need them.
struct BobCases: Decodable, Sendable {
    struct Number: Decodable, Sendable {
        let bits: String
        var exact: Double { UInt64(bits, radix: 16).map(Double.init(bitPattern:)) ?? .nan }
    }
    /// A number, or the exception bob raised (then `number` is nil and `refusal` is bob's message).
    struct Outcome: Decodable, Sendable {
        let number: Number?
        let refusal: String?
        private enum Keys: String, CodingKey { case message }
        init(from decoder: any Decoder) throws {
            number = try? Number(from: decoder)
            refusal = number == nil ? try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .message) : nil
        }
    }
    struct TargetResult: Decodable, Sendable {
        let target: Double
        let result: Outcome
    }
    struct FarFRR: Decodable, Sendable {
        let threshold: Number
        let result: [Number]?
        private enum Keys: String, CodingKey { case threshold, result }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            threshold = try container.decode(Number.self, forKey: .threshold)
            result = try? container.decode([Number].self, forKey: .result)
        }
    }
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let impostors: [Double]
        let genuine: [Double]
        let far_threshold: [TargetResult]
        let farfrr_at_far_threshold: [FarFRR]
        let eer_threshold: Outcome
        let eer: Outcome
        let min_hter_threshold: Outcome
        var testDescription: String { name }

        /// The targets that `scores evaluate` accepts: strictly between 0 and 1.
        var evaluableTargets: [TargetResult] { far_threshold.filter { $0.target > 0 && $0.target < 1 } }

        /// A score file of this case: impostors then genuine, scores in shortest round-trip form.
        func csv(cohort: String? = nil) -> String {
            var text = cohort == nil ? "score,label\n" : "cohort,score,label\n"
            let prefix = cohort.map { $0 + "," } ?? ""
            for score in impostors { text += "\(prefix)\(score),impostor\n" }
            for score in genuine { text += "\(prefix)\(score),genuine\n" }
            return text
        }
    }
    let cases: [Case]

    static let shared: BobCases = {
        let url = TestFiles.repositoryRoot.appendingPathComponent("Tests/CalibrationTests/Fixtures/bob_measure.json")
        do {
            return try JSONDecoder().decode(BobCases.self, from: Data(contentsOf: url))
        } catch {
            fatalError("bob_measure.json of the Calibration tests cannot be read: \(error)")
        }
    }()

    static func named(_ name: String) -> Case {
        guard let found = shared.cases.first(where: { $0.name == name }) else { fatalError("no bob case \(name)") }
        return found
    }
}
