import FeedbackWire
import Foundation
@testable import ScoreReports
import StrictJSON
import Testing

@Suite("The score-evaluation JSON and its schema")
struct ReportSchemaTests {
    static let schema: JSONSchema = {
        let url = TestFiles.repositoryRoot.appendingPathComponent("schemas/score-evaluation.schema.json")
        do {
            let document = try JSONValue.parse([UInt8](Data(contentsOf: url)))
            return try JSONSchema(documents: ["score-evaluation.schema.json": document], root: "score-evaluation.schema.json")
        } catch {
            fatalError("schemas/score-evaluation.schema.json does not load: \(error)")
        }
    }()

    static func reportJSON(_ path: String, targets: [Double] = [1e-2, 1e-3, 1e-4]) throws -> JSONValue {
        let report = try ScoreFileReport(table: ScoreFileReader.read(path: path), targetFMRs: targets)
        return try JSONValue.parse(report.json().serialized())
    }

    @Test("real reports validate: refusals, nulls, several models and cohorts", arguments: [
        "ties_across_target.csv", "two_decimal.csv.gz", "cohorts.csv", "gzipped_but_named.csv",
    ])
    func validates(_ fixture: String) throws {
        let json = try Self.reportJSON(try TestFiles.fixture(fixture))
        #expect(Self.schema.validate(json) == [])
    }

    @Test("every bob case validates, including no impostors and one genuine", arguments: BobCases.shared.cases)
    func bobCasesValidate(_ bob: BobCases.Case) throws {
        let path = try TestFiles.temporary(bob.csv())
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(Self.schema.validate(try Self.reportJSON(path, targets: [0.5, 1e-2, 1e-6])) == [])
    }

    @Test("the schema is not vacuous: a damaged report is refused where it is damaged")
    func refusesDamage() throws {
        let json = try Self.reportJSON(try TestFiles.fixture("cohorts.csv"))
        guard case .object(var members) = json,
              let index = members.firstIndex(where: { $0.key == "groups" }),
              case .array(var groups) = members[index].value,
              case .object(var group) = groups[0],
              let counts = group.firstIndex(where: { $0.key == "counts" }) else {
            Issue.record("unexpected report shape")
            return
        }
        group[counts].value = .object([("genuine", .number(1.5)), ("impostor", .number(2)), ("unknown", .number(0))])
        group.append((key: "extra", value: .null))
        groups[0] = .object(group)
        members[index].value = .array(groups)
        let pointers = Self.schema.validate(.object(members)).map(\.pointer)
        #expect(pointers.contains("/groups/0/counts/genuine"))
        #expect(pointers.contains("/groups/0/extra"))
    }

    @Test("thresholds are written in shortest round-trip form")
    func exactNumbers() throws {
        let json = try Self.reportJSON(try TestFiles.fixture("cohorts.csv"), targets: [0.1])
        let text = json.serializedString
        // 0.1 + ulp: bob's nextafter above the 0.3 tie group of ties_across_target reads back exactly.
        #expect(text.contains("0.30000000000000004"))
        #expect(json["format"]?.stringValue == ScoreFileReport.formatName)
    }
}
