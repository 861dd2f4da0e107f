import FaceVerification
import Foundation

/// A kiosk's capture conditions, applied to a clean photo before the face pipeline sees it:
/// what the adapter is meant to learn to undo.
enum CaptureCondition: String, CaseIterable, Codable {
    /// Underexposed: intensities × 0.3 then a gamma of 1.6 crushes the shadows, plus sensor noise.
    case lowLight = "low-light"
    /// Out of focus: three passes of a 5×5 box blur (close to a Gaussian of σ ≈ 2.5 px).
    case blur
    /// Warm white balance: red × 1.25, green × 1.0, blue × 0.7.
    case colourCast = "colour-cast"

    func apply(to image: RGBImage, noiseSeed: UInt64) -> RGBImage {
        switch self {
        case .lowLight: return Self.darken(image, seed: noiseSeed)
        case .blur: return Self.boxBlur(Self.boxBlur(Self.boxBlur(image)))
        case .colourCast: return Self.scaleChannels(image, by: (1.25, 1.0, 0.7))
        }
    }

    private static func clamp(_ value: Double) -> UInt8 { UInt8(max(0, min(255, value.rounded()))) }

    private static func darken(_ image: RGBImage, seed: UInt64) -> RGBImage {
        var state = seed
        var out = image
        for index in out.pixels.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let noise = (Double(state >> 11) / Double(1 << 53) - 0.5) * 6
            let dark = pow(Double(image.pixels[index]) / 255 * 0.3, 1.6) * 255
            out.pixels[index] = clamp(dark + noise)
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
                    for dy in -radius...radius {
                        let yy = y + dy
                        guard yy >= 0, yy < image.height else { continue }
                        for dx in -radius...radius {
                            let xx = x + dx
                            guard xx >= 0, xx < image.width else { continue }
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

    private static func scaleChannels(_ image: RGBImage, by factors: (Double, Double, Double)) -> RGBImage {
        var out = image
        for index in out.pixels.indices {
            let factor = [factors.0, factors.1, factors.2][index % 3]
            out.pixels[index] = clamp(Double(image.pixels[index]) * factor)
        }
        return out
    }
}
