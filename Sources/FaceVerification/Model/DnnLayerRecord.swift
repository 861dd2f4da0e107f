/// One computational layer of a dlib DNN file, with its parameters already in the form the
/// forward pass uses (batch-norm folded into a per-channel affine map).
enum DnnLayerRecord {
    /// Weights in OIHW order; `padY`/`padX` are zero-padding rows/columns.
    struct Convolution {
        var outputChannels: Int
        var inputChannels: Int
        var kernelHeight: Int
        var kernelWidth: Int
        var strideY: Int
        var strideX: Int
        var padY: Int
        var padX: Int
        var weights: [Float]
        var biases: [Float]
    }

    /// y = scale[c]·x + shift[c] per channel.
    struct ChannelAffine {
        var scale: [Float]
        var shift: [Float]
    }

    /// Window `height`×`width` (0 = whole input, i.e. global pooling).
    struct Pooling {
        var height: Int
        var width: Int
        var strideY: Int
        var strideX: Int
        var padY: Int
        var padX: Int
    }

    /// Row-major [inputs][outputs] weights, no bias.
    struct FullyConnected {
        var inputs: Int
        var outputs: Int
        var weights: [Float]
    }

    case convolution(Convolution)
    case affine(ChannelAffine)
    case relu
    case maxPool(Pooling)
    case averagePool(Pooling)
    case addPrevious
    case fullyConnected(FullyConnected)
}

extension DlibStreamReader {
    /// Reads one layer body (its tag first) and the training bookkeeping written after it.
    ///
    /// - Parameter isOnInput: the innermost layer carries the input layer's bookkeeping
    ///   (`grad_final` and, in version 3, the sample expansion factor) instead of `params_grad`.
    mutating func readLayer(version: Int, isOnInput: Bool) throws -> DnnLayerRecord {
        let tag = try expectTag("con_4", "affine_", "bn_con2", "relu_", "max_pool_2", "avg_pool_2", "add_prev_", "fc_2")
        let layer: DnnLayerRecord
        switch tag {
        case "con_4": layer = .convolution(try readConvolutionBody())
        case "affine_": layer = .affine(try readAffineBody())
        case "bn_con2": layer = .affine(try readBatchNormBody())
        case "relu_": layer = .relu
        case "max_pool_2": layer = .maxPool(try readPoolingBody())
        case "avg_pool_2": layer = .averagePool(try readPoolingBody())
        case "add_prev_": layer = .addPrevious
        default: layer = .fullyConnected(try readFullyConnectedBody())
        }
        // Training state: setup-called, gradient-stale, output-disabled; x_grad; cached_output.
        for _ in 0..<3 { _ = try readBool() }
        _ = try readTensor()
        _ = try readTensor()
        if isOnInput {
            _ = try readTensor()
            if version >= 3 { _ = try readInteger() }
        } else if version >= 2 {
            _ = try readTensor()
        }
        return layer
    }

    private mutating func readConvolutionBody() throws -> DnnLayerRecord.Convolution {
        let params = try readTensor()
        let filters = try readInt(in: 1...65536)
        let kernelHeight = try readInt(in: 1...64)
        let kernelWidth = try readInt(in: 1...64)
        let strideY = try readInt(in: 1...64)
        let strideX = try readInt(in: 1...64)
        let padY = try readInt(in: 0...64)
        let padX = try readInt(in: 0...64)
        let filterShape = try readAliasTensor()
        let biasShape = try readAliasTensor()
        try skipDoubles(4)
        let inputChannels = filterShape[1]
        guard (1...65536).contains(inputChannels),
              filterShape == [filters, inputChannels, kernelHeight, kernelWidth],
              biasShape == [1, filters, 1, 1]
        else { throw corrupt("convolution parameters do not match their declared shapes") }
        // Every factor is bounded above (at most 2^44 in all), so the product cannot overflow.
        let weightCount = filters * inputChannels * kernelHeight * kernelWidth
        guard params.values.count == weightCount + filters else {
            throw corrupt("convolution parameters do not match their declared shapes")
        }
        return .init(
            outputChannels: filters, inputChannels: inputChannels,
            kernelHeight: kernelHeight, kernelWidth: kernelWidth,
            strideY: strideY, strideX: strideX, padY: padY, padX: padX,
            weights: Array(params.values[0..<weightCount]),
            biases: Array(params.values[weightCount...])
        )
    }

    private mutating func readAffineBody() throws -> DnnLayerRecord.ChannelAffine {
        let params = try readTensor()
        let gammaShape = try readAliasTensor()
        _ = try readAliasTensor()
        let mode = try readInt()
        let channels = gammaShape[1]
        guard mode == 0, params.values.count == 2 * channels else {
            throw corrupt("affine layer is not a per-channel map of its declared size")
        }
        return .init(scale: Array(params.values[0..<channels]), shift: Array(params.values[channels...]))
    }

    /// Batch normalisation as trained; folded with its running statistics into an affine map.
    private mutating func readBatchNormBody() throws -> DnnLayerRecord.ChannelAffine {
        let params = try readTensor()
        let gammaShape = try readAliasTensor()
        _ = try readAliasTensor()
        _ = try readTensor() // batch means
        _ = try readTensor() // batch inverse standard deviations
        let runningMeans = try readTensor()
        let runningVariances = try readTensor()
        _ = try readInteger() // number of updates
        _ = try readInteger() // running statistics window
        try skipDoubles(4)
        let epsilon = try readDouble()
        let channels = gammaShape[1]
        guard params.values.count == 2 * channels,
              runningMeans.values.count == channels,
              runningVariances.values.count == channels
        else { throw corrupt("batch-norm parameters do not match their declared shapes") }
        var scale = [Float](repeating: 0, count: channels)
        var shift = [Float](repeating: 0, count: channels)
        for channel in 0..<channels {
            let gamma = params.values[channel]
            let beta = params.values[channels + channel]
            scale[channel] = gamma / (runningVariances.values[channel] + Float(epsilon)).squareRoot()
            shift[channel] = beta - scale[channel] * runningMeans.values[channel]
        }
        return .init(scale: scale, shift: shift)
    }

    private mutating func readPoolingBody() throws -> DnnLayerRecord.Pooling {
        .init(
            height: try readInt(in: 0...64), width: try readInt(in: 0...64),
            strideY: try readInt(in: 1...64), strideX: try readInt(in: 1...64),
            padY: try readInt(in: 0...64), padX: try readInt(in: 0...64)
        )
    }

    private mutating func readFullyConnectedBody() throws -> DnnLayerRecord.FullyConnected {
        let outputs = try readInt(in: 1...65536)
        let inputs = try readInt(in: 1...(1 << 24))
        let params = try readTensor()
        _ = try readAliasTensor()
        _ = try readAliasTensor()
        let biasMode = try readInt()
        try skipDoubles(4)
        guard biasMode == 1, params.values.count == inputs * outputs else {
            throw corrupt("fully connected layer with a bias or of the wrong size")
        }
        return .init(inputs: inputs, outputs: outputs, weights: params.values)
    }
}
