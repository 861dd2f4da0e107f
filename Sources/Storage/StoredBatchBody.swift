import CZstd
import Synchronization

/// A batch's signed body as SQLite keeps it: one Zstandard frame (RFC 8878) at level 1, with
/// the checksum of its content. The body is kept only as evidence (its digest and signature
/// can be checked again later), and no query reads it, but it was more than half of every page
/// the writer wrote to the log and copied again into the database file; a kiosk's JSON takes
/// about a seventeenth of its size compressed, in some 40 µs on the uploading task. Bodies
/// stored before, and bodies stored by PostgreSQL (which compresses large values itself), are
/// the signed bytes as they came: a JSON body starts with `{`, never with a frame's magic
/// number, so `signedBytes` tells the two apart without a column saying which.
enum StoredBatchBody {
    /// A frame's first four bytes (`ZSTD_MAGICNUMBER`, little-endian).
    static let frameMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
    /// The fastest standard level: the body compresses well at any level, and the uploading
    /// tasks share the cores with the writer.
    static let level: Int32 = 1

    /// What to store for `body`: its frame, or the body itself when the frame is no smaller
    /// (or could not be made), which `signedBytes` hands back as it is.
    static func compressed(_ body: [UInt8]) -> [UInt8] {
        guard !body.isEmpty else { return body }
        return CompressionContexts.shared.withContext { context in
            guard let context else { return body }
            return compressed(body, with: context)
        }
    }

    private static func compressed(_ body: [UInt8], with context: OpaquePointer) -> [UInt8] {
        let bound = ZSTD_compressBound(body.count)
        let frame = [UInt8](unsafeUninitializedCapacity: bound) { output, count in
            count = body.withUnsafeBytes { input in
                let written = ZSTD_compress2(context, output.baseAddress, bound, input.baseAddress, input.count)
                return ZSTD_isError(written) == 0 ? written : 0
            }
        }
        return !frame.isEmpty && frame.count < body.count ? frame : body
    }

    /// The signed bytes of a stored body: a frame decompressed, anything else (a body stored
    /// as it came, or emptied by redaction) as it is. `limit` bounds what a frame may claim to
    /// hold (the server's body limit when it was stored).
    static func signedBytes(_ stored: [UInt8], limit: Int) throws(StoredBatchBodyError) -> [UInt8] {
        guard stored.starts(with: frameMagic) else { return stored }
        let size = stored.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // `ZSTD_CONTENTSIZE_UNKNOWN` and `ZSTD_CONTENTSIZE_ERROR` are the two largest values.
        guard size < UInt64.max - 1 else { throw .unreadableFrame("the frame does not say its size") }
        guard size <= UInt64(limit) else { throw .unreadableFrame("the frame holds \(size) bytes, more than \(limit)") }
        var failure: String?
        let body = [UInt8](unsafeUninitializedCapacity: Int(size)) { output, count in
            let written = stored.withUnsafeBytes { ZSTD_decompress(output.baseAddress, Int(size), $0.baseAddress, $0.count) }
            if ZSTD_isError(written) != 0 {
                failure = ZSTD_getErrorName(written).map { String(cString: $0) } ?? "error \(written)"
                count = 0
            } else if written != Int(size) {
                failure = "\(written) bytes decompressed, \(size) announced"
                count = 0
            } else {
                count = written
            }
        }
        if let failure { throw .unreadableFrame(failure) }
        return body
    }
}

/// Compression contexts of bodies, kept for the next: making one for each body (with its
/// tables and window buffers) took a third of the compression's time. A compression never
/// suspends, so at most as many exist as threads ever compressed at once (the request tasks'
/// pool has one per core); each is used by one compression at a time.
private final class CompressionContexts: Sendable {
    static let shared = CompressionContexts()

    /// The contexts no task is using, as addresses (a pointer is not `Sendable`).
    private let idle = Mutex<[UInt]>([])

    /// `body` with a context set up for `StoredBatchBody`'s frames, or nil when zstd cannot make one.
    func withContext<T>(_ body: (OpaquePointer?) -> T) -> T {
        let context = idle.withLock { $0.popLast() }.flatMap { OpaquePointer(bitPattern: $0) } ?? Self.make()
        let result = body(context)
        if let context {
            // A compression that failed part-way leaves the context mid-frame; the next starts a new one.
            ZSTD_CCtx_reset(context, ZSTD_reset_session_only)
            idle.withLock { $0.append(UInt(bitPattern: context)) }
        }
        return result
    }

    private static func make() -> OpaquePointer? {
        guard let context = ZSTD_createCCtx() else { return nil }
        // With the frame's checksum of the content, so that a damaged frame fails to
        // decompress rather than giving other bytes.
        guard ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, StoredBatchBody.level)) == 0,
              ZSTD_isError(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)) == 0 else {
            ZSTD_freeCCtx(context)
            return nil
        }
        return context
    }
}

/// A stored body that begins as a frame but does not decompress: a file damaged or edited.
enum StoredBatchBodyError: Error, Equatable, CustomStringConvertible {
    case unreadableFrame(String)

    var description: String {
        switch self {
        case let .unreadableFrame(reason): "a stored batch body is not a readable Zstandard frame: \(reason)"
        }
    }
}
