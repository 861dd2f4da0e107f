import CBLAS

/// A convolution with the following per-channel affine map (and optional ReLU) folded in,
/// run as im2col followed by one `cblas_sgemm` per band of output rows.
struct Convolution: Sendable {
    let outputChannels: Int
    let inputChannels: Int
    let kernelHeight: Int
    let kernelWidth: Int
    let strideY: Int
    let strideX: Int
    let padY: Int
    let padX: Int
    let appliesReLU: Bool
    /// OIHW weights already multiplied by the affine scale.
    private let weights: [Float]
    private let biases: [Float]

    /// The im2col buffer is capped at about this many floats (8 MB) so that large detector
    /// canvases are processed in bands of output rows instead of one huge matrix, and the
    /// buffer stays small enough to be reused from the allocator rather than faulted in anew.
    private static let maxColumnBufferFloats = 2 << 20

    init(_ record: DnnLayerRecord.Convolution, affine: DnnLayerRecord.ChannelAffine?, appliesReLU: Bool) {
        outputChannels = record.outputChannels
        inputChannels = record.inputChannels
        kernelHeight = record.kernelHeight
        kernelWidth = record.kernelWidth
        strideY = record.strideY
        strideX = record.strideX
        padY = record.padY
        padX = record.padX
        self.appliesReLU = appliesReLU
        var weights = record.weights
        var biases = record.biases
        if let affine {
            let perFilter = record.inputChannels * record.kernelHeight * record.kernelWidth
            for filter in 0..<record.outputChannels {
                let scale = affine.scale[filter]
                for index in filter * perFilter..<(filter + 1) * perFilter {
                    weights[index] *= scale
                }
                biases[filter] = scale * biases[filter] + affine.shift[filter]
            }
        }
        self.weights = weights
        self.biases = biases
    }

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        (1 + (height + 2 * padY - kernelHeight) / strideY, 1 + (width + 2 * padX - kernelWidth) / strideX)
    }

    func callAsFunction(_ input: FeatureMap) -> FeatureMap {
        precondition(input.channels == inputChannels, "convolution input has \(input.channels) channels, expected \(inputChannels)")
        let (outHeight, outWidth) = outputSize(height: input.height, width: input.width)
        guard outHeight > 0, outWidth > 0 else {
            return FeatureMap(zerosWithChannels: outputChannels, height: max(outHeight, 0), width: max(outWidth, 0))
        }
        let patchSize = inputChannels * kernelHeight * kernelWidth
        let rowsPerBand = max(1, min(outHeight, Self.maxColumnBufferFloats / max(1, patchSize * outWidth)))
        let planeSize = outHeight * outWidth
        // Both buffers are written in full (im2col fills every cell, sgemm with beta 0 every
        // output), so they are not zeroed first.
        var columns = [Float](unsafeUninitializedCapacity: patchSize * rowsPerBand * outWidth) { _, count in
            count = patchSize * rowsPerBand * outWidth
        }
        var output = FeatureMap(
            channels: outputChannels, height: outHeight, width: outWidth,
            values: [Float](unsafeUninitializedCapacity: outputChannels * planeSize) { _, count in count = outputChannels * planeSize }
        )

        let source = ColumnSource(input, stride: strideX)
        source.values.withUnsafeBufferPointer { sourceValues in
            weights.withUnsafeBufferPointer { filterWeights in
                columns.withUnsafeMutableBufferPointer { columnBuffer in
                    output.values.withUnsafeMutableBufferPointer { destination in
                        var firstRow = 0
                        while firstRow < outHeight {
                            let bandRows = min(rowsPerBand, outHeight - firstRow)
                            let bandColumns = bandRows * outWidth
                            fillColumns(sourceValues, layout: source, firstRow: firstRow, rows: bandRows,
                                        outWidth: outWidth, into: columnBuffer)
                            cblas_sgemm(
                                CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                Int32(outputChannels), Int32(bandColumns), Int32(patchSize),
                                1, filterWeights.baseAddress, Int32(patchSize),
                                columnBuffer.baseAddress, Int32(bandColumns),
                                0, destination.baseAddress! + firstRow * outWidth, Int32(planeSize)
                            )
                            firstRow += bandRows
                        }
                        addBiasAndActivation(destination, planeSize: planeSize)
                    }
                }
            }
        }
        return output
    }

    /// The input as im2col reads it. For a horizontal stride s > 1 each row is split into s
    /// phase rows (phase p holds columns p, p + s, p + 2s, …), so that every kernel column
    /// becomes one contiguous copy instead of a strided gather.
    private struct ColumnSource {
        let values: [Float]
        let height: Int
        let stride: Int
        /// Row length of each phase plane (input width rounded up to a multiple of the stride, / stride).
        let rowLength: Int
        /// Number of valid columns in each phase.
        let phaseWidths: [Int]

        init(_ input: FeatureMap, stride: Int) {
            height = input.height
            self.stride = stride
            guard stride > 1 else {
                values = input.values
                rowLength = input.width
                phaseWidths = [input.width]
                return
            }
            let rowLength = (input.width + stride - 1) / stride
            let phaseWidths = (0..<stride).map { (input.width - $0 + stride - 1) / stride }
            let count = input.channels * stride * input.height * rowLength
            values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                input.values.withUnsafeBufferPointer { plane in
                    for channel in 0..<input.channels {
                        for y in 0..<input.height {
                            let sourceRow = plane.baseAddress! + (channel * input.height + y) * input.width
                            for phase in 0..<stride {
                                let targetRow = buffer.baseAddress! + ((channel * stride + phase) * input.height + y) * rowLength
                                for column in 0..<phaseWidths[phase] { targetRow[column] = sourceRow[column * stride + phase] }
                                for column in phaseWidths[phase]..<rowLength { targetRow[column] = 0 }
                            }
                        }
                    }
                }
                initialized = count
            }
            self.rowLength = rowLength
            self.phaseWidths = phaseWidths
        }
    }

    /// im2col for output rows `firstRow ..< firstRow + rows`: row index of the column matrix is
    /// c·kh·kw + ky·kw + kx, column index the output pixel; cells outside the input are 0.
    private func fillColumns(
        _ source: UnsafeBufferPointer<Float>, layout: ColumnSource,
        firstRow: Int, rows: Int, outWidth: Int, into columns: UnsafeMutableBufferPointer<Float>
    ) {
        let bandColumns = rows * outWidth
        var row = 0
        for channel in 0..<inputChannels {
            for ky in 0..<kernelHeight {
                for kx in 0..<kernelWidth {
                    // Input column outX·s + (kx − pad) is column outX + shift of phase plane `phase`.
                    let offset = kx - padX
                    let phase = ((offset % strideX) + strideX) % strideX
                    let shift = (offset - phase) / strideX
                    let validWidth = layout.phaseWidths[phase]
                    let first = min(outWidth, max(0, -shift))
                    let last = max(first, min(outWidth, validWidth - shift))
                    let plane = source.baseAddress! + (channel * strideX + phase) * layout.height * layout.rowLength
                    let target = columns.baseAddress! + row * bandColumns
                    for outY in 0..<rows {
                        let inY = (firstRow + outY) * strideY - padY + ky
                        let targetRow = target + outY * outWidth
                        guard inY >= 0, inY < layout.height else {
                            targetRow.update(repeating: 0, count: outWidth)
                            continue
                        }
                        let sourceRow = plane + inY * layout.rowLength
                        if first > 0 { targetRow.update(repeating: 0, count: first) }
                        if last > first { (targetRow + first).update(from: sourceRow + first + shift, count: last - first) }
                        if last < outWidth { (targetRow + last).update(repeating: 0, count: outWidth - last) }
                    }
                    row += 1
                }
            }
        }
    }

    private func addBiasAndActivation(_ output: UnsafeMutableBufferPointer<Float>, planeSize: Int) {
        for channel in 0..<outputChannels {
            let bias = biases[channel]
            let plane = output.baseAddress! + channel * planeSize
            if appliesReLU {
                for index in 0..<planeSize { plane[index] = max(plane[index] + bias, 0) }
            } else {
                for index in 0..<planeSize { plane[index] += bias }
            }
        }
    }
}
