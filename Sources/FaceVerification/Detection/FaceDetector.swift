import Foundation

/// dlib's MMOD CNN face detector (`mmod_human_face_detector.dat`), run on a tiled image
/// pyramid (scale 5/6 per level) with dlib's overlap removal. Finds faces of about 80 px
/// and larger; it does not upsample the frame.
///
/// ```swift
/// let detector = try FaceDetector(contentsOf: models.detector)
/// for face in detector.detect(in: image) { print(face.box, face.confidence) }
/// ```
public struct FaceDetector: Sendable {
    public static let fileName = "mmod_human_face_detector.dat"

    private let channelMeans: [Float]
    private let layers: [Convolution]
    private let windowWidth: Int
    private let windowHeight: Int
    /// Non-max suppression: a candidate is dropped when its intersection with a kept box,
    /// divided by the area of the smallest rectangle holding both, exceeds this.
    private let overlapThreshold: Double
    /// …or when the intersection covers more than this fraction of either box.
    private let coveredThreshold: Double

    public init(contentsOf url: URL) throws {
        var reader = try DlibStreamReader(contentsOf: url)
        _ = try reader.expectVersion(1...1)
        _ = try reader.expectTag("loss_mmod_")
        let optionsVersion = try reader.readInt()
        guard optionsVersion == 1 else { throw reader.corrupt("unsupported detector options version \(optionsVersion)") }
        windowWidth = try reader.readInt(in: 1...4096)
        windowHeight = try reader.readInt(in: 1...4096)
        try reader.skipDoubles(3) // training losses and match threshold
        overlapThreshold = try reader.readDouble()
        coveredThreshold = try reader.readDouble()
        try reader.skipDoubles(2) // "ignore" overlap test, training only

        // conv → bn → relu three times with stride 2, three times with stride 1, then the
        // one-channel score convolution: 19 layers, no tag or skip nodes.
        let nodes = [DnnFile.Node](repeating: .layer, count: 19)
        var means: [Float] = []
        let file = try DnnFile(reader: &reader, nodes: nodes) { reader in
            _ = try reader.expectTag("input_rgb_image_pyramid")
            means = try (0..<3).map { _ in try reader.readFloat() }
        }
        channelMeans = means
        var sequence = DnnLayerSequence(file.layers, path: url.path)
        var layers: [Convolution] = []
        for _ in 0..<6 { layers.append(try sequence.convolutionAffineReLU()) }
        layers.append(Convolution(try sequence.convolution(), affine: nil, appliesReLU: false))
        try sequence.requireEnd()
        let chained = zip(layers, layers.dropFirst()).allSatisfy { $0.outputChannels == $1.inputChannels }
        guard chained, layers.first?.inputChannels == 3, layers.last?.outputChannels == 1 else {
            throw FaceVerificationError.modelFileCorrupt(path: url.path, reason: "detector does not map RGB to one score plane")
        }
        self.layers = layers
    }

    /// Faces in `image`, highest score first, after overlap removal.
    ///
    /// - Parameter upsample: how many times the frame is first doubled (dlib's `pyramid_up`),
    ///   to find faces smaller than the 80 px window: each step finds faces half as large and
    ///   costs about four times as much. Boxes are mapped back to the frame.
    public func detect(in image: RGBImage, upsample: Int = 0) -> [FaceDetection] {
        guard upsample > 0 else { return detectAtFrameScale(image) }
        var enlarged = image
        for _ in 0..<upsample { enlarged = enlarged.pyramidUpByTwo() }
        return detectAtFrameScale(enlarged).map { detection in
            var box = detection.box
            for _ in 0..<upsample {
                // dlib's 2:1 point_down, p/2 − (1.25, 0.75), rounded at each level.
                box = FaceBox(left: Int((Double(box.left) / 2 - 1.25).rounded()), top: Int((Double(box.top) / 2 - 0.75).rounded()),
                              right: Int((Double(box.right) / 2 - 1.25).rounded()), bottom: Int((Double(box.bottom) / 2 - 0.75).rounded()))
            }
            return FaceDetection(box: box, confidence: detection.confidence)
        }
    }

    private func detectAtFrameScale(_ image: RGBImage) -> [FaceDetection] {
        guard image.width > 0, image.height > 0 else { return [] }
        let canvas = PyramidCanvas(imageWidth: image.width, imageHeight: image.height)
        var features = canvas.render(image, channelMeans: channelMeans)
        for layer in layers { features = layer(features) }
        return removeOverlaps(candidates(from: features, canvas: canvas))
    }

    /// Every score-map cell above 0 as a detector window mapped back to frame coordinates.
    private func candidates(from scores: FeatureMap, canvas: PyramidCanvas) -> [(box: DoubleRectangle, score: Float)] {
        var found: [(box: DoubleRectangle, score: Float)] = []
        for row in 0..<scores.height {
            for column in 0..<scores.width {
                let score = scores.values[row * scores.width + column]
                guard score > 0 else { continue }
                let center = canvasPoint(row: row, column: column)
                let halfWidth = Double(windowWidth - 1) / 2
                let halfHeight = Double(windowHeight - 1) / 2
                let tile = canvas.tiles.min { $0.squaredDistance(to: center) < $1.squaredDistance(to: center) }
                guard let tile else { continue }
                var box = DoubleRectangle(left: center.x - halfWidth, top: center.y - halfHeight,
                                          right: center.x + halfWidth, bottom: center.y + halfHeight)
                    .translated(by: -Double(tile.left), -Double(tile.top))
                for _ in 0..<tile.level {
                    box = DoubleRectangle(left: 1.2 * box.left + 0.3, top: 1.2 * box.top + 0.3,
                                          right: 1.2 * box.right + 0.3, bottom: 1.2 * box.bottom + 0.3)
                }
                found.append((box, score))
            }
        }
        return found
    }

    /// Centre of a score cell's receptive field: undo each layer, p_in = p·stride − pad + k div 2.
    private func canvasPoint(row: Int, column: Int) -> (x: Double, y: Double) {
        var x = column, y = row
        for layer in layers.reversed() {
            x = x * layer.strideX - layer.padX + layer.kernelWidth / 2
            y = y * layer.strideY - layer.padY + layer.kernelHeight / 2
        }
        return (Double(x), Double(y))
    }

    private func removeOverlaps(_ candidates: [(box: DoubleRectangle, score: Float)]) -> [FaceDetection] {
        var kept: [FaceDetection] = []
        for candidate in candidates.sorted(by: { $0.score > $1.score }) {
            let box = FaceBox(left: Int(candidate.box.left.rounded()), top: Int(candidate.box.top.rounded()),
                              right: Int(candidate.box.right.rounded()), bottom: Int(candidate.box.bottom.rounded()))
            if !kept.contains(where: { overlaps(box, $0.box) }) {
                kept.append(FaceDetection(box: box, confidence: candidate.score))
            }
        }
        return kept
    }

    private func overlaps(_ a: FaceBox, _ b: FaceBox) -> Bool {
        let intersection = FaceBox(left: max(a.left, b.left), top: max(a.top, b.top),
                                   right: min(a.right, b.right), bottom: min(a.bottom, b.bottom)).area
        let bounding = FaceBox(left: min(a.left, b.left), top: min(a.top, b.top),
                               right: max(a.right, b.right), bottom: max(a.bottom, b.bottom)).area
        let shared = Double(intersection)
        return shared / Double(bounding) > overlapThreshold
            || shared / Double(a.area) > coveredThreshold
            || shared / Double(b.area) > coveredThreshold
    }
}
