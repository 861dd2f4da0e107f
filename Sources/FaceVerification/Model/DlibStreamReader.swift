import Foundation

/// Reads the primitive records of dlib's `serialize` format (see docs/face-verification.md):
/// variable-length integers, portable floats, strings, matrices and raw float32 tensors.
///
/// Every read checks the remaining length, so a truncated or corrupt file ends in a
/// `FaceVerificationError.modelFileCorrupt` naming the file instead of a crash.
struct DlibStreamReader {
    /// A tensor's shape and its values in NCHW row-major order.
    struct Tensor {
        var shape: [Int]
        var values: [Float]
    }

    private let bytes: [UInt8]
    private(set) var offset = 0
    let path: String

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    /// Loads a whole model file; a missing file becomes `modelFileMissing`.
    init(contentsOf url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FaceVerificationError.modelFileMissing(path: url.path)
        }
        do {
            let data = try Data(contentsOf: url)
            self.init(bytes: [UInt8](data), path: url.path)
        } catch {
            throw FaceVerificationError.modelFileCorrupt(path: url.path, reason: "unreadable: \(error.localizedDescription)")
        }
    }

    var isAtEnd: Bool { offset == bytes.count }

    func corrupt(_ reason: String) -> FaceVerificationError {
        .modelFileCorrupt(path: path, reason: "\(reason) at byte \(offset)")
    }

    mutating func readByte() throws -> UInt8 {
        guard offset < bytes.count else { throw corrupt("unexpected end of file") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// A control byte (low nibble = byte count, bit 7 = sign) then little-endian magnitude.
    mutating func readInteger() throws -> Int64 {
        let control = try readByte()
        guard control & 0x70 == 0 else { throw corrupt("malformed integer control byte \(control)") }
        let count = Int(control & 0x0F)
        guard (1...8).contains(count) else { throw corrupt("integer of \(count) bytes") }
        var magnitude: UInt64 = 0
        for index in 0..<count {
            magnitude |= UInt64(try readByte()) << (8 * UInt64(index))
        }
        guard magnitude <= UInt64(Int64.max) else { throw corrupt("integer out of range") }
        return control & 0x80 != 0 ? -Int64(magnitude) : Int64(magnitude)
    }

    /// An integer that must lie in `range` (sizes, counts, shapes).
    mutating func readInt(in range: ClosedRange<Int> = 0...Int(Int32.max)) throws -> Int {
        let value = try readInteger()
        guard let int = Int(exactly: value), range.contains(int) else {
            throw corrupt("integer \(value) outside \(range)")
        }
        return int
    }

    mutating func readBool() throws -> Bool {
        switch try readByte() {
        case UInt8(ascii: "1"): return true
        case UInt8(ascii: "0"): return false
        case let other: throw corrupt("boolean byte \(other)")
        }
    }

    /// dlib's portable float: mantissa (int64) then exponent (int16), value = m · 2^e.
    mutating func readDouble() throws -> Double {
        guard offset < bytes.count else { throw corrupt("unexpected end of file") }
        guard bytes[offset] & 0x70 == 0 else { throw corrupt("legacy text-format float") }
        let mantissa = try readInteger()
        let exponent = try readInteger()
        switch exponent {
        case 32000: return .infinity
        case 32001: return -.infinity
        case 32002: return .nan
        case -32768...32767: return scalbn(Double(mantissa), Int(exponent))
        default: throw corrupt("float exponent \(exponent)")
        }
    }

    mutating func readFloat() throws -> Float {
        Float(try readDouble())
    }

    mutating func readString(maxLength: Int = 1 << 16) throws -> String {
        let length = try readInt(in: 0...maxLength)
        guard bytes.count - offset >= length else { throw corrupt("string runs past end of file") }
        defer { offset += length }
        return String(decoding: bytes[offset..<offset + length], as: UTF8.self)
    }

    /// Reads a string and checks it is one of the expected layer or record tags.
    mutating func expectTag(_ expected: String...) throws -> String {
        let tag = try readString(maxLength: 256)
        guard expected.contains(tag) else {
            throw corrupt("found record \"\(tag)\" where \(expected.joined(separator: " or ")) was expected")
        }
        return tag
    }

    mutating func expectVersion(_ allowed: ClosedRange<Int>) throws -> Int {
        let version = try readInteger()
        guard let int = Int(exactly: version), allowed.contains(int) else {
            throw corrupt("unsupported record version \(version)")
        }
        return int
    }

    /// A DNN tensor: version 2, four dimensions, then raw little-endian float32 values.
    mutating func readTensor() throws -> Tensor {
        _ = try expectVersion(2...2)
        var shape: [Int] = []
        var count = 1
        for _ in 0..<4 {
            let dimension = try readInt()
            shape.append(dimension)
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw corrupt("tensor too large") }
            count = product
        }
        // Compared with what is left before multiplying: a crafted shape can make `count` so
        // large that its byte count would overflow.
        guard count <= (bytes.count - offset) / MemoryLayout<Float>.size else {
            throw corrupt("tensor of \(count) floats runs past end of file")
        }
        let byteCount = count * MemoryLayout<Float>.size
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { destination in
            bytes.withUnsafeBytes { source in
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<offset + byteCount]))
            }
        }
        #if _endian(big)
        values = values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        #endif
        offset += byteCount
        return Tensor(shape: shape, values: values)
    }

    /// An alias tensor (a view's shape, no data): version 1 and four dimensions.
    mutating func readAliasTensor() throws -> [Int] {
        _ = try expectVersion(1...1)
        return try (0..<4).map { _ in try readInt() }
    }

    /// A `dlib::matrix<float>`: rows and columns (negated in the current format), then the
    /// elements as portable floats in row-major order.
    mutating func readFloatMatrix() throws -> (rows: Int, columns: Int, values: [Float]) {
        let rows = Int(abs(try readInteger()))
        let columns = Int(abs(try readInteger()))
        // Each side is bounded before the product is taken, so it cannot overflow.
        guard rows <= 1 << 20, columns <= 1 << 20, rows * columns <= 1 << 24 else {
            throw corrupt("matrix of \(rows)×\(columns)")
        }
        // A portable float takes at least four bytes (two integers of at least two), so a
        // matrix the rest of the file cannot hold is refused before its values are reserved.
        guard rows * columns <= (bytes.count - offset) / 4 else {
            throw corrupt("matrix of \(rows)×\(columns) floats runs past end of file")
        }
        let values = try (0..<rows * columns).map { _ in try readFloat() }
        return (rows, columns, values)
    }

    mutating func skipDoubles(_ count: Int) throws {
        for _ in 0..<count { _ = try readDouble() }
    }
}
