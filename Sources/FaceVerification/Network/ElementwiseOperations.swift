extension FeatureMap {
    /// dlib's `add_prev`: the sum takes the larger size in every dimension and each operand
    /// contributes zero where it has no element (both aligned at channel 0, row 0, column 0).
    func addingZeroPadded(_ other: FeatureMap) -> FeatureMap {
        if channels == other.channels, height == other.height, width == other.width {
            var sum = self
            sum.values.withUnsafeMutableBufferPointer { target in
                other.values.withUnsafeBufferPointer { source in
                    for index in 0..<target.count { target[index] += source[index] }
                }
            }
            return sum
        }
        var sum = FeatureMap(zerosWithChannels: max(channels, other.channels),
                             height: max(height, other.height), width: max(width, other.width))
        for operand in [self, other] {
            for channel in 0..<operand.channels {
                for y in 0..<operand.height {
                    for x in 0..<operand.width {
                        sum.values[(channel * sum.height + y) * sum.width + x] +=
                            operand.values[(channel * operand.height + y) * operand.width + x]
                    }
                }
            }
        }
        return sum
    }

    func applyingReLU() -> FeatureMap {
        var result = self
        result.values.withUnsafeMutableBufferPointer { buffer in
            for index in 0..<buffer.count { buffer[index] = max(buffer[index], 0) }
        }
        return result
    }
}
