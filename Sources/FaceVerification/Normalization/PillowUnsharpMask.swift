/// Pillow's `ImageFilter.UnsharpMask(radius, percent, threshold)` on an RGB image, bit for bit.
///
/// Pillow blurs with `ImageFilter.GaussianBlur(radius)`, which is three box blurs along rows and
/// then three along columns (Gwosdek et al.'s extended box, whose radius has a fractional part
/// carried by the two pixels just outside the box), each pass rounding to 8 bits in 8.24 fixed
/// point with the edge pixels repeated. Then each channel value v with blurred value b moves to
/// clip(v + (v − b) · percent / 100) (integer division, truncating) when |v − b| > threshold.
///
/// The arithmetic here is Pillow's, with its single-precision radius and weights, so the results
/// are identical; the loops differ (window sums that vectorise instead of a running sum
/// along each row, and no transposition), which is what keeps a 640×480 frame within budget.
public struct PillowUnsharpMask: Sendable, Equatable {
    public let radius: Double
    public let percent: Int
    public let threshold: Int

    public init(_ parameters: NormalizationPolicy.UnsharpMask) {
        radius = parameters.radius
        percent = parameters.percent
        threshold = parameters.threshold
    }

    public func apply(to image: RGBImage) -> RGBImage {
        let blurred = Self.gaussianBlur(image, radius: radius)
        var output = blurred
        // 32-bit lanes and a constant divisor keep this loop vectorisable: |difference · percent|
        // stays below 2^18, and Swift's division truncates toward zero as C's does.
        let percent = Int32(percent), threshold = Int32(threshold)
        image.pixels.withUnsafeBufferPointer { original in
            output.pixels.withUnsafeMutableBufferPointer { output in
                for index in 0..<original.count {
                    let value = Int32(original[index])
                    let difference = value &- Int32(output[index])
                    let sharpened = value &+ (difference &* percent) / 100
                    let result = difference > threshold || difference < -threshold ? sharpened : value
                    output[index] = UInt8(truncatingIfNeeded: min(max(result, 0), 255))
                }
            }
        }
        return output
    }

    /// Pillow's `ImageFilter.GaussianBlur(radius)` (three passes each way).
    public static func gaussianBlur(_ image: RGBImage, radius: Double, passes: Int = 3) -> RGBImage {
        let boxRadius = extendedBoxRadius(Float(radius), passes: passes)
        guard boxRadius != 0, image.width > 0, image.height > 0 else { return image }
        let weights = BoxWeights(boxRadius)
        var source = image.pixels
        var destination = [UInt8](repeating: 0, count: source.count)
        for _ in 0..<passes {
            horizontalBoxBlur(from: source, to: &destination, width: image.width, height: image.height, weights)
            swap(&source, &destination)
        }
        for _ in 0..<passes {
            verticalBoxBlur(from: source, to: &destination, width: image.width, height: image.height, weights)
            swap(&source, &destination)
        }
        return RGBImage(width: image.width, height: image.height, pixels: source)
    }

