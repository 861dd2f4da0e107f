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

        var tables = [UInt8](repeating: 0, count: tilesX * tilesY * 256)
        plane.withUnsafeBufferPointer { source in
            tables.withUnsafeMutableBufferPointer { tables in
                var histogram = [Int](repeating: 0, count: 256)
                histogram.withUnsafeMutableBufferPointer { histogram in
                    for tileY in 0..<tilesY {
                        for tileX in 0..<tilesX {
                            for bin in 0..<256 { histogram[bin] = 0 }
                            for y in tileY * tileHeight..<(tileY + 1) * tileHeight {
                                let row = Self.reflect101(y, height) * width
                                let x0 = tileX * tileWidth, x1 = (tileX + 1) * tileWidth
                                // Only the last tile of a row reaches the mirrored columns.
                                let inside = min(x1, width)
                                for x in x0..<max(x0, inside) { histogram[Int(source[row + x])] &+= 1 }
                                for x in max(x0, inside)..<x1 { histogram[Int(source[row + Self.reflect101(x, width)])] &+= 1 }
                            }
                            if clip > 0 {
                                var clipped = 0
                                for bin in 0..<256 where histogram[bin] > clip {
                                    clipped += histogram[bin] - clip
                                    histogram[bin] = clip
                                }
                                let batch = clipped / 256
                                var residual = clipped - batch * 256
                                for bin in 0..<256 { histogram[bin] += batch }
                                if residual != 0 {
                                    let step = max(256 / residual, 1)
                                    var bin = 0
                                    while bin < 256, residual > 0 {
                                        histogram[bin] += 1
                                        bin += step
                                        residual -= 1
                                    }
                                }
                            }
                            let base = (tileY * tilesX + tileX) * 256
                            var sum = 0
                            for bin in 0..<256 {
                                sum += histogram[bin]
                                tables[base + bin] = Self.saturatedRound(Float(sum) * lutScale)
                            }
                        }
                    }
                }
            }
        }

        // Per column: the two tables to blend and their weights, as OpenCV precomputes them.
        let inverseTileWidth = 1 / Float(tileWidth)
        var leftTable = [Int](repeating: 0, count: width), rightTable = leftTable
        var rightWeight = [Float](repeating: 0, count: width), leftWeight = rightWeight
        for x in 0..<width {
            let position = Float(x) * inverseTileWidth - 0.5
            let left = Int(position.rounded(.down))
            rightWeight[x] = position - Float(left)
            leftWeight[x] = 1 - rightWeight[x]
            leftTable[x] = max(left, 0) * 256
            rightTable[x] = min(left + 1, tilesX - 1) * 256
        }
        let inverseTileHeight = 1 / Float(tileHeight)
        var output = [UInt8](repeating: 0, count: plane.count)
        plane.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { output in
                tables.withUnsafeBufferPointer { tables in
                    leftTable.withUnsafeBufferPointer { leftTable in
                        rightTable.withUnsafeBufferPointer { rightTable in
                            leftWeight.withUnsafeBufferPointer { leftWeight in
                                rightWeight.withUnsafeBufferPointer { rightWeight in
                                    for y in 0..<height {
                                        let position = Float(y) * inverseTileHeight - 0.5
                                        let top = Int(position.rounded(.down))
                                        let bottomWeight = position - Float(top)
                                        let topWeight = 1 - bottomWeight
                                        let upper = max(top, 0) * tilesX * 256
                                        let lower = min(top + 1, tilesY - 1) * tilesX * 256
                                        let row = y * width
                                        for x in 0..<width {
                                            let value = Int(source[row + x])
                                            let a = leftTable[x] + value, b = rightTable[x] + value
                                            let upperValue = Float(tables[upper + a]) * leftWeight[x] + Float(tables[upper + b]) * rightWeight[x]
                                            let lowerValue = Float(tables[lower + a]) * leftWeight[x] + Float(tables[lower + b]) * rightWeight[x]
                                            output[row + x] = Self.saturatedRound(upperValue * topWeight + lowerValue * bottomWeight)
                                        }
                                    }
                                }
                            }
                        }
                    }
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
            for index in 0..<luma.count {
                let shift = Int16(equalised[index]) &- Int16(luma[index])
                pixels[3 * index] = UInt8(clamping: Int16(pixels[3 * index]) &+ shift)
                pixels[3 * index + 1] = UInt8(clamping: Int16(pixels[3 * index + 1]) &+ shift)
                pixels[3 * index + 2] = UInt8(clamping: Int16(pixels[3 * index + 2]) &+ shift)
            }
        }
    }

    /// BT.601 luma in integers, rounded half up.
    public static func luma(of image: RGBImage) -> [UInt8] {
        var luma = [UInt8](repeating: 0, count: image.width * image.height)
        image.pixels.withUnsafeBufferPointer { pixels in
            luma.withUnsafeMutableBufferPointer { luma in
                for index in 0..<luma.count {
                    // Unsigned 32-bit, so that the division by a constant is a multiply and a shift.
                    let weighted = 299 &* UInt32(pixels[3 * index]) &+ 587 &* UInt32(pixels[3 * index + 1]) &+ 114 &* UInt32(pixels[3 * index + 2])
                    luma[index] = UInt8(truncatingIfNeeded: (weighted &+ 500) / 1000)
                }
            }
        }
        return luma
    }

    /// OpenCV's `BORDER_REFLECT_101` index for one step past either end (…, 2, 1 | 0, 1, 2, … n−1 | n−2, …).
    static func reflect101(_ index: Int, _ count: Int) -> Int {
        index < 0 ? -index : index >= count ? 2 * count - 2 - index : index
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
