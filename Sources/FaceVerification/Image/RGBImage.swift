/// An 8-bit RGB image held in memory, pixels interleaved R, G, B row by row.
///
/// ```swift
/// let image = try JPEGDecoder().decode(jpegBytes)
/// let red = image.pixels[3 * (y * image.width + x)]
/// ```
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3, "RGB buffer size mismatch")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
    }

    /// The image flipped left to right.
    public var mirrored: RGBImage {
        var pixels = self.pixels
        for row in 0..<height {
            for column in 0..<width {
                let source = 3 * (row * width + width - 1 - column), target = 3 * (row * width + column)
                pixels[target] = self.pixels[source]
                pixels[target + 1] = self.pixels[source + 1]
                pixels[target + 2] = self.pixels[source + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The inclusive integer rectangle `left…right × top…bottom`, clipped by the caller.
    func cropped(left: Int, top: Int, right: Int, bottom: Int) -> RGBImage {
        let cropWidth = right - left + 1
        let cropHeight = bottom - top + 1
        guard cropWidth > 0, cropHeight > 0 else { return RGBImage(width: 0, height: 0) }
        var pixels = [UInt8](repeating: 0, count: cropWidth * cropHeight * 3)
        for row in 0..<cropHeight {
            let source = 3 * ((top + row) * width + left)
            pixels.replaceSubrange(3 * row * cropWidth..<3 * (row + 1) * cropWidth,
                                   with: self.pixels[source..<source + 3 * cropWidth])
        }
        return RGBImage(width: cropWidth, height: cropHeight, pixels: pixels)
    }
}
