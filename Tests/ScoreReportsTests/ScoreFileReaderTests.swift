import Foundation
import Testing
@testable import ScoreReports

@Suite("Reading score files: CSV, gzip and bad input")
struct ScoreFileReaderTests {
    static func parse(_ text: String) throws(ScoreFileError) -> ScoreTable {
        try ScoreFileReader.parse(Array(text.utf8))
    }

    @Test("columns by name in any order, quotes, blanks, BOM, CRLF and a last line without newline")
    func layout() throws {
        let text = "\u{FEFF}Model, note ,Label,score,cohort\r\n"
            + "m1,\"a, b\",impostor, 0.25 ,\"lobby \"\"east\"\"\"\r\n"
            + "\r\n"
            + "m1,,genuine,0.75,\"lobby \"\"east\"\"\"\r\n"
            + "m2,x,unknown,-1e-3,gate"
        let table = try Self.parse(text)
        #expect(table.hasModelColumn && table.hasCohortColumn)
        #expect(table.rowCount == 3)
        let east = try #require(table[ScoreTable.Key(model: "m1", cohort: "lobby \"east\"")])
        #expect(east.impostor == [0.25] && east.genuine == [0.75] && east.unknownCount == 0)
        #expect(table[ScoreTable.Key(model: "m2", cohort: "gate")]?.unknownCount == 1)
        #expect(table.keys.map(\.model) == ["m1", "m2"])
    }

    @Test("a row split across read chunks parses as one row")
    func chunkBoundaries() throws {
        let text = "score,label,cohort\n" + (0..<500).map { "0.\($0),\($0 % 3 == 0 ? "genuine" : "impostor"),c\($0 % 4)" }.joined(separator: "\n")
        let bytes = Array(text.utf8)
        for size in [1, 2, 7, 64, 4096] {
            var parser = ScoreFileParser()
            var index = 0
            while index < bytes.count {
                try parser.consume(Array(bytes[index..<min(index + size, bytes.count)]))
                index += size
            }
            let table = try parser.finish()
            #expect(table.rowCount == 500, "chunk size \(size)")
            #expect(table.overall().genuine.count == 167)
            #expect(table[ScoreTable.Key(model: nil, cohort: "c3")]?.genuine.first == 0.3, "chunk size \(size)")
            #expect(table[ScoreTable.Key(model: nil, cohort: "c3")]?.impostor.first == 0.7, "chunk size \(size)")
        }
    }

    @Test("bad input is refused with one line that names the line", arguments: [
        ("", ScoreFileError.empty),
        ("\n\n", .empty),
        ("score,label\n", .noRows),
        ("score,cohort\n0.1,a\n", .missingColumn(name: "label", header: ["score", "cohort"])),
        ("label,cohort\ngenuine,a\n", .missingColumn(name: "score", header: ["label", "cohort"])),
        ("score,label,Score\n", .duplicateColumn(name: "score")),
        ("score,label\n0.1,genuine\n0.2\n", .missingField(line: 3, column: "label", fieldCount: 1)),
        ("score,label\n0.1,genuine\nabc,impostor\n", .unparsableScore(line: 3, text: "abc")),
        ("score,label\n0.1,genuine\n,impostor\n", .unparsableScore(line: 3, text: "")),
        ("score,label\n0.1,genuine\n\n0.5.1,impostor\n", .unparsableScore(line: 4, text: "0.5.1")),
        ("score,label\nnan,unknown\n", .nanScore(line: 2)),
        ("score,label\n0.1,genuine\n-inf,impostor\n", .infiniteScore(line: 3, text: "-inf")),
        ("score,label\n0.1,Genuine\n", .unknownLabel(line: 2, text: "Genuine")),
        ("score,label\n0.1,imposter\n", .unknownLabel(line: 2, text: "imposter")),
        ("score,label,cohort\n0.1,genuine,\n", .emptyName(line: 2, column: "cohort")),
        ("score,label,cohort\n0.1,genuine,\"lobby\n", .malformedQuotes(line: 2)),
        ("score,label,cohort\n0.1,genuine,\"lobby\"x\n", .malformedQuotes(line: 2)),
    ])
    func badInput(_ text: String, _ expected: ScoreFileError) throws {
        #expect(throws: expected) { try Self.parse(text) }
        #expect(!expected.description.contains("\n"))
    }

    @Test("a name that is not UTF-8 is refused")
    func invalidUTF8() throws {
        let bytes = Array("score,label,model\n0.1,genuine,".utf8) + [0xFF, 0xFE] + Array("\n".utf8)
        #expect(throws: ScoreFileError.invalidText(line: 2)) { try ScoreFileReader.parse(bytes) }
    }

    @Test("error messages name the line")
    func messages() {
        #expect(ScoreFileError.unparsableScore(line: 7, text: "abc").description == "line 7: score 'abc' is not a number")
        #expect(ScoreFileError.missingColumn(name: "label", header: ["score"]).description.hasPrefix("line 1: no 'label' column"))
        #expect(ScoreFileError.unknownLabel(line: 12, text: "x").description.hasPrefix("line 12: "))
    }

    @Test("gzip is recognised by its magic bytes, not by the file name")
    func gzipByContent() throws {
        let gzipped = try ScoreFileReader.read(path: try TestFiles.fixture("gzipped_but_named.csv"))
        let plain = try ScoreFileReader.read(path: try TestFiles.fixture("plain_but_named.csv.gz"))
        let tiny = BobCases.named("tiny")
        for table in [gzipped, plain] {
            #expect(table.overall().impostor.sorted() == tiny.impostors.sorted())
            #expect(table.overall().genuine.sorted() == tiny.genuine.sorted())
        }
    }

    @Test("concatenated gzip members read as one file")
    func twoMembers() throws {
        let table = try ScoreFileReader.read(path: try TestFiles.fixture("two_members.csv.gz"))
        #expect(table.rowCount == 4)
    }

    @Test("corrupt gzip is refused: cut short, or a damaged CRC")
    func corruptGzip() throws {
        #expect(throws: ScoreFileError.corruptGzip(reason: "the stream is cut short before its end marker")) {
            try ScoreFileReader.read(path: try TestFiles.fixture("truncated.csv.gz"))
        }
        let error = #expect(throws: ScoreFileError.self) {
            try ScoreFileReader.read(path: try TestFiles.fixture("crc_damaged.csv.gz"))
        }
        #expect(error?.description == "the gzip data is corrupt: incorrect data check")
        // Bytes after the last member are refused, not ignored.
        let whole = try Data(contentsOf: URL(fileURLWithPath: try TestFiles.fixture("gzipped_but_named.csv")))
        #expect(throws: ScoreFileError.self) { try ScoreFileReader.parse(Array(whole) + Array("trailing".utf8)) }
        // Only the magic bytes: a gzip stream with no header at all.
        #expect(throws: ScoreFileError.self) { try ScoreFileReader.parse([0x1F, 0x8B]) }
    }

    @Test("an absent file is a clear error")
    func absentFile() {
        #expect(throws: ScoreFileError.unreadable(path: "/nonexistent/scores.csv", reason: "no such file")) {
            try ScoreFileReader.read(path: "/nonexistent/scores.csv")
        }
    }
}
