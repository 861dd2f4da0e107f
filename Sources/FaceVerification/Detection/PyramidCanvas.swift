/// The tiled image pyramid that dlib's MMOD detector runs on: the frame and its 5/6-scaled
/// copies packed into one canvas, so that one forward pass scans every scale.
///
/// Layout: levels go down a first column at the left margin with `padding` blank rows between
/// them until the column is about half the total height; the rest are right-aligned in a
/// second column, stacked upwards from the bottom, until one would overlap the frame's tile.
struct PyramidCanvas {
    /// A level's tile in canvas coordinates (inclusive).
    struct Tile {
        var level: Int
        var left: Int
        var top: Int
        var width: Int
        var height: Int
        var right: Int { left + width - 1 }
        var bottom: Int { top + height - 1 }

        func intersects(_ other: Tile) -> Bool {
            left <= other.right && other.left <= right && top <= other.bottom && other.top <= bottom
        }

        /// Squared distance from a point to the nearest point of the tile (0 inside).
        func squaredDistance(to point: (x: Double, y: Double)) -> Double {
            let dx = max(Double(left) - point.x, 0, point.x - Double(right))
            let dy = max(Double(top) - point.y, 0, point.y - Double(bottom))
            return dx * dx + dy * dy
        }
    }

    static let padding = 10
    static let outerMargin = 11

    let width: Int
    let height: Int
    let tiles: [Tile]

    init(imageWidth: Int, imageHeight: Int) {
        var sizes = [(height: imageHeight, width: imageWidth)]
        while let last = sizes.last {
            let next = (height: 5 * last.height / 6, width: 5 * last.width / 6)
            guard next.height * next.width > 0, next.height >= 5 else { break }
            sizes.append(next)
        }
        let padding = Self.padding, margin = Self.outerMargin
        let total = sizes.reduce(0) { $0 + $1.height + padding } - 2 * padding

        var runningHeight = 0
        var previousWidth = 0
        for (index, size) in sizes.enumerated() {
            if index > 0, size.width <= imageWidth - previousWidth - padding,
               (runningHeight - imageHeight) * 2 >= total - imageHeight {
                break
            }
            runningHeight += size.height + padding
            previousWidth = size.width
        }
        let columnHeight = runningHeight - padding

        var tiles: [Tile] = []
        var top = margin
        var level = 0
        while level < sizes.count, top < columnHeight + margin {
            tiles.append(Tile(level: level, left: margin, top: top, width: sizes[level].width, height: sizes[level].height))
            top += sizes[level].height + padding
            level += 1
        }
        if level < sizes.count, let lastOfFirstColumn = tiles.last, let frameTile = tiles.first {
            var bottom = lastOfFirstColumn.bottom
            while level < sizes.count {
                let size = sizes[level]
                let tile = Tile(level: level, left: margin + imageWidth - size.width, top: bottom - size.height + 1,
                                width: size.width, height: size.height)
                if tile.intersects(frameTile) { break }
                tiles.append(tile)
                bottom = tile.top - padding - 1
                level += 1
            }
        }
        self.tiles = tiles
        width = imageWidth + 2 * margin
        height = columnHeight + 2 * margin
    }

    /// The canvas as planar R, G, B floats: the frame normalised as (pixel − mean) / 256, each
    /// further level an align-corners bilinear resize of the previous level's tile.
    func render(_ image: RGBImage, channelMeans: [Float]) -> FeatureMap {
        var canvas = FeatureMap(zerosWithChannels: 3, height: height, width: width)
        let planeSize = canvas.planeSize
        canvas.values.withUnsafeMutableBufferPointer { planes in
            guard let frame = tiles.first else { return }
            image.pixels.withUnsafeBufferPointer { pixels in
                for y in 0..<image.height {
                    for x in 0..<image.width {
                        let target = (frame.top + y) * width + frame.left + x
                        for channel in 0..<3 {
                            planes[channel * planeSize + target] = (Float(pixels[3 * (y * image.width + x) + channel]) - channelMeans[channel]) / 256
                        }
                    }
                }
            }
            for (source, target) in zip(tiles, tiles.dropFirst()) {
                for channel in 0..<3 {
                    resizeBilinear(planes.baseAddress! + channel * planeSize, from: source, to: target)
                }
            }
        }
        return canvas
    }

    private func resizeBilinear(_ plane: UnsafeMutablePointer<Float>, from source: Tile, to target: Tile) {
        let xScale = Double(source.width - 1) / Double(max(target.width - 1, 1))
        let yScale = Double(source.height - 1) / Double(max(target.height - 1, 1))
        for y in 0..<target.height {
            let sourceY = Double(y) * yScale
            let top = Int(sourceY)
            let bottom = min(top + 1, source.height - 1)
            let vertical = sourceY - Double(top)
            let topRow = plane + (source.top + top) * width + source.left
            let bottomRow = plane + (source.top + bottom) * width + source.left
            let targetRow = plane + (target.top + y) * width + target.left
            for x in 0..<target.width {
                let sourceX = Double(x) * xScale
                let left = Int(sourceX)
                let right = min(left + 1, source.width - 1)
                let horizontal = sourceX - Double(left)
                let value = (1 - vertical) * ((1 - horizontal) * Double(topRow[left]) + horizontal * Double(topRow[right]))
                    + vertical * ((1 - horizontal) * Double(bottomRow[left]) + horizontal * Double(bottomRow[right]))
                targetRow[x] = Float(value)
            }
        }
    }
}
