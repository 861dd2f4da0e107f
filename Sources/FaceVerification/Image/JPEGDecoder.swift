import CTurboJPEG

/// Decodes JPEG bytes to RGB through libjpeg-turbo with its default (accurate integer IDCT,
/// fancy upsampling) settings, which give the same pixels as Pillow's default decode. EXIF
/// orientation is ignored, as dlib and the reference data do.
///
/// Any warning from the library (for example a truncated file, which libjpeg would otherwise
/// fill with grey) is treated as an error, and the header's size is checked against
/// `maxPixels` before any pixel buffer is allocated.
///
/// ```swift
/// let image = try JPEGDecoder(maxPixels: 12_000_000).decode(bytes)
/// ```
public struct JPEGDecoder: Sendable {
    /// 40 megapixels: well above any kiosk camera, well below what would exhaust memory.
    public static let defaultMaxPixels = 40_000_000

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

        var pixels = [UInt8](repeating: 0, count: pixelCount * 3)
        let status = bytes.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { destination in
                tjDecompress2(handle, source.baseAddress, UInt(source.count), destination.baseAddress,
                              width, width * 3, height, Int32(TJPF_RGB.rawValue), 0)
            }
        }
        guard status == 0 else { throw Self.libraryError(handle) }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    private static func libraryError(_ handle: tjhandle) -> FaceVerificationError {
        let message = tjGetErrorStr2(handle).map { String(cString: $0) } ?? "unknown libjpeg-turbo error"
        return .undecodableImage(reason: message)
    }
}
