import Foundation

/// dlib's 5-point shape predictor (`shape_predictor_5_face_landmarks.dat`): an ensemble of
/// regression trees (Kazemi & Sullivan 2014) that places both eyes' corners and the base of
/// the nose inside a detected face box.
///
/// ```swift
/// let predictor = try ShapePredictor(contentsOf: models.shapePredictor)
/// let points = predictor.landmarks(in: image, box: detection.box)   // 5 FacePoints
/// ```
public struct ShapePredictor: Sendable {
    public static let fileName = "shape_predictor_5_face_landmarks.dat"

    /// One cascade stage: its feature pixels and its forest, stored flat so that the hot loop
    /// walks plain buffers. Every tree has the same number of splits (a complete binary tree).
    private struct Cascade: Sendable {
        var anchors: [Int]
        var offsets: [(x: Float, y: Float)]
        var treeCount: Int
        var splitsPerTree: Int
        /// Feature indices of split s of tree t at [2·(t·splitsPerTree + s)] and the next slot.
        var splitFeatures: [Int32]
        var splitThresholds: [Float]
        /// Leaf l of tree t is the shape update at [(t·(splitsPerTree + 1) + l)·shapeLength].
        var leaves: [Float]
    }

    /// Mean shape x0, y0, x1, y1, … in box-normalised coordinates.
    private let initialShape: [Float]
    private let cascades: [Cascade]
    public var partCount: Int { initialShape.count / 2 }

    public init(contentsOf url: URL) throws {
        var reader = try DlibStreamReader(contentsOf: url)
        _ = try reader.expectVersion(1...1)
        let shape = try reader.readFloatMatrix()
        guard shape.columns == 1, shape.rows >= 2, shape.rows % 2 == 0 else {
            throw reader.corrupt("initial shape is \(shape.rows)×\(shape.columns)")
        }
        initialShape = shape.values
        let shapeLength = shape.rows

        let cascadeCount = try reader.readInt(in: 0...1000)
        var forests: [(treeCount: Int, splitsPerTree: Int, features: [Int32], thresholds: [Float], leaves: [Float])] = []
        for _ in 0..<cascadeCount {
            let treeCount = try reader.readInt(in: 0...100_000)
            var splitsPerTree = -1
            var features: [Int32] = [], thresholds: [Float] = [], leaves: [Float] = []
            for _ in 0..<treeCount {
                let splitCount = try reader.readInt(in: 0...65536)
                guard splitsPerTree == -1 || splitsPerTree == splitCount else { throw reader.corrupt("trees of different depths") }
                splitsPerTree = splitCount
                for _ in 0..<splitCount {
                    features.append(Int32(try reader.readInt(in: 0...Int(Int32.max))))
                    features.append(Int32(try reader.readInt(in: 0...Int(Int32.max))))
                    thresholds.append(try reader.readFloat())
                }
                let leafCount = try reader.readInt(in: 0...65536)
                guard leafCount == splitCount + 1 else { throw reader.corrupt("tree with \(splitCount) splits and \(leafCount) leaves") }
                for _ in 0..<leafCount {
                    let leaf = try reader.readFloatMatrix()
                    guard leaf.values.count == shapeLength else { throw reader.corrupt("leaf of \(leaf.values.count) values") }
                    leaves += leaf.values
                }
            }
            forests.append((treeCount, max(splitsPerTree, 0), features, thresholds, leaves))
        }

        guard try reader.readInt(in: 0...1000) == cascadeCount else { throw reader.corrupt("anchor list count differs from cascade count") }
        var anchors: [[Int]] = []
        for _ in 0..<cascadeCount {
            let count = try reader.readInt(in: 0...1_000_000)
            anchors.append(try (0..<count).map { _ in try reader.readInt(in: 0...(shapeLength / 2 - 1)) })
        }
        guard try reader.readInt(in: 0...1000) == cascadeCount else { throw reader.corrupt("offset list count differs from cascade count") }
        var cascades: [Cascade] = []
        for index in 0..<cascadeCount {
            let count = try reader.readInt(in: 0...1_000_000)
            guard count == anchors[index].count else { throw reader.corrupt("offsets and anchors differ in count") }
            let offsets = try (0..<count).map { _ in (x: try reader.readFloat(), y: try reader.readFloat()) }
            let forest = forests[index]
            if let outside = forest.features.first(where: { Int($0) >= count }) {
                throw reader.corrupt("split refers to feature \(outside) of \(count)")
            }
            cascades.append(Cascade(anchors: anchors[index], offsets: offsets, treeCount: forest.treeCount,
                                    splitsPerTree: forest.splitsPerTree, splitFeatures: forest.features,
                                    splitThresholds: forest.thresholds, leaves: forest.leaves))
        }
        guard reader.isAtEnd else { throw reader.corrupt("unexpected data after the model") }
        self.cascades = cascades
    }

