import CTurboJPEG
import FaceVerification
import Foundation
import Testing

/// Builds valid progressive JPEGs with as many scans as asked: one grey component, every
/// coefficient zero (so every pixel is 128), coded with the longest progression the standard
/// allows — the DC coefficient's first scan at point transform 13 and its 13 refinements, then
/// the same for each AC coefficient alone — 896 scans, of which the first `scans` are written.
enum ProgressiveScanBomb {
    /// A scan's spectral band (`start`…`end`) and successive-approximation bits (`high`, `low`).
    struct Scan {
        var start: UInt8
        var end: UInt8
        var high: UInt8
        var low: UInt8
    }

    static let longestProgression: [Scan] = {
        var scans: [Scan] = []
        for coefficient in UInt8(0)...63 {
            scans.append(Scan(start: coefficient, end: coefficient, high: 0, low: 13))
            for low in (UInt8(0)..<13).reversed() {
                scans.append(Scan(start: coefficient, end: coefficient, high: low + 1, low: low))
            }
        }
        return scans
    }()

    static func make(width: Int, height: Int, scans: Int) -> [UInt8] {
        precondition(scans <= longestProgression.count && width < 65536 && height < 65536)
        var bytes: [UInt8] = [0xFF, 0xD8]
        func segment(_ marker: UInt8, _ payload: [UInt8]) {
            bytes += [0xFF, marker, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
        }
        segment(0xDB, [0x00] + [UInt8](repeating: 1, count: 64))
        segment(0xC2, [8, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF), 1, 1, 0x11, 0])
        // DC table 0: the one symbol "difference 0" as the 1-bit code 0. AC table 0: the
        // end-of-band runs EOB0…EOB14 as the 4-bit codes 0…14.
        segment(0xC4, [0x00, 1] + [UInt8](repeating: 0, count: 15) + [0x00]
                    + [0x10, 0, 0, 0, 15] + [UInt8](repeating: 0, count: 12) + (0..<15).map { UInt8($0 << 4) })
        let blocks = ((width + 7) / 8) * ((height + 7) / 8)
        for scan in longestProgression.prefix(scans) {
            segment(0xDA, [1, 1, 0x00, scan.start, scan.end, scan.high << 4 | scan.low])
            var writer = BitWriter()
            if scan.start == 0 {
                // First scan: code 0 per block; refinement: the (zero) bit per block.
                for _ in 0..<blocks { writer.write(0, bits: 1) }
            } else {
                var remaining = blocks
                while remaining > 0 {
                    let run = min(remaining, 32767)
                    let exponent = Int.bitWidth - 1 - run.leadingZeroBitCount
                    writer.write(exponent, bits: 4)
                    writer.write(run - (1 << exponent), bits: exponent)
                    remaining -= run
                }
            }
            bytes += writer.finished()
        }
        return bytes + [0xFF, 0xD9]
    }

    /// Entropy-coded bytes: most significant bit first, 0xFF followed by a stuffed 0x00, the
    /// last byte padded with one bits.
    struct BitWriter {
        private var bytes: [UInt8] = []
        private var accumulator = 0
        private var count = 0

        mutating func write(_ value: Int, bits: Int) {
            for bit in stride(from: bits - 1, through: 0, by: -1) {
                accumulator = accumulator << 1 | (value >> bit) & 1
                count += 1
                if count == 8 { flush() }
            }
        }

        private mutating func flush() {
            bytes.append(UInt8(accumulator))
            if accumulator == 0xFF { bytes.append(0) }
            accumulator = 0
            count = 0
        }

        mutating func finished() -> [UInt8] {
            if count > 0 { write(0x7F, bits: 8 - count) }
            return bytes
        }
    }
}

@Suite("JPEG scan limit")
struct JPEGScanLimitTests {
    @Test("progressive JPEGs of up to the scan limit decode", arguments: [1, 10, JPEGDecoder.maxScans])
    func withinLimit(scans: Int) throws {
        let image = try JPEGDecoder().decode(ProgressiveScanBomb.make(width: 40, height: 24, scans: scans))
        #expect(image.width == 40 && image.height == 24)
        #expect(image.pixels.allSatisfy { $0 == 128 })
    }

    @Test("more scans than the limit are refused before decoding", arguments: [JPEGDecoder.maxScans + 1, 896])
    func overLimit(scans: Int) throws {
        let bytes = ProgressiveScanBomb.make(width: 40, height: 24, scans: scans)
        #expect(throws: FaceVerificationError.tooManyScans(limit: JPEGDecoder.maxScans)) {
            try JPEGDecoder().decode(bytes)
        }
    }

    @Test("the fuzz corpus holds the 896-scan bomb")
    func fuzzCorpus() throws {
        let url = TestSupport.packageRoot.appendingPathComponent("Fuzz/fuzz-jpeg/corpus/scan-bomb-896-scans.jpg")
        #expect([UInt8](try Data(contentsOf: url)) == ProgressiveScanBomb.make(width: 40, height: 24, scans: 896))
    }

    @Test("scans are counted as the decoder meets them: not inside segment payloads, not after the end of the image")
    func countsOnlyRealScans() throws {
        let bomb = ProgressiveScanBomb.make(width: 40, height: 24, scans: 896)
        // The whole bomb inside a comment segment is payload, not scans: a normal image.
        let baseline = try TestSupport.imageBytes("obama_1_quarter.jpg")
        var wrapped = Array(baseline.prefix(2))
        for start in stride(from: 0, to: bomb.count, by: 65533) {
            let piece = bomb[start..<min(start + 65533, bomb.count)]
            wrapped += [0xFF, 0xFE, UInt8((piece.count + 2) >> 8), UInt8((piece.count + 2) & 0xFF)] + piece
        }
        wrapped += baseline.dropFirst(2)
        #expect(try JPEGDecoder().decode(wrapped) == JPEGDecoder().decode(baseline))
        // Scans after the end-of-image marker are never read by the decoder.
        #expect(throws: Never.self) { try JPEGDecoder().decode(baseline + bomb.dropFirst(2)) }
    }

    @Test("a photograph converted to progressive decodes to the same pixels")
    func progressivePhotograph() throws {
        let baseline = try TestSupport.imageBytes("obama_1.jpg")
        let progressive = try Self.progressive(baseline)
        // A progressive frame header (SOF2) is there.
        #expect(progressive.indices.dropLast().contains { progressive[$0] == 0xFF && progressive[$0 + 1] == 0xC2 })
        #expect(try JPEGDecoder().decode(progressive) == JPEGDecoder().decode(baseline))
    }

    /// The same DCT coefficients in progressive order (TurboJPEG's lossless transform).
    static func progressive(_ jpeg: [UInt8]) throws -> [UInt8] {
        let handle = try #require(tjInitTransform())
        defer { tjDestroy(handle) }
        var transform = tjtransform()
        transform.op = Int32(TJXOP_NONE.rawValue)
        transform.options = TJXOPT_PROGRESSIVE
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = jpeg.withUnsafeBufferPointer { source in
            tjTransform(handle, source.baseAddress, UInt(source.count), 1, &output, &size, &transform, 0)
        }
        defer { tjFree(output) }
        try #require(status == 0, "\(String(cString: tjGetErrorStr2(handle)))")
        let buffer = try #require(output)
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }
}
