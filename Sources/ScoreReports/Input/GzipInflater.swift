import CZlib

/// Streams gzip data into plain bytes with zlib, so that a large `.csv.gz` is parsed while
/// it is read instead of being inflated into memory first.
///
/// Concatenated gzip members (what `cat a.gz b.gz` makes, and what `gzip` itself reads as
/// one file) are inflated one after the other. A stream that stops before its end marker,
/// fails its CRC or carries bytes after the last member is refused.
///
/// ```swift
/// let inflater = try GzipInflater()
/// try inflater.inflate(chunk) { plain in parser.consume(plain) }
/// try inflater.finish()
/// ```
final class GzipInflater {
    /// The gzip magic number (RFC 1952): how a compressed file is recognised, whatever its name.
    static func isGzip(_ prefix: some Collection<UInt8>) -> Bool {
        prefix.starts(with: [0x1F, 0x8B])
    }

    // zlib keeps a pointer back to its z_stream and checks it on every call, so the stream
    // lives at one fixed address for the inflater's lifetime.
    private let stream: UnsafeMutablePointer<z_stream>
    private var output: [UInt8]
    private var atMemberEnd = false

    init(outputChunkSize: Int = 1 << 18) throws(ScoreFileError) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = [UInt8](repeating: 0, count: outputChunkSize)
        // 16 + MAX_WBITS: expect a gzip header and trailer, not a raw zlib stream.
        let status = inflateInit2_(stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw .corruptGzip(reason: "zlib could not start (status \(status))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates one chunk of compressed input and hands every piece of output to `sink`.
    func inflate(
        _ input: UnsafeRawBufferPointer,
        into sink: (UnsafeBufferPointer<UInt8>) throws(ScoreFileError) -> Void
    ) throws(ScoreFileError) {
        guard let base = input.baseAddress, !input.isEmpty else { return }
        // zlib declares next_in as mutable but never writes through it.
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        while stream.pointee.avail_in > 0 {
            if atMemberEnd {
                // Another gzip member follows the one that just ended.
                guard inflateReset(stream) == Z_OK else { throw .corruptGzip(reason: "cannot start the next gzip member") }
                atMemberEnd = false
            }
            let status = try drain(into: sink)
            if status == Z_STREAM_END { atMemberEnd = true }
        }
    }

    /// Checks that the input ended exactly at the end of a gzip member.
    func finish() throws(ScoreFileError) {
        guard atMemberEnd else {
            throw .corruptGzip(reason: "the stream is cut short before its end marker")
        }
    }

    /// Runs inflate until it needs more input or reaches the end of a member.
    private func drain(into sink: (UnsafeBufferPointer<UInt8>) throws(ScoreFileError) -> Void) throws(ScoreFileError) -> Int32 {
        while true {
            let capacity = output.count
            let (status, produced) = output.withUnsafeMutableBufferPointer { buffer -> (Int32, Int) in
                stream.pointee.next_out = buffer.baseAddress
                stream.pointee.avail_out = uInt(capacity)
                let status = CZlib.inflate(stream, Z_NO_FLUSH)
                return (status, capacity - Int(stream.pointee.avail_out))
            }
            if produced > 0 {
                try output.withUnsafeBufferPointer { buffer throws(ScoreFileError) in
                    try sink(UnsafeBufferPointer(rebasing: buffer[0..<produced]))
                }
            }
            switch status {
            case Z_STREAM_END:
                return status
            case Z_OK:
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return status }
            case Z_BUF_ERROR:
                // No progress possible: all input consumed and nothing left to flush.
                return Z_OK
            default:
                throw .corruptGzip(reason: Self.message(stream.pointee.msg, status: status))
            }
        }
    }

    private static func message(_ text: UnsafePointer<CChar>?, status: Int32) -> String {
        guard let text else { return "zlib status \(status)" }
        return String(cString: text)
    }
}