    /// The landmarks of the face in `box`, rounded to integer pixels as dlib returns them.
    public func landmarks(in image: RGBImage, box: FaceBox) -> [FacePoint] {
        let boxWidth = Double(box.right - box.left)
        let boxHeight = Double(box.bottom - box.top)
        func toImage(_ x: Float, _ y: Float) -> (x: Double, y: Double) {
            (Double(box.left) + Double(x) * boxWidth, Double(box.top) + Double(y) * boxHeight)
        }

        var current = initialShape
        let initialPoints = stride(from: 0, to: initialShape.count, by: 2).map {
            (x: Double(initialShape[$0]), y: Double(initialShape[$0 + 1]))
        }
        var features: [Float] = []
        for cascade in cascades {
            let currentPoints = stride(from: 0, to: current.count, by: 2).map { (x: Double(current[$0]), y: Double(current[$0 + 1])) }
            let linear = SimilarityTransform(from: initialPoints, to: currentPoints).linearPart
            let (a00, a01, a10, a11) = (Float(linear.m00), Float(linear.m01), Float(linear.m10), Float(linear.m11))

            features.removeAll(keepingCapacity: true)
            for (anchor, offset) in zip(cascade.anchors, cascade.offsets) {
                let x = a00 * offset.x + a01 * offset.y + current[2 * anchor]
                let y = a10 * offset.x + a11 * offset.y + current[2 * anchor + 1]
                features.append(greyValue(of: image, at: toImage(x, y)))
            }

            applyForest(cascade, features: features, to: &current)
        }
        return stride(from: 0, to: current.count, by: 2).map { index in
            let point = toImage(current[index], current[index + 1])
            return FacePoint(x: Self.nearestPixel(point.x), y: Self.nearestPixel(point.y))
        }
    }

    /// Walks every tree of the cascade from its root to a leaf and adds the leaves to `shape`.
    private func applyForest(_ cascade: Cascade, features: [Float], to shape: inout [Float]) {
        let splits = cascade.splitsPerTree
        let length = shape.count
        cascade.splitFeatures.withUnsafeBufferPointer { splitFeatures in
            cascade.splitThresholds.withUnsafeBufferPointer { thresholds in
                cascade.leaves.withUnsafeBufferPointer { leaves in
                    features.withUnsafeBufferPointer { features in
                        shape.withUnsafeMutableBufferPointer { shape in
                            for tree in 0..<cascade.treeCount {
                                let firstSplit = tree * splits
                                var node = 0
                                while node < splits {
                                    let split = firstSplit + node
                                    let difference = features[Int(splitFeatures[2 * split])] - features[Int(splitFeatures[2 * split + 1])]
                                    node = difference > thresholds[split] ? 2 * node + 1 : 2 * node + 2
                                }
                                let leaf = (tree * (splits + 1) + node - splits) * length
                                for index in 0..<length { shape[index] += leaves[leaf + index] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// floor(v + 0.5), kept finite and in Int range so that a wild shape cannot trap.
    private static func nearestPixel(_ value: Double) -> Int {
        guard value.isFinite else { return Int.min / 2 }
        return Int(min(max((value + 0.5).rounded(.down), -1e9), 1e9))
    }

    /// The shape predictor's feature: grey value (R + G + B) div 3 at the nearest pixel, 0 outside.
    private func greyValue(of image: RGBImage, at point: (x: Double, y: Double)) -> Float {
        let column = Self.nearestPixel(point.x)
        let row = Self.nearestPixel(point.y)
        guard column >= 0, row >= 0, column < image.width, row < image.height else { return 0 }
        let index = 3 * (row * image.width + column)
        return Float((Int(image.pixels[index]) + Int(image.pixels[index + 1]) + Int(image.pixels[index + 2])) / 3)
    }
}
