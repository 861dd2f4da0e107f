extension RGBImage {
    /// dlib's `pyramid_up` for its 2:1 pyramid: the frame rectangle's corners are mapped up
    /// with p ↦ 2·p + (2.5, 1.5) and rounded, the new image spans 0 … that bottom-right corner,
    /// and is filled by an align-corners bilinear resize (each value truncated to 8 bits).
    func pyramidUpByTwo() -> RGBImage {
        guard width > 0, height > 0 else { return self }
        let outWidth = Int((2 * Double(width - 1) + 2.5).rounded()) + 1
        let outHeight = Int((2 * Double(height - 1) + 1.5).rounded()) + 1
        let xScale = Double(width - 1) / Double(max(outWidth - 1, 1))
        let yScale = Double(height - 1) / Double(max(outHeight - 1, 1))
        var output = RGBImage(width: outWidth, height: outHeight)
        pixels.withUnsafeBufferPointer { source in
            output.pixels.withUnsafeMutableBufferPointer { target in
                for y in 0..<outHeight {
                    let sourceY = Double(y) * yScale
                    let top = Int(sourceY)
                    let bottom = min(top + 1, height - 1)
                    let vertical = sourceY - Double(top)
                    for x in 0..<outWidth {
                        let sourceX = Double(x) * xScale
                        let left = Int(sourceX)
                        let right = min(left + 1, width - 1)
                        let horizontal = sourceX - Double(left)
                        for channel in 0..<3 {
                            let tl = Double(source[3 * (top * width + left) + channel])
                            let tr = Double(source[3 * (top * width + right) + channel])
                            let bl = Double(source[3 * (bottom * width + left) + channel])
                            let br = Double(source[3 * (bottom * width + right) + channel])
                            let value = (1 - vertical) * ((1 - horizontal) * tl + horizontal * tr)
                                + vertical * ((1 - horizontal) * bl + horizontal * br)
                            target[3 * (y * outWidth + x) + channel] = UInt8(value)
                        }
                    }
                }
            }
        }
        return output
    }
}
