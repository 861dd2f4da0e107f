import CTurboJPEG
import FaceVerification
import Foundation

/// What a kiosk's camera does to a clean photo before the face pipeline sees it, shared by the
/// simulations over real faces. `federation-simulation` uses the first three
/// (`adaptationConditions`); `policy-search-simulation` all six, where `noisyJPEG` is the unseen
/// condition: the candidate grid and every setting of the search were chosen without looking
/// at it, and it is reported on its own.
public enum KioskCondition: String, CaseIterable, Codable, Sendable {
    /// Underexposed: intensities × 0.3 then a gamma of 1.6 crushes the shadows, plus sensor noise.
    case lowLight = "low-light"
    /// Out of focus: three passes of a 5×5 box blur (close to a Gaussian of σ ≈ 2.5 px).
    case blur
    /// Warm white balance: red × 1.25, green × 1.0, blue × 0.7.
    case colourCast = "colour-cast"
    /// Overexposed, as a face in front of a bright window with the exposure set for the room:
    /// intensities × 1.8 + 25, clipped, so highlights burn out and contrast is lost.
    case overExposure = "over-exposure"
    /// A camera too far away or a cheap sensor: the frame averaged down by 3 in each direction
    /// and scaled back up bilinearly.
    case lowResolution = "low-resolution"
    /// Sensor noise (σ ≈ 10 grey levels, per channel) and a JPEG at quality 25 from a
    /// bandwidth-starved camera. The unseen condition.
    case noisyJPEG = "noisy-jpeg"

    public static let unseen = KioskCondition.noisyJPEG

    /// The conditions the federated adapter was simulated under (`federation-simulation`).
    public static let adaptationConditions: [KioskCondition] = [.lowLight, .blur, .colourCast]

    public func apply(to image: RGBImage, noiseSeed: UInt64) throws -> RGBImage {
        switch self {
        case .lowLight: return Self.darken(image, seed: noiseSeed)
        case .blur: return Self.boxBlur(Self.boxBlur(Self.boxBlur(image)))
        case .colourCast: return Self.mapChannels(image) { value, channel in Double(value) * [1.25, 1.0, 0.7][channel] }
        case .overExposure: return Self.mapChannels(image) { value, _ in Double(value) * 1.8 + 25 }
        case .lowResolution: return Self.upscaled(Self.downscaled(image, by: 3), to: image.width, image.height)
        case .noisyJPEG: return try Self.jpegRoundTrip(Self.noisy(image, seed: noiseSeed, sigma: 10), quality: 25)
        }
    }

    private static func clamp(_ value: Double) -> UInt8 { UInt8(max(0, min(255, value.rounded()))) }

    private static func mapChannels(_ image: RGBImage, _ transform: (UInt8, Int) -> Double) -> RGBImage {
        var out = image
        for index in out.pixels.indices { out.pixels[index] = clamp(transform(image.pixels[index], index % 3)) }
        return out
    }

    /// A 64-bit LCG step and its top 53 bits as a uniform value in [0, 1).
    private static func uniform(_ state: inout UInt64) -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }

    private static func darken(_ image: RGBImage, seed: UInt64) -> RGBImage {
        var state = seed
        var out = image
        for index in out.pixels.indices {
            let noise = (uniform(&state) - 0.5) * 6
            out.pixels[index] = clamp(pow(Double(image.pixels[index]) / 255 * 0.3, 1.6) * 255 + noise)
        }
        return out
    }

    /// Approximately Gaussian noise: the sum of four uniforms, scaled to standard deviation `sigma`.
    private static func noisy(_ image: RGBImage, seed: UInt64, sigma: Double) -> RGBImage {
        var state = seed ^ 0x9E37_79B9_7F4A_7C15
        var out = image
        let scale = sigma / (4.0 / 12).squareRoot()
        for index in out.pixels.indices {
            let sum = uniform(&state) + uniform(&state) + uniform(&state) + uniform(&state) - 2
            out.pixels[index] = clamp(Double(image.pixels[index]) + sum * scale)
        }
        return out
    }

    private static func boxBlur(_ image: RGBImage) -> RGBImage {
        var out = image
        let radius = 2
        for y in 0..<image.height {
            for x in 0..<image.width {
                for channel in 0..<3 {
                    var sum = 0, count = 0
                    for yy in max(0, y - radius)...min(image.height - 1, y + radius) {
                        for xx in max(0, x - radius)...min(image.width - 1, x + radius) {
                            sum += Int(image.pixels[(yy * image.width + xx) * 3 + channel])
                            count += 1
                        }
                    }
                    out.pixels[(y * image.width + x) * 3 + channel] = UInt8(sum / count)
                }
            }
        }
        return out
    }

    /// Each output pixel is the mean of a factor × factor block (partial blocks at the edges).
    private static func downscaled(_ image: RGBImage, by factor: Int) -> RGBImage {
        let width = (image.width + factor - 1) / factor, height = (image.height + factor - 1) / factor
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                for channel in 0..<3 {
                    var sum = 0, count = 0
                    for yy in (y * factor)..<min(image.height, (y + 1) * factor) {
                        for xx in (x * factor)..<min(image.width, (x + 1) * factor) {
                            sum += Int(image.pixels[(yy * image.width + xx) * 3 + channel])
                            count += 1
                        }
                    }
                    pixels[(y * width + x) * 3 + channel] = UInt8((sum + count / 2) / count)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Bilinear, pixel centres aligned.
    private static func upscaled(_ image: RGBImage, to width: Int, _ height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let sx = Double(image.width) / Double(width), sy = Double(image.height) / Double(height)
        for y in 0..<height {
            let fy = max(0, min(Double(image.height - 1), (Double(y) + 0.5) * sy - 0.5))
            let y0 = Int(fy), y1 = min(image.height - 1, y0 + 1), wy = fy - Double(y0)
            for x in 0..<width {
                let fx = max(0, min(Double(image.width - 1), (Double(x) + 0.5) * sx - 0.5))
                let x0 = Int(fx), x1 = min(image.width - 1, x0 + 1), wx = fx - Double(x0)
                for channel in 0..<3 {
                    func at(_ xx: Int, _ yy: Int) -> Double { Double(image.pixels[(yy * image.width + xx) * 3 + channel]) }
                    let top = at(x0, y0) * (1 - wx) + at(x1, y0) * wx
                    let bottom = at(x0, y1) * (1 - wx) + at(x1, y1) * wx
                    pixels[(y * width + x) * 3 + channel] = clamp(top * (1 - wy) + bottom * wy)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    struct EncodeError: Error, CustomStringConvertible {
        var description: String
    }

    /// Encodes with libjpeg-turbo (4:2:0, as cameras do) and decodes again with the kiosk's decoder.
    private static func jpegRoundTrip(_ image: RGBImage, quality: Int32) throws -> RGBImage {
        guard let handle = tjInitCompress() else { throw EncodeError(description: "libjpeg-turbo could not start an encoder") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = image.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle, pixels.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_420.rawValue), quality, 0)
        }
        defer { tjFree(buffer) }
        guard status == 0, let buffer else { throw EncodeError(description: "JPEG encoding failed") }
        return try JPEGDecoder().decode(Array(UnsafeBufferPointer(start: buffer, count: Int(size))))
    }
}
