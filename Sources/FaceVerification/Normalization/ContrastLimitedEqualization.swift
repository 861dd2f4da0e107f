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

    /// The tile grid over a `width` × `height` plane, or nil when the plane is too small for it.
    struct Grid {
        let tileWidth: Int
        let tileHeight: Int
        let clip: Int
    }

    func grid(width: Int, height: Int) -> Grid? {
        guard tilesX >= 1, tilesY >= 1, width >= 2 * tilesX, height >= 2 * tilesY else { return nil }
        let fits = width % tilesX == 0 && height % tilesY == 0
        let extendedWidth = fits ? width : width + tilesX - width % tilesX
        let extendedHeight = fits ? height : height + tilesY - height % tilesY
        let tileWidth = extendedWidth / tilesX, tileHeight = extendedHeight / tilesY
        let clip = clipLimit > 0 ? max(Int(clipLimit * Double(tileWidth * tileHeight) / 256), 1) : 0
        return Grid(tileWidth: tileWidth, tileHeight: tileHeight, clip: clip)
    }

    /// The tiles' tables (tilesX · tilesY · 256) for `luma` (CCaptureKernels: tile histograms,
    /// clipped and accumulated).
    func tables(luma: UnsafePointer<UInt8>, width: Int, height: Int, grid: Grid) -> [UInt8] {
        var histograms = [UInt32](repeating: 0, count: tilesX * tilesY * 256)
        return [UInt8](unsafeUninitializedCapacity: tilesX * tilesY * 256) { tables, initialized in
            histograms.withUnsafeMutableBufferPointer { histograms in
                ck_tile_histograms(luma, Int32(width), Int32(height), Int32(tilesX), Int32(tilesY),
                                   Int32(grid.tileWidth), Int32(grid.tileHeight), histograms.baseAddress)
                ck_clahe_tables(histograms.baseAddress, Int32(tilesX * tilesY), Int32(grid.tileWidth * grid.tileHeight), Int32(grid.clip), tables.baseAddress)
            }
            initialized = tilesX * tilesY * 256
        }
    }

    /// Equalises `plane` (row-major, `width` × `height`).
    public func apply(plane: [UInt8], width: Int, height: Int) -> [UInt8] {
        precondition(plane.count == width * height, "plane size mismatch")
        guard let grid = grid(width: width, height: height) else { return plane }
        return plane.withUnsafeBufferPointer { source in
            guard let luma = source.baseAddress else { return plane }
            let tables = tables(luma: luma, width: width, height: height, grid: grid)
            // The blend: per column the pair of tables and weights, per row the two tile rows,
            // in OpenCV's single-precision order (CCaptureKernels, vectorised by row).
            return [UInt8](unsafeUninitializedCapacity: plane.count) { output, initialized in
                tables.withUnsafeBufferPointer { tables in
                    ck_clahe_plane(luma, output.baseAddress, Int32(width), Int32(height), tables.baseAddress,
                                   Int32(tilesX), Int32(tilesY), Int32(grid.tileWidth), Int32(grid.tileHeight))
                }
                initialized = plane.count
            }
        }
    }

    /// Equalises the frame's luma and moves R, G and B by the same amount as their luma moved.
    public func applyToLuma(of image: inout RGBImage) {
        let (width, height) = (image.width, image.height)
        guard let grid = grid(width: width, height: height) else { return }
        let luma = Self.luma(of: image)
        luma.withUnsafeBufferPointer { luma in
            guard let plane = luma.baseAddress else { return }
            let tables = tables(luma: plane, width: width, height: height, grid: grid)
            image.pixels.withUnsafeMutableBufferPointer { pixels in
                tables.withUnsafeBufferPointer { tables in
                    ck_clahe_rgb(pixels.baseAddress, pixels.baseAddress, plane, Int32(width), Int32(height), tables.baseAddress,
                                 Int32(tilesX), Int32(tilesY), Int32(grid.tileWidth), Int32(grid.tileHeight), nil)
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
}
