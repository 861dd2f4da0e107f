import Calibration
import Foundation

/// Parses score-file CSV as it arrives, chunk by chunk, into a `ScoreTable`.
///
/// The format: a header line naming the columns, then one comparison per line. Columns are
/// found by name in any order (case-insensitive); `score` and `label` are required, `cohort`,
/// `model` and `subject` (who the attempt claimed to be, for subject-level bounds) optional,
/// other columns ignored. Fields may be double-quoted (with `""` for a
/// quote) but not span lines. Blank lines, CRLF line ends and a UTF-8 byte-order mark are
/// accepted. Scores must be finite numbers; labels are exactly `genuine`, `impostor` or
/// `unknown`. The first bad line stops the parse with a `ScoreFileError` naming it. A line
/// may be at most `maxLineLength` bytes long.
///
/// ```swift
/// var parser = ScoreFileParser()
/// try parser.consume(bytes)
/// let table = try parser.finish()
/// ```
struct ScoreFileParser {
    /// A score row is a few dozen bytes. The cap bounds what is buffered while a line's end is
    /// awaited, so a file without line breaks (a gzip bomb that inflates to one endless line,
    /// say) is refused after 64 KiB instead of being read whole into memory.
    static let maxLineLength = 64 * 1024

    private struct Columns {
        var score: Int
        var label: Int
        var cohort: Int?
        var model: Int?
        var subject: Int?
    }

    /// One field of the current line: a byte range, and whether it was quoted with `""` inside.
    private struct Field {
        var start: Int
        var end: Int
        var hasEscapedQuote: Bool
    }

    private var columns: Columns?
    private var table: ScoreTable?
    private var lineNumber = 0
    private var pending: [UInt8] = []
    private var fields: [Field] = []
    // Rows usually come sorted by group, so the last row's names are checked first.
    private var lastModelBytes: [UInt8] = []
    private var lastCohortBytes: [UInt8] = []
    private var lastKey: ScoreTable.Key?
    /// The rows of `lastKey` not yet handed to the table.
    private var run = ScoreTable.Scores()
    /// Subject names, interned: a file repeats each subject many times.
    private var subjectIDs: [String: Int32] = [:]
    private var subjectNames: [String] = []

    init() {}

    /// Parses every complete line in `chunk`; an unfinished last line waits for the next chunk.
    mutating func consume(_ chunk: UnsafeBufferPointer<UInt8>) throws(ScoreFileError) {
        var lineStart = 0
        var index = 0
        while index < chunk.count {
            if chunk[index] == UInt8(ascii: "\n") {
                let piece = UnsafeBufferPointer(rebasing: chunk[lineStart..<index])
                try checkLength(pending.count + piece.count)
                if pending.isEmpty {
                    try parseLine(piece)
                } else {
                    pending.append(contentsOf: piece)
                    let line = pending
                    pending.removeAll(keepingCapacity: true)
                    try line.withUnsafeBufferPointer { buffer throws(ScoreFileError) in try parseLine(buffer) }
                }
                lineStart = index + 1
            }
            index += 1
        }
        let rest = UnsafeBufferPointer(rebasing: chunk[lineStart..<chunk.count])
        try checkLength(pending.count + rest.count)
        pending.append(contentsOf: rest)
    }

    /// Refuses the line being read (the next one to be numbered) once it is over the limit.
    private func checkLength(_ length: Int) throws(ScoreFileError) {
        guard length <= Self.maxLineLength else {
            throw .lineTooLong(line: lineNumber + 1, limit: Self.maxLineLength)
        }
    }

    mutating func consume(_ bytes: [UInt8]) throws(ScoreFileError) {
        try bytes.withUnsafeBufferPointer { buffer throws(ScoreFileError) in try consume(buffer) }
    }

