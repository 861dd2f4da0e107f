/// The layer records of a dlib DNN file, in input-to-output order.
///
/// A dlib network file has no table of contents: wrappers write their version, then the
/// wrapped sub-network, then their own body, so a file is the loss record, one version per
/// node (outermost first), the input layer body and the layer bodies from input to output.
/// Tag and skip nodes carry no body or ID, so the caller states where they sit.
struct DnnFile {
    /// A node of the network, input side first.
    enum Node {
        case layer
        /// A `tag` or `skip` wrapper: only a version integer in the file.
        case marker
    }

    var layers: [DnnLayerRecord]

    /// Reads everything after the loss record: versions, input body (through `readInput`)
    /// and the layers; then requires that the file ends exactly there.
    init(
        reader: inout DlibStreamReader, nodes: [Node],
        readInput: (inout DlibStreamReader) throws -> Void
    ) throws {
        var versions: [Int] = []
        for _ in nodes { versions.append(try reader.expectVersion(1...3)) }
        versions.reverse()
        try readInput(&reader)
        layers = []
        for (index, node) in nodes.enumerated() where node == .layer {
            layers.append(try reader.readLayer(version: versions[index], isOnInput: index == 0))
        }
        guard reader.isAtEnd else { throw reader.corrupt("unexpected data after the last layer") }
    }
}

/// Hands out parsed layers in order and checks each is of the kind the architecture expects.
struct DnnLayerSequence {
    private var remaining: ArraySlice<DnnLayerRecord>
    private let path: String

    init(_ layers: [DnnLayerRecord], path: String) {
        remaining = layers[...]
        self.path = path
    }

    private mutating func next(_ expected: String) throws -> DnnLayerRecord {
        guard let layer = remaining.popFirst() else {
            throw FaceVerificationError.modelFileCorrupt(path: path, reason: "network ends before its \(expected) layer")
        }
        return layer
    }

    private func mismatch(_ expected: String) -> FaceVerificationError {
        .modelFileCorrupt(path: path, reason: "layer \(expected) not where the architecture expects it")
    }

    mutating func convolution() throws -> DnnLayerRecord.Convolution {
        guard case .convolution(let value) = try next("convolution") else { throw mismatch("convolution") }
        return value
    }

    mutating func affine() throws -> DnnLayerRecord.ChannelAffine {
        guard case .affine(let value) = try next("affine") else { throw mismatch("affine") }
        return value
    }

    mutating func relu() throws {
        guard case .relu = try next("relu") else { throw mismatch("relu") }
    }

    mutating func maxPool() throws -> DnnLayerRecord.Pooling {
        guard case .maxPool(let value) = try next("max pool") else { throw mismatch("max pool") }
        return value
    }

    mutating func averagePool() throws -> DnnLayerRecord.Pooling {
        guard case .averagePool(let value) = try next("average pool") else { throw mismatch("average pool") }
        return value
    }

    mutating func addPrevious() throws {
        guard case .addPrevious = try next("add_prev") else { throw mismatch("add_prev") }
    }

    mutating func fullyConnected() throws -> DnnLayerRecord.FullyConnected {
        guard case .fullyConnected(let value) = try next("fully connected") else { throw mismatch("fully connected") }
        return value
    }

    /// A convolution, its affine map and a ReLU, folded into one operation.
    mutating func convolutionAffineReLU() throws -> Convolution {
        let convolution = try convolution()
        let affine = try affine()
        try relu()
        return Convolution(convolution, affine: affine, appliesReLU: true)
    }

    func requireEnd() throws {
        guard remaining.isEmpty else {
            throw FaceVerificationError.modelFileCorrupt(path: path, reason: "\(remaining.count) layers more than the architecture has")
        }
    }
}
