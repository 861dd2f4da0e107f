import CTurboJPEG

/// Decodes JPEG bytes to RGB through libjpeg-turbo with its default (accurate integer IDCT,
/// fancy upsampling) settings, which give the same pixels as Pillow's default decode. EXIF
/// orientation is ignored, as dlib and the reference data do.
///
/// Any warning from the library (for example a truncated file, which libjpeg would otherwise
/// fill with grey) is treated as an error, and the header's size is checked against
/// `maxPixels` and the number of scans against `maxScans` before any pixel buffer is allocated.
///
/// ```swift
/// let image = try JPEGDecoder(maxPixels: 12_000_000).decode(bytes)
/// ```
public struct JPEGDecoder: Sendable {
    /// 40 megapixels: well above any kiosk camera, well below what would exhaust memory.
    public static let defaultMaxPixels = 40_000_000

    /// Each scan of a progressive JPEG is a pass over the whole image, and the format puts no
    /// bound on their number, so a small file of many scans ties the decoder up for minutes
    /// (20,000 scans in 2.4 MB took 333 s at 36 megapixels). Encoders write about ten (libjpeg's
    /// standard progression: 10 for colour, 6 for grey); 100 is what libjpeg-turbo's own
    /// fuzzers allow, and 100 scans of 36 megapixels decode in about 1.2 s (500 took 7 s).
    public static let maxScans = 100

    public let maxPixels: Int

    public init(maxPixels: Int = JPEGDecoder.defaultMaxPixels) {
        self.maxPixels = maxPixels
    }

    public func decode(_ bytes: [UInt8]) throws -> RGBImage {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else {
            throw FaceVerificationError.undecodableImage(reason: "not a JPEG file (no start-of-image marker)")
        }
        guard bytes.count <= Int(UInt32.max) else {
            throw FaceVerificationError.undecodableImage(reason: "file larger than 4 GiB")
        }
        guard let handle = tjInitDecompress() else {
            throw FaceVerificationError.undecodableImage(reason: "libjpeg-turbo could not start a decoder")
        }
        defer { tjDestroy(handle) }

        var width: Int32 = 0
        var height: Int32 = 0
        var subsampling: Int32 = 0
        var colorspace: Int32 = 0
        let headerStatus = bytes.withUnsafeBufferPointer { buffer in
            tjDecompressHeader3(handle, buffer.baseAddress, UInt(buffer.count), &width, &height, &subsampling, &colorspace)
        }
        guard headerStatus == 0 else { throw Self.libraryError(handle) }
        guard width > 0, height > 0 else {
            throw FaceVerificationError.undecodableImage(reason: "image header gives a size of \(width)×\(height)")
        }
        let pixelCount = Int(width) * Int(height)
        guard pixelCount <= maxPixels else {
            throw FaceVerificationError.imageTooLarge(width: Int(width), height: Int(height), maxPixels: maxPixels)
        }

        guard Self.scanCount(bytes, stoppingAbove: Self.maxScans) <= Self.maxScans else {
            throw FaceVerificationError.tooManyScans(limit: Self.maxScans)
        }

        var pixels = [UInt8](repeating: 0, count: pixelCount * 3)
        // TJFLAG_LIMITSCANS makes the library count the scans it reads itself and stop after
        // 500 (fixed in TurboJPEG 2.x): a backstop should it ever read a damaged file's
        // markers differently from `scanCount`.
        let status = bytes.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { destination in
                tjDecompress2(handle, source.baseAddress, UInt(source.count), destination.baseAddress,
                              width, width * 3, height, Int32(TJPF_RGB.rawValue), TJFLAG_LIMITSCANS)
            }
        }
        guard status == 0 else { throw Self.libraryError(handle) }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    /// The start-of-scan markers in `bytes`, met as libjpeg's marker reader meets them, counting
    /// stopped once above `limit`.
    ///
    /// Marker segments are skipped by their length, so a marker-like byte pair inside one (an
    /// EXIF thumbnail is a whole JPEG) is never counted. Between segments (entropy-coded data
    /// after a scan header, or garbage) the next marker is 0xFF followed by anything but 0x00
    /// (a stuffed 0xFF data byte) or 0xFF (fill). Restart markers and TEM carry no length;
    /// the end-of-image marker ends the count, as it ends decoding.
    private static func scanCount(_ bytes: [UInt8], stoppingAbove limit: Int) -> Int {
        var scans = 0
        var index = 2
        while index + 1 < bytes.count, scans <= limit {
            guard bytes[index] == 0xFF else {
                index += 1
                continue
            }
            switch bytes[index + 1] {
            case 0x00:
                index += 2
            case 0xFF:
                index += 1
            case 0x01, 0xD0...0xD8:
                index += 2
            case 0xD9:
                return scans
            case let marker:
                if marker == 0xDA { scans += 1 }
                guard index + 3 < bytes.count else { return scans }
                index += 2 + (Int(bytes[index + 2]) << 8 | Int(bytes[index + 3]))
            }
        }
        return scans
    }

    private static func libraryError(_ handle: tjhandle) -> FaceVerificationError {
        let message = tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown libjpeg-turbo error"
        return .undecodableImage(reason: message)
    }
}
