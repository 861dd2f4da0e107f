import CCaptureKernels
import FederationCore

/// Contrast-limited adaptive histogram equalisation of an 8-bit plane, with the semantics of
/// OpenCV's `cv::CLAHE` for `CV_8UC1` (`cv2.createCLAHE(clipLimit, (tilesX, tilesY)).apply`):
///
/// - a plane whose sides are not multiples of the tile counts is extended on the right and at the
///   bottom by `tiles − side % tiles` pixels, mirrored without repeating the edge
///   (`BORDER_REFLECT_101`); as in OpenCV, when only one side is off, the other is extended
///   by a whole tile count too;
/// - each tile's 256-bin histogram is clipped at max(1, ⌊clipLimit · tileArea / 256⌋), the excess
///   spread evenly with the remainder going to every ⌊256 / remainder⌋-th bin from 0;
/// - the tile's table is the cumulative histogram times 255 / tileArea in single precision,
///   rounded half to even;
/// - each pixel blends the tables of the four nearest tile centres bilinearly (single precision,
///   OpenCV's order of operations) and rounds half to even.
///
/// On a colour frame it equalises BT.601 luma Y = (299 R + 587 G + 114 B + 500) / 1000 and adds
/// the change of Y to each channel (clipped), which keeps the Cb and Cr of YCbCr.
///
/// OpenCV leaves tiny planes to its border code; here a plane narrower than two tiles (or
/// shorter than two tiles) is returned unchanged, so the mirror never needs more pixels than
/// the plane has.
public struct ContrastLimitedEqualization: Sendable, Equatable {
    public let tilesX: Int
    public let tilesY: Int
    public let clipLimit: Double

    public init(_ parameters: NormalizationPolicy.CLAHE) {
        tilesX = parameters.tilesX
        tilesY = parameters.tilesY
        clipLimit = parameters.clipLimit
    }

    /// Equalises `plane` (row-major, `width` × `height`).
    public func apply(plane: [UInt8], width: Int, height: Int) -> [UInt8] {
        precondition(plane.count == width * height, "plane size mismatch")
        guard tilesX >= 1, tilesY >= 1, width >= 2 * tilesX, height >= 2 * tilesY else { return plane }
        let fits = width % tilesX == 0 && height % tilesY == 0
        let extendedWidth = fits ? width : width + tilesX - width % tilesX
        let extendedHeight = fits ? height : height + tilesY - height % tilesY
        let tileWidth = extendedWidth / tilesX, tileHeight = extendedHeight / tilesY
        let tileArea = tileWidth * tileHeight
        let lutScale = Float(255) / Float(tileArea)
        let clip = clipLimit > 0 ? max(Int(clipLimit * Double(tileArea) / 256), 1) : 0

        var histograms = [UInt32](repeating: 0, count: tilesX * tilesY * 256)
        plane.withUnsafeBufferPointer { source in
            histograms.withUnsafeMutableBufferPointer { histograms in
                ck_tile_histograms(source.baseAddress, Int32(width), Int32(height), Int32(tilesX), Int32(tilesY),
                                   Int32(tileWidth), Int32(tileHeight), histograms.baseAddress)
            }
        }
        var tables = [UInt8](repeating: 0, count: tilesX * tilesY * 256)
        histograms.withUnsafeMutableBufferPointer { histograms in
            tables.withUnsafeMutableBufferPointer { tables in
                for tile in 0..<tilesX * tilesY {
                    let base = tile * 256
                    if clip > 0 {
                        let limit = UInt32(clip)
                        var clipped = 0
                        for bin in base..<base + 256 where histograms[bin] > limit {
                            clipped += Int(histograms[bin] - limit)
                            histograms[bin] = limit
                        }
                        let batch = UInt32(clipped / 256)
                        var residual = clipped % 256
                        for bin in base..<base + 256 { histograms[bin] += batch }
                        if residual != 0 {
                            let step = max(256 / residual, 1)
                            var bin = 0
                            while bin < 256, residual > 0 {
                                histograms[base + bin] += 1
                                bin += step
                                residual -= 1
                            }
                        }
                    }
                    var sum = 0
                    for bin in 0..<256 {
                        sum += Int(histograms[base + bin])
                        tables[base + bin] = Self.saturatedRound(Float(sum) * lutScale)
                    }
                }
            }
        }

        // The blend: per column the two tables and weights, per row the two tile rows, in
        // OpenCV's single-precision order (CCaptureKernels, the arithmetic vectorised by row).
        var output = [UInt8](repeating: 0, count: plane.count)
        plane.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { output in
                tables.withUnsafeBufferPointer { tables in
                    ck_clahe_blend(source.baseAddress, output.baseAddress, Int32(width), Int32(height), tables.baseAddress,
                                   Int32(tilesX), Int32(tilesY), Int32(tileWidth), Int32(tileHeight))
                }
            }
        }
        return output
    }

    /// Equalises the frame's luma and moves R, G and B by the same amount as their luma moved.
    public func applyToLuma(of image: inout RGBImage) {
        let luma = Self.luma(of: image)
        let equalised = apply(plane: luma, width: image.width, height: image.height)
        image.pixels.withUnsafeMutableBufferPointer { pixels in
            luma.withUnsafeBufferPointer { luma in
                equalised.withUnsafeBufferPointer { equalised in
                    ck_shift_by_luma(pixels.baseAddress, luma.baseAddress, equalised.baseAddress, luma.count)
                }
            }
        }
    }

    /// BT.601 luma in integers, rounded half up.
    public static func luma(of image: RGBImage) -> [UInt8] {
        var luma = [UInt8](repeating: 0, count: image.width * image.height)
        image.pixels.withUnsafeBufferPointer { pixels in
            luma.withUnsafeMutableBufferPointer { luma in
                ck_luma(pixels.baseAddress, luma.baseAddress, luma.count)
            }
        }
        return luma
    }

    /// `cv::saturate_cast<uchar>(float)` for the non-negative values met here: round half to
    /// even, then clip. Adding and subtracting 2^23 rounds in the default (half-to-even) mode
    /// without the library call that `rounded(.toNearestOrEven)` costs on baseline x86-64.
    @inline(__always)
    static func saturatedRound(_ value: Float) -> UInt8 {
        let rounded = value < 8_388_608 ? (value + 8_388_608) - 8_388_608 : value
        return rounded <= 0 ? 0 : rounded >= 255 ? 255 : UInt8(rounded)
    }
}
