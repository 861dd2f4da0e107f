/// Why a score file could not be read. Each message is one line that names the file line
/// (1 is the header) so an engineer can open the file at the right place.
///
/// ```swift
/// do { _ = try ScoreTable(contentsOfFile: "scores.csv") }
/// catch let error as ScoreFileError { print("error: \(error)") }   // error: line 7: …
/// ```
public enum ScoreFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// The file holds no header line at all.
    case empty
    /// The header holds no score rows after it.
    case noRows
    /// A required column is not in the header.
    case missingColumn(name: String, header: [String])
    /// A column name appears twice in the header.
    case duplicateColumn(name: String)
    /// A row has fewer fields than the columns it needs.
    case missingField(line: Int, column: String, fieldCount: Int)
    /// A score that does not parse as a number.
    case unparsableScore(line: Int, text: String)
    /// A score of NaN, which has no place in an ordering.
    case nanScore(line: Int)
    /// An infinite score; reports write scores and thresholds as JSON numbers.
    case infiniteScore(line: Int, text: String)
    /// A label other than genuine, impostor or unknown.
    case unknownLabel(line: Int, text: String)
    /// An empty cohort or model name.
    case emptyName(line: Int, column: String)
    /// A quoted field that is not closed on its line, or text after a closing quote.
    case malformedQuotes(line: Int)
    /// Bytes that are not UTF-8 in a name or a score.
    case invalidText(line: Int)
    /// A line longer than any score row needs (see `ScoreFileParser.maxLineLength`).
    case lineTooLong(line: Int, limit: Int)
    /// The gzip stream is damaged or cut short.
    case corruptGzip(reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .empty:
            return "line 1: the file is empty; expected a header such as score,label,cohort,model"
        case .noRows:
            return "the file has a header but no score rows"
        case .missingColumn(let name, let header):
            return "line 1: no '\(name)' column in the header (found: \(header.joined(separator: ",")))"
        case .duplicateColumn(let name):
            return "line 1: the column '\(name)' appears twice in the header"
        case .missingField(let line, let column, let fieldCount):
            return "line \(line): no '\(column)' field (the row has \(fieldCount) field(s))"
        case .unparsableScore(let line, let text):
            return "line \(line): score '\(text)' is not a number"
        case .nanScore(let line):
            return "line \(line): score is NaN; fix the scorer or drop the row"
        case .infiniteScore(let line, let text):
            return "line \(line): score '\(text)' is not finite"
        case .unknownLabel(let line, let text):
            return "line \(line): label '\(text)' is not genuine, impostor or unknown"
        case .emptyName(let line, let column):
            return "line \(line): the \(column) is empty"
        case .malformedQuotes(let line):
            return "line \(line): a quoted field is not closed, or text follows its closing quote"
        case .invalidText(let line):
            return "line \(line): the row is not valid UTF-8"
        case .lineTooLong(let line, let limit):
            return "line \(line): longer than \(limit) bytes, which no score row needs; is this a CSV file with line breaks?"
        case .corruptGzip(let reason):
            return "the gzip data is corrupt: \(reason)"
        }
    }
}
