import Foundation

/// Reads a score file — CSV, or CSV compressed with gzip — into a `ScoreTable`.
///
/// Compression is recognised by the gzip magic bytes, not by the file name, so a
/// `scores.csv` that is really gzipped and a `scores.csv.gz` that is really plain both read.
/// The file is streamed in chunks; only the scores are kept in memory.
///
/// ```swift
/// let table = try ScoreFileReader.read(path: "outcomes-2026-11.csv.gz")
/// ```
public enum ScoreFileReader {
    static let chunkSize = 1 << 20

    /// - Throws: `ScoreFileError` naming the first bad line, or why the file cannot be read.
    public static func read(path: String) throws(ScoreFileError) -> ScoreTable {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        defer { try? handle.close() }
        return try read { () throws(ScoreFileError) -> [UInt8]? in
            do {
                guard let chunk = try handle.read(upToCount: chunkSize), !chunk.isEmpty else { return nil }
                return [UInt8](chunk)
            } catch {
                throw .unreadable(path: path, reason: error.localizedDescription)
            }
        }
    }

    /// Parses a whole score file held in memory (plain or gzipped).
    public static func parse(_ bytes: [UInt8]) throws(ScoreFileError) -> ScoreTable {
        var remaining: [UInt8]? = bytes
        return try read { () throws(ScoreFileError) -> [UInt8]? in
            defer { remaining = nil }
            return remaining?.isEmpty == false ? remaining : nil
        }
    }

    private static func read(nextChunk: () throws(ScoreFileError) -> [UInt8]?) throws(ScoreFileError) -> ScoreTable {
        var parser = ScoreFileParser()
        guard let first = try nextChunk() else { throw .empty }
        var inflater: GzipInflater?
        if GzipInflater.isGzip(first) {
            inflater = try GzipInflater()
        }
        var chunk: [UInt8]? = first
        while let bytes = chunk {
            try bytes.withUnsafeBufferPointer { buffer throws(ScoreFileError) in
                if let inflater {
                    try inflater.inflate(UnsafeRawBufferPointer(buffer)) { plain throws(ScoreFileError) in try parser.consume(plain) }
                } else {
                    try parser.consume(buffer)
                }
            }
            chunk = try nextChunk()
        }
        try inflater?.finish()
        return try parser.finish()
    }
}
