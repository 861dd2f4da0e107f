extension RGBImage {
    /// dlib's 2:1 image pyramid step: a separable (1, 4, 6, 4, 1) filter in integer arithmetic,
    /// output ((H − 3) div 2) × ((W − 3) div 2), the vertical sum divided by 256 with truncation.
    /// Returns nil for inputs of 8 pixels or fewer on a side, where dlib produces no level.
    func pyramidDownByTwo() -> RGBImage? {
        guard width > 8, height > 8 else { return nil }
        let outWidth = (width - 3) / 2
        let outHeight = (height - 3) / 2
        let weights = [1, 4, 6, 4, 1]
        // Horizontal pass for every input row.
        var horizontal = [Int32](repeating: 0, count: height * outWidth * 3)
        pixels.withUnsafeBufferPointer { source in
            horizontal.withUnsafeMutableBufferPointer { target in
                for row in 0..<height {
                    for column in 0..<outWidth {
                        for channel in 0..<3 {
                            var sum: Int32 = 0
                            for k in 0..<5 {
                                sum += Int32(weights[k]) * Int32(source[3 * (row * width + 2 * column + k) + channel])
                            }
                            target[3 * (row * outWidth + column) + channel] = sum
                        }
                    }
                }
            }
        }
        var output = RGBImage(width: outWidth, height: outHeight)
        horizontal.withUnsafeBufferPointer { source in
            output.pixels.withUnsafeMutableBufferPointer { target in
                for row in 0..<outHeight {
                    for index in 0..<outWidth * 3 {
                        var sum: Int32 = 0
                        for k in 0..<5 {
                            sum += Int32(weights[k]) * source[(2 * row + k) * outWidth * 3 + index]
                        }
                        target[row * outWidth * 3 + index] = UInt8(clamping: sum / 256)
                    }
                }
            }
        }
        return output
    }
}
