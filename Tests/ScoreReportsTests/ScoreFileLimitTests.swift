import CZlib
import Foundation
import Testing
@testable import ScoreReports

struct ZlibFailure: Error {
    var status: Int32
}

/// Gzip of `count` copies of `byte`, deflated in a stream so the plain text never exists whole.
func gzipOfRepeatedByte(_ byte: UInt8, count: Int) throws -> [UInt8] {
    var stream = z_stream()
    // 16 + MAX_WBITS: a gzip wrapper; memory level 8 is zlib's default.
    let started = deflateInit2_(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
                                zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard started == Z_OK else { throw ZlibFailure(status: started) }
    defer { deflateEnd(&stream) }
    var input = [UInt8](repeating: byte, count: 1 << 20)
    var output = [UInt8](repeating: 0, count: 1 << 16)
    var compressed: [UInt8] = []
    var remaining = count
    repeat {
        let piece = min(remaining, input.count)
        remaining -= piece
        let flush = remaining == 0 ? Z_FINISH : Z_NO_FLUSH
        var status = Z_OK
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(piece)
            repeat {
                output.withUnsafeMutableBufferPointer { destination in
                    stream.next_out = destination.baseAddress
                    stream.avail_out = uInt(destination.count)
                    status = deflate(&stream, flush)
                    compressed += destination.prefix(destination.count - Int(stream.avail_out))
                }
            } while stream.avail_out == 0 || (flush == Z_FINISH && status == Z_OK)
        }
        guard status == Z_OK || status == Z_STREAM_END else { throw ZlibFailure(status: status) }
    } while remaining > 0
    return compressed
}

@Suite("Score files: line length and gzip bombs")
struct ScoreFileLimitTests {
    @Test("a line longer than the limit is refused with its line number")
    func longLine() throws {
        let long = String(repeating: "7", count: ScoreFileParser.maxLineLength + 1)
        let text = "score,label\n0.1,genuine\n\(long),impostor\n"
        #expect(throws: ScoreFileError.lineTooLong(line: 3, limit: ScoreFileParser.maxLineLength)) {
            try ScoreFileReader.parse(Array(text.utf8))
        }
        // The limit holds within a chunk and across chunks, with or without a final newline.
        for size in [1000, 1 << 16, 1 << 20] {
            var parser = ScoreFileParser()
            let bytes = Array("score,label\n\(long)".utf8)
            #expect(throws: ScoreFileError.lineTooLong(line: 2, limit: ScoreFileParser.maxLineLength), "chunk size \(size)") {
                var index = 0
                while index < bytes.count {
                    try parser.consume(Array(bytes[index..<min(index + size, bytes.count)]))
                    index += size
                }
                _ = try parser.finish()
            }
        }
        #expect(!ScoreFileError.lineTooLong(line: 3, limit: 65536).description.contains("\n"))
    }

    @Test("a line of exactly the limit is still read")
    func lineAtLimit() throws {
        let padding = String(repeating: " ", count: ScoreFileParser.maxLineLength - "0.5,genuine".utf8.count)
        let table = try ScoreFileReader.parse(Array("score,label\n0.5,genuine\(padding)\n".utf8))
        #expect(table.overall().genuine == [0.5])
    }

    @Test("a gzip bomb of one endless line (200 MB of 'a') ends early with a clear error")
    func endlessLineBomb() throws {
        let bomb = try gzipOfRepeatedByte(UInt8(ascii: "a"), count: 200_000_000)
        #expect(bomb.count < 300_000)
        let path = try TestFiles.temporary(bomb, suffix: ".csv.gz")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let expected = ScoreFileError.lineTooLong(line: 1, limit: ScoreFileParser.maxLineLength)
        #expect(throws: expected) { try ScoreFileReader.read(path: path) }

        // What was inflated before the refusal: one output piece of the inflater, not the 200 MB.
        let inflater = try GzipInflater()
        var parser = ScoreFileParser()
        var inflated = 0
        #expect(throws: expected) {
            try bomb.withUnsafeBytes { buffer throws in
                try inflater.inflate(buffer) { plain throws(ScoreFileError) in
                    inflated += plain.count
                    try parser.consume(plain)
                }
            }
        }
        #expect(inflated <= 1 << 18)
    }

    @Test("the bomb in the fuzz corpus ends with the same clear error")
    func corpusBomb() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/fuzz-scores/corpus/gzip-bomb-endless-line.csv.gz").path
        #expect(throws: ScoreFileError.lineTooLong(line: 2, limit: ScoreFileParser.maxLineLength)) { try ScoreFileReader.read(path: path) }
    }
}