    /// Pillow's `_gaussian_blur_radius`: the box radius whose `passes` repetitions have the
    /// variance of a Gaussian of standard deviation `radius`, computed with Pillow's mix of
    /// single and double precision.
    static func extendedBoxRadius(_ radius: Float, passes: Int) -> Float {
        let sigma2: Float = radius * radius / Float(passes)
        let length = Float((12.0 * Double(sigma2) + 1.0).squareRoot())
        let whole = Float(((Double(length) - 1.0) / 2.0).rounded(.down))
        var fraction: Float = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2)
        fraction /= 6 * (sigma2 - (whole + 1) * (whole + 1))
        return whole + fraction
    }

    /// The 8.24 fixed-point weights of one box pass: `inner` for each of the 2r + 1 pixels of the
    /// box, `outer` for each of the two just outside it.
    struct BoxWeights {
        let radius: Int
        let inner: UInt32
        let outer: UInt32

        init(_ floatRadius: Float) {
            radius = Int(floatRadius)
            inner = UInt32(Float(1 << 24) / (floatRadius * 2 + 1))
            outer = (UInt32(1 << 24) &- UInt32(radius * 2 + 1) &* inner) / 2
        }

        @inline(__always)
        func value(sum: UInt32, outside: UInt32) -> UInt8 {
            UInt8(truncatingIfNeeded: (sum &* inner &+ outside &* outer &+ (1 << 23)) >> 24)
        }

        @inline(__always)
        func values(sums: SIMD16<UInt16>, outside: SIMD16<UInt16>) -> SIMD16<UInt8> {
            let total = SIMD16<UInt32>(truncatingIfNeeded: sums) &* inner &+ SIMD16<UInt32>(truncatingIfNeeded: outside) &* outer &+ (1 << 23)
            return SIMD16<UInt8>(truncatingIfNeeded: total &>> 24)
        }
    }

    /// One pass along each row of interleaved RGB (a channel's neighbours are 3 bytes apart).
    /// Columns whose box and outer pixels lie inside the row are done 16 bytes at a time as
    /// window sums; the few at each end clamp their indices one value at a time.
    static func horizontalBoxBlur(from source: [UInt8], to destination: inout [UInt8], width: Int, height: Int, _ weights: BoxWeights) {
        let radius = weights.radius
        let rowLength = 3 * width
        let far = 3 * (radius + 1)
        let interior = far..<max(far, rowLength - far)
        source.withUnsafeBufferPointer { source in
            destination.withUnsafeMutableBufferPointer { destination in
                guard let source = source.baseAddress, let destination = destination.baseAddress else { return }
                for y in 0..<height {
                    let row = source + y * rowLength
                    let out = destination + y * rowLength
                    var k = interior.lowerBound
                    while k < interior.upperBound {
                        // The last block may overlap the one before it: it recomputes the same values.
                        if k + 16 > interior.upperBound {
                            guard interior.count >= 16 else { break }
                            k = interior.upperBound - 16
                        }
                        var sum = SIMD16<UInt16>(truncatingIfNeeded: load16(row + k))
                        for offset in stride(from: 3, through: 3 * radius, by: 3) {
                            sum &+= SIMD16<UInt16>(truncatingIfNeeded: load16(row + k - offset))
                                &+ SIMD16<UInt16>(truncatingIfNeeded: load16(row + k + offset))
                        }
                        let outside = SIMD16<UInt16>(truncatingIfNeeded: load16(row + k - far))
                            &+ SIMD16<UInt16>(truncatingIfNeeded: load16(row + k + far))
                        store16(weights.values(sums: sum, outside: outside), out + k)
                        k += 16
                    }
                    let edges = interior.count >= 16 ? [0..<interior.lowerBound, interior.upperBound..<rowLength] : [0..<rowLength]
                    for k in edges.joined() {
                        let x = k / 3, channel = k % 3
                        var sum: UInt32 = 0
                        for i in x - radius...x + radius { sum &+= UInt32(row[3 * min(max(i, 0), width - 1) + channel]) }
                        let outside = UInt32(row[3 * min(max(x - radius - 1, 0), width - 1) + channel])
                            &+ UInt32(row[3 * min(max(x + radius + 1, 0), width - 1) + channel])
                        out[k] = weights.value(sum: sum, outside: outside)
                    }
                }
            }
        }
    }

    /// One pass down the columns with a running sum per column, 16 columns at a time (the sums
    /// stay below 65,536 for any radius the policy allows, so 16 bits hold them exactly).
    static func verticalBoxBlur(from source: [UInt8], to destination: inout [UInt8], width: Int, height: Int, _ weights: BoxWeights) {
        let radius = weights.radius
        let rowLength = 3 * width
        let blocks = rowLength / 16
        var sums = [SIMD16<UInt16>](repeating: .zero, count: blocks)
        var tailSums = [UInt32](repeating: 0, count: rowLength - 16 * blocks)
        @inline(__always) func clamped(_ y: Int) -> Int { min(max(y, 0), height - 1) * rowLength }
        source.withUnsafeBufferPointer { source in
            destination.withUnsafeMutableBufferPointer { destination in
                sums.withUnsafeMutableBufferPointer { sums in
                    tailSums.withUnsafeMutableBufferPointer { tailSums in
                        guard let source = source.baseAddress, let out = destination.baseAddress else { return }
                        // The window for row −1: rows −r−1 … r−1, edges repeated.
                        for y in -radius - 1...radius - 1 {
                            let row = source + clamped(y)
                            for block in 0..<blocks { sums[block] &+= SIMD16<UInt16>(truncatingIfNeeded: load16(row + 16 * block)) }
                            for k in 0..<tailSums.count { tailSums[k] &+= UInt32(row[16 * blocks + k]) }
                        }
                        for y in 0..<height {
                            let leaving = source + clamped(y - radius - 1), entering = source + clamped(y + radius)
                            let after = source + clamped(y + radius + 1), target = out + y * rowLength
                            for block in 0..<blocks {
                                let offset = 16 * block
                                let left = SIMD16<UInt16>(truncatingIfNeeded: load16(leaving + offset))
                                let sum = sums[block] &+ SIMD16<UInt16>(truncatingIfNeeded: load16(entering + offset)) &- left
                                sums[block] = sum
                                store16(weights.values(sums: sum, outside: left &+ SIMD16<UInt16>(truncatingIfNeeded: load16(after + offset))),
                                        target + offset)
                            }
                            for k in 0..<tailSums.count {
                                let column = 16 * blocks + k
                                let sum = tailSums[k] &+ UInt32(entering[column]) &- UInt32(leaving[column])
                                tailSums[k] = sum
                                target[column] = weights.value(sum: sum, outside: UInt32(leaving[column]) &+ UInt32(after[column]))
                            }
                        }
                    }
                }
            }
        }
    }
}

@inline(__always)
private func load16(_ pointer: UnsafePointer<UInt8>) -> SIMD16<UInt8> {
    UnsafeRawPointer(pointer).loadUnaligned(as: SIMD16<UInt8>.self)
}

@inline(__always)
private func store16(_ value: SIMD16<UInt8>, _ pointer: UnsafeMutablePointer<UInt8>) {
    UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: SIMD16<UInt8>.self)
}
