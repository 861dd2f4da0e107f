import Foundation

/// dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`): a 150×150
/// aligned RGB face chip in, a 128-D descriptor out (not normalised; dlib compares these by
/// Euclidean distance, 0.6 being its customary same-person threshold).
///
/// ```swift
/// let network = try FaceDescriptorNetwork(contentsOf: modelsDirectory.descriptorNetwork)
/// let descriptor = try network.descriptor(of: chip)   // [Float], 128 values
/// ```
public struct FaceDescriptorNetwork: Sendable {
    public static let fileName = "dlib_face_recognition_resnet_model_v1.dat"
    public static let chipSize = 150
    public static let descriptorLength = 128

    /// conv 3×3 → affine → ReLU → conv 3×3 → affine, plus the shortcut, then ReLU.
    private struct ResidualBlock: Sendable {
        let first: Convolution
        let second: Convolution
        /// Average pool applied to the shortcut of a down-sampling block.
        let shortcutPool: Pooling?

        func callAsFunction(_ input: FeatureMap) -> FeatureMap {
            let shortcut = shortcutPool.map { $0(input) } ?? input
            return second(first(input)).addingZeroPadded(shortcut).applyingReLU()
        }
    }

    /// Per-channel means subtracted from the chip (R, G, B).
    private let channelMeans: [Float]
    private let stem: Convolution
    private let stemPool: Pooling
    private let blocks: [ResidualBlock]
    private let head: DnnLayerRecord.FullyConnected

    /// Down-sampling flag of each residual block, input side first (levels 4, 3, 2, 1, 0).
    private static let blockIsDownsampling: [Bool] =
        [false, false, false] + [true, false, false, false] + [true, false, false] + [true, false, false] + [true]

    public init(contentsOf url: URL) throws {
        var reader = try DlibStreamReader(contentsOf: url)
        _ = try reader.expectVersion(1...1)
        _ = try reader.expectTag("loss_metric_2")
        _ = try reader.readFloat() // margin (training only)
        _ = try reader.readFloat() // distance threshold (training only)

        var nodes: [DnnFile.Node] = Array(repeating: .layer, count: 4)
        for isDownsampling in Self.blockIsDownsampling {
            nodes += isDownsampling
                ? [.marker] + Array(repeating: .layer, count: 5) + [.marker, .marker] + Array(repeating: .layer, count: 3)
                : [.marker] + Array(repeating: .layer, count: 7)
        }
        nodes += [.layer, .layer]

        var means: [Float] = []
        let file = try DnnFile(reader: &reader, nodes: nodes) { reader in
            _ = try reader.expectTag("input_rgb_image_sized")
            means = try (0..<3).map { _ in try reader.readFloat() }
            let rows = try reader.readInt()
            let columns = try reader.readInt()
            guard rows == Self.chipSize, columns == Self.chipSize else {
                throw reader.corrupt("network input is \(rows)×\(columns), expected \(Self.chipSize)×\(Self.chipSize)")
            }
        }
        channelMeans = means

        var layers = DnnLayerSequence(file.layers, path: url.path)
        stem = try layers.convolutionAffineReLU()
        stemPool = Pooling(kind: .max, record: try layers.maxPool())
        var blocks: [ResidualBlock] = []
        for isDownsampling in Self.blockIsDownsampling {
            let first = try layers.convolutionAffineReLU()
            let second = Convolution(try layers.convolution(), affine: try layers.affine(), appliesReLU: false)
            let pool = isDownsampling ? Pooling(kind: .average, record: try layers.averagePool()) : nil
            try layers.addPrevious()
            try layers.relu()
            blocks.append(ResidualBlock(first: first, second: second, shortcutPool: pool))
        }
        // Each convolution must take the channels the previous stage produces, or inference
        // would read past its input: check once here rather than trap later.
        var channels = stem.outputChannels
        for block in blocks {
            guard block.first.inputChannels == channels, block.second.inputChannels == block.first.outputChannels else {
                throw FaceVerificationError.modelFileCorrupt(path: url.path, reason: "convolution channels do not chain")
            }
            channels = max(channels, block.second.outputChannels)
        }
        let globalPool = try layers.averagePool()
        head = try layers.fullyConnected()
        try layers.requireEnd()
        guard globalPool.height == 0, globalPool.width == 0, head.outputs == Self.descriptorLength,
              stem.inputChannels == 3, head.inputs == blocks.last?.second.outputChannels
        else {
            throw FaceVerificationError.modelFileCorrupt(path: url.path, reason: "network head does not produce a 128-D descriptor")
        }
        self.blocks = blocks
    }

    /// The 128-D descriptor of a 150×150 RGB face chip.
    public func descriptor(of chip: RGBImage) throws -> [Float] {
        guard chip.width == Self.chipSize, chip.height == Self.chipSize else {
            throw FaceVerificationError.invalidChipSize(width: chip.width, height: chip.height)
        }
        var features = stemPool(stem(inputPlanes(of: chip)))
        for block in blocks { features = block(features) }
        return fullyConnectedHead(globalAverage(features))
    }

    /// The mean of the descriptors of `chip` and of its mirror image (test-time flip averaging,
    /// `NormalizationPolicy.mirrorAverage`): a face's two halves count alike, so a shadow or a
    /// highlight on one side moves the descriptor half as far.
    public func mirrorAveragedDescriptor(of chip: RGBImage) throws -> [Float] {
        let direct = try descriptor(of: chip), mirrored = try descriptor(of: chip.mirrored)
        return zip(direct, mirrored).map { ($0 + $1) / 2 }
    }

    /// Planar R, G, B, each value (pixel − channel mean) / 256.
    private func inputPlanes(of chip: RGBImage) -> FeatureMap {
        let planeSize = chip.width * chip.height
        var values = [Float](repeating: 0, count: 3 * planeSize)
        chip.pixels.withUnsafeBufferPointer { pixels in
            values.withUnsafeMutableBufferPointer { planes in
                for index in 0..<planeSize {
                    for channel in 0..<3 {
                        planes[channel * planeSize + index] = (Float(pixels[3 * index + channel]) - channelMeans[channel]) / 256
                    }
                }
            }
        }
        return FeatureMap(channels: 3, height: chip.height, width: chip.width, values: values)
    }

    private func globalAverage(_ features: FeatureMap) -> [Float] {
        (0..<features.channels).map { channel in
            let plane = features.values[channel * features.planeSize..<(channel + 1) * features.planeSize]
            return plane.reduce(0, +) / Float(features.planeSize)
        }
    }

    /// y = x · W with W stored row-major [inputs][outputs].
    private func fullyConnectedHead(_ input: [Float]) -> [Float] {
        var output = [Float](repeating: 0, count: head.outputs)
        for (row, value) in input.enumerated() {
            for column in 0..<head.outputs {
                output[column] += value * head.weights[row * head.outputs + column]
            }
        }
        return output
    }
}
