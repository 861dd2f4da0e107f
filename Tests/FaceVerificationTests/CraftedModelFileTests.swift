import FaceVerification
import Foundation
import TestSupport
import Testing

/// Writes the primitive records of dlib's `serialize` format, to build hostile model files.
struct DlibStreamWriter {
    private(set) var bytes: [UInt8] = []

    /// A control byte (byte count, bit 7 for a negative value), then the magnitude in as few
    /// little-endian bytes as dlib itself writes (at least one).
    mutating func integer(_ value: Int64) {
        var magnitude = value.magnitude
        var payload: [UInt8] = []
        repeat {
            payload.append(UInt8(truncatingIfNeeded: magnitude))
            magnitude >>= 8
        } while magnitude != 0
        bytes.append(UInt8(payload.count) | (value < 0 ? 0x80 : 0))
        bytes += payload
    }

    mutating func string(_ text: String) {
        integer(Int64(text.utf8.count))
        bytes += Array(text.utf8)
    }

    /// A portable float of value zero: mantissa 0, exponent 0.
    mutating func zeroFloat() {
        integer(0)
        integer(0)
    }

    /// The face-recognition ResNet's records up to the first convolution's parameter tensor,
    /// whose four dimensions are `shape` (and whose values are absent).
    static func resnet(firstTensorShape shape: [Int64]) -> [UInt8] {
        var writer = DlibStreamWriter()
        writer.integer(1)
        writer.string("loss_metric_2")
        writer.zeroFloat()
        writer.zeroFloat()
        // One version per node of the network (see FaceDescriptorNetwork): 130 nodes.
        for _ in 0..<130 { writer.integer(1) }
        writer.string("input_rgb_image_sized")
        for _ in 0..<3 { writer.zeroFloat() }
        writer.integer(150)
        writer.integer(150)
        writer.string("con_4")
        writer.integer(2)
        for dimension in shape { writer.integer(dimension) }
        return writer.bytes
    }

    /// A shape-predictor file whose initial shape claims `rows`×`columns` values (stored with
    /// negated sides, as dlib writes them) and holds none.
    static func shapePredictor(rows: Int64, columns: Int64) -> [UInt8] {
        var writer = DlibStreamWriter()
        writer.integer(1)
        writer.integer(-rows)
        writer.integer(-columns)
        return writer.bytes
    }
}

/// Model files whose sizes are chosen to overflow or exhaust memory end in `modelFileCorrupt`,
/// never in a trap or a huge allocation.
@Suite("Crafted model files")
struct CraftedModelFileTests {
    enum Loader: String, Sendable, CustomTestStringConvertible {
        case resnet, shapePredictor
        var testDescription: String { rawValue }
    }

    private func loadError(_ bytes: [UInt8], with loader: Loader) throws -> (path: String, error: FaceVerificationError?) {
        let url = URL(fileURLWithPath: temporaryPath("crafted", suffix: ".dat"))
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            switch loader {
            case .resnet: _ = try FaceDescriptorNetwork(contentsOf: url)
            case .shapePredictor: _ = try ShapePredictor(contentsOf: url)
            }
            return (url.path, nil)
        } catch let error as FaceVerificationError {
            return (url.path, error)
        }
    }

    @Test("a size the rest of the file cannot hold is refused before it is multiplied or reserved", arguments: [
        // (2^31 - 1)^2 · 2 floats: the count fits in an Int, its byte count does not.
        (Loader.resnet, DlibStreamWriter.resnet(firstTensorShape: [2_147_483_647, 2_147_483_647, 2, 1]), "tensor of"),
        // The largest shape each dimension allows, multiplied: overflows the count itself.
        (.resnet, DlibStreamWriter.resnet(firstTensorShape: [2_147_483_647, 2_147_483_647, 2_147_483_647, 2_147_483_647]),
         "tensor too large"),
        // 2^24 floats announced in a file of a few bytes.
        (.shapePredictor, DlibStreamWriter.shapePredictor(rows: 1 << 20, columns: 16), "matrix of 1048576×16 floats runs past end of file"),
    ] as [(Loader, [UInt8], String)])
    func hugeCounts(loader: Loader, bytes: [UInt8], reason: String) throws {
        let (path, error) = try loadError(bytes, with: loader)
        guard case .modelFileCorrupt(let reportedPath, let reportedReason) = error else {
            Issue.record("expected modelFileCorrupt, got \(String(describing: error))")
            return
        }
        #expect(reportedPath == path)
        #expect(reportedReason.contains(reason), "\(reportedReason)")
        #expect(error?.description.contains("scripts/fetch-models.sh") == true)
    }

    @Test("the fuzz corpus holds these files (after fuzz-models' loader selector byte)")
    func fuzzCorpus() throws {
        let corpus = TestSupport.packageRoot.appendingPathComponent("Fuzz/fuzz-models/corpus")
        let resnet = try Data(contentsOf: corpus.appendingPathComponent("resnet-tensor-overflow"))
        #expect([UInt8](resnet) == [2] + DlibStreamWriter.resnet(firstTensorShape: [2_147_483_647, 2_147_483_647, 2, 1]))
        let shape = try Data(contentsOf: corpus.appendingPathComponent("shape-huge-matrix"))
        #expect([UInt8](shape) == [0] + DlibStreamWriter.shapePredictor(rows: 1 << 20, columns: 16))
    }
}