    /// Parses a last line without a newline and returns the table.
    mutating func finish() throws(ScoreFileError) -> ScoreTable {
        if !pending.isEmpty {
            let line = pending
            pending.removeAll()
            try line.withUnsafeBufferPointer { buffer throws(ScoreFileError) in try parseLine(buffer) }
        }
        flushRun()
        guard var table else { throw .empty }
        table.subjectNames = subjectNames
        guard table.rowCount > 0 else { throw .noRows }
        return table
    }

    private mutating func parseLine(_ raw: UnsafeBufferPointer<UInt8>) throws(ScoreFileError) {
        lineNumber += 1
        var line = raw
        if line.last == UInt8(ascii: "\r") { line = UnsafeBufferPointer(rebasing: line.dropLast()) }
        if lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) {
            line = UnsafeBufferPointer(rebasing: line.dropFirst(3))
        }
        if Self.isBlank(line) {
            // A blank first line is not a header: the header is the first non-blank line.
            return
        }
        try split(line)
        if let columns {
            try parseRow(line, columns: columns)
        } else {
            try parseHeader(line)
        }
    }

    private mutating func parseHeader(_ line: UnsafeBufferPointer<UInt8>) throws(ScoreFileError) {
        let names = fields.map { text(of: $0, in: line).lowercased() }
        var positions: [String: Int] = [:]
        for (index, name) in names.enumerated() where ["score", "label", "cohort", "model", "subject"].contains(name) {
            guard positions[name] == nil else { throw .duplicateColumn(name: name) }
            positions[name] = index
        }
        guard let score = positions["score"] else { throw .missingColumn(name: "score", header: names) }
        guard let label = positions["label"] else { throw .missingColumn(name: "label", header: names) }
        columns = Columns(score: score, label: label, cohort: positions["cohort"], model: positions["model"], subject: positions["subject"])
        table = ScoreTable(hasModelColumn: positions["model"] != nil, hasCohortColumn: positions["cohort"] != nil,
                           hasSubjectColumn: positions["subject"] != nil)
    }

    private mutating func parseRow(_ line: UnsafeBufferPointer<UInt8>, columns: Columns) throws(ScoreFileError) {
        let score = try parseScore(field("score", at: columns.score), in: line)
        let label = try parseLabel(field("label", at: columns.label), in: line)
        try selectGroup(line, columns: columns)
        if let subjectColumn = columns.subject {
            run.append(score, label, subject: try subjectID(try field("subject", at: subjectColumn), in: line))
        } else {
            run.append(score, label)
        }
    }

    private mutating func subjectID(_ field: Field, in line: UnsafeBufferPointer<UInt8>) throws(ScoreFileError) -> Int32 {
        let subject = try name(field, column: "subject", in: line)
        if let known = subjectIDs[subject] { return known }
        let id = Int32(subjectNames.count)
        subjectIDs[subject] = id
        subjectNames.append(subject)
        return id
    }

    private mutating func flushRun() {
        guard let lastKey, !run.isEmpty else { return }
        table?.append(run, to: lastKey)
        run = ScoreTable.Scores()
    }

    private func field(_ name: String, at index: Int) throws(ScoreFileError) -> Field {
        guard index < fields.count else {
            throw .missingField(line: lineNumber, column: name, fieldCount: fields.count)
        }
        return fields[index]
    }

    private func parseScore(_ field: Field, in line: UnsafeBufferPointer<UInt8>) throws(ScoreFileError) -> Double {
        let text = text(of: field, in: line)
        guard let score = Double(text) else { throw .unparsableScore(line: lineNumber, text: text) }
        if score.isNaN { throw .nanScore(line: lineNumber) }
        if score.isInfinite { throw .infiniteScore(line: lineNumber, text: text) }
        return score
    }

    private func parseLabel(_ field: Field, in line: UnsafeBufferPointer<UInt8>) throws(ScoreFileError) -> ScoreLabel {
        let bytes = UnsafeBufferPointer(rebasing: line[field.start..<field.end])
        if bytes.elementsEqual(Self.impostorBytes) { return .impostor }
        if bytes.elementsEqual(Self.genuineBytes) { return .genuine }
        if bytes.elementsEqual(Self.unknownBytes) { return .unknown }
        throw .unknownLabel(line: lineNumber, text: text(of: field, in: line))
    }

    /// Makes `lastKey` the row's group, handing the previous group's run to the table when it changes.
    private mutating func selectGroup(_ line: UnsafeBufferPointer<UInt8>, columns: Columns) throws(ScoreFileError) {
        let model = try columns.model.map { index throws(ScoreFileError) in try field("model", at: index) }
        let cohort = try columns.cohort.map { index throws(ScoreFileError) in try field("cohort", at: index) }
        if lastKey != nil,
           model.map({ line[$0.start..<$0.end].elementsEqual(lastModelBytes) }) ?? true,
           cohort.map({ line[$0.start..<$0.end].elementsEqual(lastCohortBytes) }) ?? true {
            return
        }
        let key = ScoreTable.Key(
            model: try model.map { field throws(ScoreFileError) in try name(field, column: "model", in: line) },
            cohort: try cohort.map { field throws(ScoreFileError) in try name(field, column: "cohort", in: line) })
        flushRun()
        lastModelBytes = model.map { Array(line[$0.start..<$0.end]) } ?? []
        lastCohortBytes = cohort.map { Array(line[$0.start..<$0.end]) } ?? []
        lastKey = key
    }

    private func name(_ field: Field, column: String, in line: UnsafeBufferPointer<UInt8>) throws(ScoreFileError) -> String {
        guard field.end > field.start else { throw .emptyName(line: lineNumber, column: column) }
        guard String(validating: line[field.start..<field.end], as: UTF8.self) != nil else {
            throw .invalidText(line: lineNumber)
        }
        return text(of: field, in: line)
    }

    private func text(of field: Field, in line: UnsafeBufferPointer<UInt8>) -> String {
        let text = String(decoding: line[field.start..<field.end], as: UTF8.self)
        return field.hasEscapedQuote ? text.replacingOccurrences(of: "\"\"", with: "\"") : text
    }

    /// Splits a line at commas into `fields`, trimming blanks around unquoted fields.
    private mutating func split(_ line: UnsafeBufferPointer<UInt8>) throws(ScoreFileError) {
        fields.removeAll(keepingCapacity: true)
        var index = 0
        while true {
            while index < line.count, Self.isSpace(line[index]) { index += 1 }
            if index < line.count, line[index] == UInt8(ascii: "\"") {
                index += 1
                let start = index
                var escaped = false
                while true {
                    guard index < line.count else { throw .malformedQuotes(line: lineNumber) }
                    if line[index] == UInt8(ascii: "\"") {
                        if index + 1 < line.count, line[index + 1] == UInt8(ascii: "\"") {
                            escaped = true
                            index += 2
                            continue
                        }
                        break
                    }
                    index += 1
                }
                fields.append(Field(start: start, end: index, hasEscapedQuote: escaped))
                index += 1
                while index < line.count, Self.isSpace(line[index]) { index += 1 }
                guard index == line.count || line[index] == UInt8(ascii: ",") else {
                    throw .malformedQuotes(line: lineNumber)
                }
            } else {
                let start = index
                while index < line.count, line[index] != UInt8(ascii: ",") { index += 1 }
                var end = index
                while end > start, Self.isSpace(line[end - 1]) { end -= 1 }
                fields.append(Field(start: start, end: end, hasEscapedQuote: false))
            }
            guard index < line.count else { return }
            index += 1  // past the comma
        }
    }

    private static let impostorBytes = Array("impostor".utf8)
    private static let genuineBytes = Array("genuine".utf8)
    private static let unknownBytes = Array("unknown".utf8)

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    private static func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool { line.allSatisfy(isSpace) }
}
