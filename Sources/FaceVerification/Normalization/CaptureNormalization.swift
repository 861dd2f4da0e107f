import CCaptureKernels
import FederationCore
import Foundation

/// The image step between JPEG decode and face detection: a `NormalizationPolicy` applied to an
/// 8-bit RGB frame. Pure and deterministic (integer arithmetic and look-up tables wherever the
/// reference does so), so a kiosk and the reference scripts agree pixel for pixel.
///
/// ```swift
/// let normalization = try CaptureNormalization(policy: policy)
/// let frame = normalization.apply(to: try JPEGDecoder().decode(bytes))
/// ```
///
/// Each step is also available on its own (`whiteBalanced`, `exposed`, `ContrastLimitedEqualization`,
/// `PillowUnsharpMask`), which is how the tests hold each against its reference implementation.
public struct CaptureNormalization: Sendable, Equatable {
    public let policy: NormalizationPolicy

    public static let identity = CaptureNormalization(validated: .identity)

    /// Refuses a policy outside its ranges (one built in code rather than decoded).
    public init(policy: NormalizationPolicy) throws(NormalizationPolicyError) {
        try policy.validate()
        self.policy = policy
    }

    private init(validated policy: NormalizationPolicy) {
        self.policy = policy
    }

    public var isIdentity: Bool { policy.isIdentity }

    /// The frame after every step of the policy, in the canonical order. The identity returns
    /// the frame itself without copying it.
    public func apply(to image: RGBImage) -> RGBImage {
        guard !policy.isIdentity, image.width > 0, image.height > 0 else { return image }
        var image = image
        // White balance and exposure are both per-channel look-up tables and the exposure's
        // statistic (mean luminance after white balance) follows from the channel histograms,
        // so the two run as one pass over the pixels, with the same result as two.
        if policy.whiteBalance != nil || policy.exposure != nil {
            let histograms = Self.channelHistograms(image)
            var tables = Self.whiteBalanceTables(histograms: histograms, strength: policy.whiteBalance?.strength ?? 0)
            if let exposure = policy.exposure {
                let exposureTable = Self.exposureTable(histograms: histograms, after: tables, exposure: exposure)
                tables = tables.map { table in table.map { exposureTable[Int($0)] } }
            }
            Self.applyTables(tables, to: &image)
        }
        if let clahe = policy.clahe {
            ContrastLimitedEqualization(clahe).applyToLuma(of: &image)
        }
        if let unsharp = policy.unsharpMask {
            image = PillowUnsharpMask(unsharp).apply(to: image)
        }
        return image
    }

    // MARK: White balance and exposure

    /// Grey-world white balance alone (`strength` 0…1).
    public static func whiteBalanced(_ image: RGBImage, strength: Double) -> RGBImage {
        var image = image
        applyTables(whiteBalanceTables(histograms: channelHistograms(image), strength: strength), to: &image)
        return image
    }

    /// Exposure correction alone.
    public static func exposed(_ image: RGBImage, _ exposure: NormalizationPolicy.Exposure) -> RGBImage {
        let histograms = channelHistograms(image)
        let identity = [[UInt8]](repeating: (0...255).map { UInt8($0) }, count: 3)
        let table = exposureTable(histograms: histograms, after: identity, exposure: exposure)
        var image = image
        applyTables([table, table, table], to: &image)
        return image
    }

    static func channelHistograms(_ image: RGBImage) -> [[Int]] {
        var counts = [UInt32](repeating: 0, count: 3 * 256)
        image.pixels.withUnsafeBufferPointer { pixels in
            counts.withUnsafeMutableBufferPointer { counts in
                ck_channel_histograms(pixels.baseAddress, pixels.count / 3, counts.baseAddress)
            }
        }
        return (0..<3).map { channel in counts[256 * channel..<256 * (channel + 1)].map { Int($0) } }
    }

    /// Value v of channel c becomes round-half-up(v · g_c), clipped to 255, where
    /// g_c = 1 + strength · (clamp(grey / mean_c) − 1) and grey is the mean of the three means.
    static func whiteBalanceTables(histograms: [[Int]], strength: Double) -> [[UInt8]] {
        let count = histograms[0].reduce(0, +)
        let sums = histograms.map(weightedSum)
        guard count > 0, strength > 0 else { return [[UInt8]](repeating: (0...255).map { UInt8($0) }, count: 3) }
        let means = sums.map { Double($0) / Double(count) }
        let grey = (means[0] + means[1] + means[2]) / 3
        return means.map { mean in
            // An empty channel (all zeros) stays zero whatever its gain: leave it alone.
            let full = mean > 0 ? min(max(grey / mean, NormalizationPolicy.WhiteBalance.gainRange.lowerBound),
                                      NormalizationPolicy.WhiteBalance.gainRange.upperBound) : 1
            let gain = 1 + strength * (full - 1)
            return (0...255).map { value in roundedByte(Double(value) * gain) }
        }
    }

    /// The exposure table for the frame whose channel histograms are `histograms` once mapped
    /// through `tables`. Mean luminance μ = (0.299 ΣR + 0.587 ΣG + 0.114 ΣB) / (255 N).
    static func exposureTable(histograms: [[Int]], after tables: [[UInt8]], exposure: NormalizationPolicy.Exposure) -> [UInt8] {
        let identity = (0...255).map { UInt8($0) }
        let count = histograms[0].reduce(0, +)
        guard count > 0 else { return identity }
        let sums = (0..<3).map { channel in
            (0..<256).reduce(0) { $0 + histograms[channel][$1] * Int(tables[channel][$1]) }
        }
        let mean = (0.299 * Double(sums[0]) + 0.587 * Double(sums[1]) + 0.114 * Double(sums[2])) / (255 * Double(count))
        guard mean > 0, mean < 1 else { return identity }
        let limits = NormalizationPolicy.Exposure.correctionRange
        switch exposure.method {
        case .gamma:
            let gamma = min(max(log(exposure.targetMean) / log(mean), limits.lowerBound), limits.upperBound)
            return (0...255).map { value in roundedByte(255 * pow(Double(value) / 255, gamma)) }
        case .gain:
            let gain = min(max(exposure.targetMean / mean, limits.lowerBound), limits.upperBound)
            return (0...255).map { value in roundedByte(Double(value) * gain) }
        }
    }

    private static func weightedSum(_ histogram: [Int]) -> Int {
        histogram.indices.reduce(0) { $0 + $1 * histogram[$1] }
    }

    /// floor(x + 0.5) clipped to 0…255: round half up, as the reference script does.
    static func roundedByte(_ value: Double) -> UInt8 {
        let rounded = (value + 0.5).rounded(.down)
        return rounded <= 0 ? 0 : rounded >= 255 ? 255 : UInt8(rounded)
    }

    static func applyTables(_ tables: [[UInt8]], to image: inout RGBImage) {
        let flat = tables[0] + tables[1] + tables[2]
        flat.withUnsafeBufferPointer { flat in
            image.pixels.withUnsafeMutableBufferPointer { pixels in
                ck_apply_tables(pixels.baseAddress, pixels.count / 3, flat.baseAddress)
            }
        }
    }
}
