import FederationCore
import Foundation

/// The offline aggregation file format shared by the CLI and the benchmarks, so the same
/// round can be aggregated here and by Flower:
///
/// - input, little-endian: int32 N, int32 D, then N int64 example counts, then N×D
///   float32 updates row by row;
/// - result: D little-endian float32 values.
///
/// Clients in a file have no names; they are called "0", "1", … in row order.
///
/// ```swift
/// let matrix = try AggregationFile.decodeUpdates(Data(contentsOf: url))
/// try AggregationFile.encodeResult(outcome.parameters).write(to: out)
/// ```
public enum AggregationFile {
    public static func decodeUpdates(_ data: Data) throws -> UpdateMatrix {
        guard data.count >= 8 else {
            throw FederationError.dimensionMismatch(what: "aggregation file header (bytes)", expected: 8, actual: data.count)
        }
        return try data.withUnsafeBytes { bytes in
            let n = Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: Int32.self)))
            let d = Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: Int32.self)))
            guard n > 0 else { throw FederationError.invalidParameter(name: "N", value: Double(n), requirement: "must be positive") }
            guard d > 0 else { throw FederationError.invalidParameter(name: "D", value: Double(d), requirement: "must be positive") }
            let (cells, overflow) = n.multipliedReportingOverflow(by: d)
            let expected = 8 + 8 * n + 4 * cells
            guard !overflow, bytes.count == expected else {
                throw FederationError.dimensionMismatch(what: "aggregation file of N = \(n), D = \(d) (bytes)",
                                                        expected: expected, actual: bytes.count)
            }
            let counts = (0..<n).map {
                Int(Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 + 8 * $0, as: Int64.self)))
            }
            let start = 8 + 8 * n
            let values = [Float](unsafeUninitializedCapacity: cells) { buffer, initialized in
                for index in 0..<cells {
                    let bits = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 4 * index, as: UInt32.self))
                    buffer[index] = Float(bitPattern: bits)
                }
                initialized = cells
            }
            return try UpdateMatrix(clientIDs: (0..<n).map(String.init), exampleCounts: counts, columnCount: d, values: values)
        }
    }

    /// The input format, for tests and tools that produce rounds.
    public static func encodeUpdates(_ matrix: UpdateMatrix) -> Data {
        var data = Data(capacity: 8 + 8 * matrix.rowCount + 4 * matrix.values.count)
        appendLittleEndian(Int32(matrix.rowCount), to: &data)
        appendLittleEndian(Int32(matrix.columnCount), to: &data)
        for count in matrix.exampleCounts { appendLittleEndian(Int64(count), to: &data) }
        for value in matrix.values { appendLittleEndian(value.bitPattern, to: &data) }
        return data
    }

    public static func encodeResult(_ values: [Float]) -> Data {
        var data = Data(capacity: 4 * values.count)
        for value in values { appendLittleEndian(value.bitPattern, to: &data) }
        return data
    }

    public static func decodeResult(_ data: Data) throws -> [Float] {
        guard data.count % 4 == 0 else {
            throw FederationError.dimensionMismatch(what: "result file (bytes, a multiple of 4)", expected: data.count / 4 * 4, actual: data.count)
        }
        return data.withUnsafeBytes { bytes in
            (0..<(bytes.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
    }

    private static func appendLittleEndian<Value: FixedWidthInteger>(_ value: Value, to data: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }
}
