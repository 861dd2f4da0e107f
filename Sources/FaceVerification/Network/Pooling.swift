/// Max and average pooling with dlib's window rule: output (r, c) covers input rows
/// r·stride − pad … r·stride − pad + size − 1, clipped to the input; padded cells never count.
struct Pooling: Sendable {
    enum Kind: Sendable { case max, average }

    let kind: Kind
    let record: DnnLayerRecord.Pooling

    func callAsFunction(_ input: FeatureMap) -> FeatureMap {
        // A zero window size means the whole input (global pooling).
        let windowHeight = record.height == 0 ? input.height : record.height
        let windowWidth = record.width == 0 ? input.width : record.width
        let outHeight = 1 + (input.height + 2 * record.padY - windowHeight) / record.strideY
        let outWidth = 1 + (input.width + 2 * record.padX - windowWidth) / record.strideX
        var output = FeatureMap(zerosWithChannels: input.channels, height: outHeight, width: outWidth)
        input.values.withUnsafeBufferPointer { source in
            output.values.withUnsafeMutableBufferPointer { destination in
                for channel in 0..<input.channels {
                    let plane = source.baseAddress! + channel * input.planeSize
                    let outPlane = destination.baseAddress! + channel * outHeight * outWidth
                    for outY in 0..<outHeight {
                        let top = max(outY * record.strideY - record.padY, 0)
                        let bottom = min(outY * record.strideY - record.padY + windowHeight, input.height)
                        for outX in 0..<outWidth {
                            let left = max(outX * record.strideX - record.padX, 0)
                            let right = min(outX * record.strideX - record.padX + windowWidth, input.width)
                            outPlane[outY * outWidth + outX] = pool(plane, width: input.width, top..<bottom, left..<right)
                        }
                    }
                }
            }
        }
        return output
    }

    private func pool(_ plane: UnsafePointer<Float>, width: Int, _ rows: Range<Int>, _ columns: Range<Int>) -> Float {
        guard !rows.isEmpty, !columns.isEmpty else { return 0 }
        switch kind {
        case .max:
            var best = -Float.infinity
            for y in rows { for x in columns { best = max(best, plane[y * width + x]) } }
            return best
        case .average:
            var sum: Float = 0
            for y in rows { for x in columns { sum += plane[y * width + x] } }
            return sum / Float(rows.count * columns.count)
        }
    }
}
