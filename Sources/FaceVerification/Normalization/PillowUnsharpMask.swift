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
/// baseline x86-64 needs no 32-bit vector multiply, the column passes streamed through a few
/// rows each instead of whole frames, and the combine fused into the last pass.
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
        guard let blur = blur, image.width > 0, image.height > 0 else { return image }
        return Self.blurred(image, blur)
    }

    /// The kernels' description of this mask, or nil when its box has radius zero (the blurred
    /// frame then equals the frame: nothing to sharpen).
    var blur: ck_blur? {
        Self.plan(radius: radius, passes: 3, sharpening: (percent, threshold))
    }

    /// Pillow's `ImageFilter.GaussianBlur(radius)` (three passes each way).
    public static func gaussianBlur(_ image: RGBImage, radius: Double, passes: Int = 3) -> RGBImage {
        guard passes > 0, image.width > 0, image.height > 0, let blur = plan(radius: radius, passes: passes, sharpening: nil) else { return image }
        return blurred(image, blur)
    }

    static func plan(radius: Double, passes: Int, sharpening: (percent: Int, threshold: Int)?) -> ck_blur? {
        let boxRadius = extendedBoxRadius(Float(radius), passes: passes)
        guard boxRadius != 0 else { return nil }
        let weights = BoxWeights(boxRadius)
        return ck_blur(radius: Int32(weights.radius), inner: weights.inner, outer: weights.outer, passes: Int32(passes),
                       sharpen: sharpening == nil ? 0 : 1, percent: Int32(sharpening?.percent ?? 0), threshold: Int32(sharpening?.threshold ?? 0))
    }

    /// All passes in one sweep (CCaptureKernels: every row pass of a row while it is in L1, the
    /// column passes streaming through a few rows each, the combine in the last one).
    private static func blurred(_ image: RGBImage, _ blur: ck_blur) -> RGBImage {
        var blur = blur
        let pixels = [UInt8](unsafeUninitializedCapacity: image.pixels.count) { output, initialized in
            image.pixels.withUnsafeBufferPointer { source in
                ck_box_blur(source.baseAddress, output.baseAddress, Int32(image.width), Int32(image.height), &blur)
            }
            initialized = image.pixels.count
        }
        return RGBImage(width: image.width, height: image.height, pixels: pixels)
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
