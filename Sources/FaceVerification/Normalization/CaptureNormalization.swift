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

    /// The frame after every image step of the policy, in the canonical order. A policy with none
    /// (the identity, or one that only averages mirrored descriptors) returns the frame itself
    /// without copying it.
    ///
    /// The steps share passes over the pixels, with the same result as running them one after
    /// the other: white balance and exposure are per-channel look-up tables whose statistics
    /// (the channel sums, then the sums after white balance) take read-only passes, and the one
    /// pass that applies them also writes the luma that CLAHE equalises; the CLAHE blend, the
    /// shift of R, G and B and all of the unsharp mask's box passes then run row by row in one
    /// sweep, writing each output row once.
    public func apply(to image: RGBImage) -> RGBImage {
        guard policy.changesImage, image.width > 0, image.height > 0 else { return image }
        let (width, height) = (image.width, image.height)
        let count = width * height
        let tables = (policy.whiteBalance != nil || policy.exposure != nil) ? Self.tables(for: image, policy) : nil
        let clahe = policy.clahe.map(ContrastLimitedEqualization.init)
        let grid = clahe?.grid(width: width, height: height)
        let blur = policy.unsharpMask.flatMap { PillowUnsharpMask($0).blur }
        if tables == nil, grid == nil, blur == nil { return image }
        let pixels = [UInt8](unsafeUninitializedCapacity: 3 * count) { output, initialized in
            defer { initialized = 3 * count }
            guard let destination = output.baseAddress else { return }
            image.pixels.withUnsafeBufferPointer { input in
                guard let source = input.baseAddress else { return }
                // The frame so far: the input until a step has written the output.
                var current = source
                var luma: [UInt8] = []
                if let clahe, let grid {
                    luma = [UInt8](unsafeUninitializedCapacity: count) { plane, lumaCount in
                        if let tables {
                            tables.withUnsafeBufferPointer { ck_apply_tables(source, destination, plane.baseAddress, count, $0.baseAddress) }
                        } else {
                            ck_luma(source, plane.baseAddress, count)
                        }
                        lumaCount = count
                    }
                    if tables != nil { current = UnsafePointer(destination) }
                    luma.withUnsafeBufferPointer { luma in
                        guard let plane = luma.baseAddress else { return }
                        let claheTables = clahe.tables(luma: plane, width: width, height: height, grid: grid)
                        claheTables.withUnsafeBufferPointer { claheTables in
                            if var plan = blur {
                                ck_clahe_rgb(current, destination, plane, Int32(width), Int32(height), claheTables.baseAddress,
                                             Int32(clahe.tilesX), Int32(clahe.tilesY), Int32(grid.tileWidth), Int32(grid.tileHeight), &plan)
                            } else {
                                ck_clahe_rgb(current, destination, plane, Int32(width), Int32(height), claheTables.baseAddress,
                                             Int32(clahe.tilesX), Int32(clahe.tilesY), Int32(grid.tileWidth), Int32(grid.tileHeight), nil)
                            }
                        }
                    }
                    return
                }
                if let tables {
                    tables.withUnsafeBufferPointer { ck_apply_tables(source, destination, nil, count, $0.baseAddress) }
                    current = UnsafePointer(destination)
                }
                if var plan = blur {
                    ck_box_blur(current, destination, Int32(width), Int32(height), &plan)
                } else if current == source {
                    destination.update(from: source, count: 3 * count)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    // MARK: White balance and exposure

    /// Grey-world white balance alone (`strength` 0…1).
    public static func whiteBalanced(_ image: RGBImage, strength: Double) -> RGBImage {
        let sums = channelSums(image)
        return mapped(image, whiteBalanceTables(sums: sums, count: image.width * image.height, strength: strength))
    }

    /// Exposure correction alone.
    public static func exposed(_ image: RGBImage, _ exposure: NormalizationPolicy.Exposure) -> RGBImage {
        let table = exposureTable(sums: channelSums(image), count: image.width * image.height, exposure: exposure)
        return mapped(image, table + table + table)
    }

    /// The flat R, G, B tables (3 · 256) of the policy's white balance and exposure, one after
    /// the other. Exposure's statistic is the mean luminance after white balance: the sums of
    /// the white-balanced channels, which one read-only pass gives without writing the frame.
    static func tables(for image: RGBImage, _ policy: NormalizationPolicy) -> [UInt8] {
        let count = image.width * image.height
        let sums = channelSums(image)
        let identity = (0...255).map { UInt8($0) }
        var tables = identity + identity + identity
        if let whiteBalance = policy.whiteBalance {
            tables = whiteBalanceTables(sums: sums, count: count, strength: whiteBalance.strength)
        }
        guard let exposure = policy.exposure else { return tables }
        let balancedSums = policy.whiteBalance == nil ? sums : mappedSums(image, tables)
        let table = exposureTable(sums: balancedSums, count: count, exposure: exposure)
        return tables.map { table[Int($0)] }
    }

    static func channelSums(_ image: RGBImage) -> [Int] {
        var sums = [UInt64](repeating: 0, count: 3)
        image.pixels.withUnsafeBufferPointer { pixels in
            sums.withUnsafeMutableBufferPointer { ck_channel_sums(pixels.baseAddress, pixels.count / 3, $0.baseAddress) }
        }
        return sums.map { Int($0) }
    }

    static func mappedSums(_ image: RGBImage, _ tables: [UInt8]) -> [Int] {
        var sums = [UInt64](repeating: 0, count: 3)
        image.pixels.withUnsafeBufferPointer { pixels in
            tables.withUnsafeBufferPointer { tables in
                sums.withUnsafeMutableBufferPointer { ck_mapped_sums(pixels.baseAddress, pixels.count / 3, tables.baseAddress, $0.baseAddress) }
            }
        }
        return sums.map { Int($0) }
    }

    /// Value v of channel c becomes round-half-up(v · g_c), clipped to 255, where
    /// g_c = 1 + strength · (clamp(grey / mean_c) − 1) and grey is the mean of the three means.
    /// Flat R, G, B tables (3 · 256).
    static func whiteBalanceTables(sums: [Int], count: Int, strength: Double) -> [UInt8] {
        guard count > 0, strength > 0 else { return (0..<3).flatMap { _ in (0...255).map { UInt8($0) } } }
        let means = sums.map { Double($0) / Double(count) }
        let grey = (means[0] + means[1] + means[2]) / 3
        return means.flatMap { mean in
            // An empty channel (all zeros) stays zero whatever its gain: leave it alone.
            let full = mean > 0 ? min(max(grey / mean, NormalizationPolicy.WhiteBalance.gainRange.lowerBound),
                                      NormalizationPolicy.WhiteBalance.gainRange.upperBound) : 1
            let gain = 1 + strength * (full - 1)
            return (0...255).map { value in roundedByte(Double(value) * gain) }
        }
    }

    /// The exposure table for a frame of `count` pixels whose channel sums are `sums`. Mean
    /// luminance μ = (0.299 ΣR + 0.587 ΣG + 0.114 ΣB) / (255 N).
    static func exposureTable(sums: [Int], count: Int, exposure: NormalizationPolicy.Exposure) -> [UInt8] {
        let identity = (0...255).map { UInt8($0) }
        guard count > 0 else { return identity }
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

    /// floor(x + 0.5) clipped to 0…255: round half up, as the reference script does.
    static func roundedByte(_ value: Double) -> UInt8 {
        let rounded = (value + 0.5).rounded(.down)
        return rounded <= 0 ? 0 : rounded >= 255 ? 255 : UInt8(rounded)
    }

    static func mapped(_ image: RGBImage, _ tables: [UInt8]) -> RGBImage {
        let pixels = [UInt8](unsafeUninitializedCapacity: image.pixels.count) { output, initialized in
            image.pixels.withUnsafeBufferPointer { pixels in
                tables.withUnsafeBufferPointer { ck_apply_tables(pixels.baseAddress, output.baseAddress, nil, pixels.count / 3, $0.baseAddress) }
            }
            initialized = image.pixels.count
        }
        return RGBImage(width: image.width, height: image.height, pixels: pixels)
    }
}
