import CCaptureKernels
import FederationCore

/// Pillow's `ImageFilter.UnsharpMask(radius, percent, threshold)` on an RGB image, bit for bit.
///
/// Pillow blurs with `ImageFilter.GaussianBlur(radius)`, which is three box blurs along rows and
/// then three along columns (Gwosdek et al.'s extended box, whose radius has a fractional part
/// carried by the two pixels just outside the box), each pass rounding to 8 bits in 8.24 fixed
/// point with the edge pixels repeated. Then each channel value v with blurred value b moves to
/// clip(v + (v − b) · percent / 100) (integer division, truncating) when |v − b| > threshold.
///
/// The arithmetic here is Pillow's, with its single-precision radius and weights, so the results
/// are identical; the loops (in CCaptureKernels) differ: window sums along the rows and running
/// sums down the columns in 16-bit lanes, the 32-bit products done with pmaddwd (SSE2) so that
/// baseline x86-64 needs no 32-bit vector multiply, and the combine fused into the last pass.
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
        let boxRadius = Self.extendedBoxRadius(Float(radius), passes: 3)
        // A zero box leaves the blurred frame equal to the frame: nothing to sharpen.
        guard boxRadius != 0, image.width > 0, image.height > 0 else { return image }
        // The combine runs inside the last column pass, while the blurred row is in registers.
        return Self.blurred(image, boxRadius: boxRadius, passes: 3, sharpening: (percent, threshold))
    }

    /// Pillow's `ImageFilter.GaussianBlur(radius)` (three passes each way).
    public static func gaussianBlur(_ image: RGBImage, radius: Double, passes: Int = 3) -> RGBImage {
        let boxRadius = extendedBoxRadius(Float(radius), passes: passes)
        guard boxRadius != 0, image.width > 0, image.height > 0, passes > 0 else { return image }
        return blurred(image, boxRadius: boxRadius, passes: passes, sharpening: nil)
    }

    /// `passes` box passes along the rows (all of a row's passes while it is in cache) then down the columns (CCaptureKernels: SSE2, or AVX2
    /// where the CPU has it), the last one writing the unsharp mask when `sharpening` is given.
    private static func blurred(_ image: RGBImage, boxRadius: Float, passes: Int, sharpening: (percent: Int, threshold: Int)?) -> RGBImage {
        let weights = BoxWeights(boxRadius)
        let width = Int32(image.width), height = Int32(image.height), radius = Int32(weights.radius)
        var source = image.pixels
        var destination = [UInt8](repeating: 0, count: source.count)
        source.withUnsafeBufferPointer { from in
            destination.withUnsafeMutableBufferPointer { to in
                ck_box_rows(from.baseAddress, to.baseAddress, width, height, radius, weights.inner, weights.outer, Int32(passes))
            }
        }
        swap(&source, &destination)
        for pass in 0..<passes {
            let last = pass == passes - 1
            source.withUnsafeBufferPointer { from in
                destination.withUnsafeMutableBufferPointer { to in
                    image.pixels.withUnsafeBufferPointer { original in
                        ck_box_columns(from.baseAddress, to.baseAddress, width, height, radius, weights.inner, weights.outer,
                                       last && sharpening != nil ? original.baseAddress : nil,
                                       Int32(sharpening?.percent ?? 0), Int32(sharpening?.threshold ?? 0))
                    }
                }
            }
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
    }
}
