/// Simple measures of how good a capture was, for the outcome record: they let threshold
/// calibration split error rates by capture conditions without storing the image.
///
/// ```swift
/// let quality = CaptureQuality(box: detection.box, chip: chip)
/// if quality.sharpness < 50 { print("blurred capture") }
/// ```
public struct CaptureQuality: Sendable, Equatable, Codable {
    /// Side of the detected face box in frame pixels (the smaller of width and height).
    public var faceSizePixels: Int
    /// Variance of the 4-neighbour Laplacian of the chip's luma (0…255 scale); low = blurred.
    public var sharpness: Double
    /// Mean luma of the chip, 0 (black) … 1 (white).
    public var brightness: Double

    public init(faceSizePixels: Int, sharpness: Double, brightness: Double) {
        self.faceSizePixels = faceSizePixels
        self.sharpness = sharpness
        self.brightness = brightness
    }

    public init(box: FaceBox, chip: RGBImage) {
        let luma = chip.lumaPlane()
        let width = chip.width, height = chip.height
        var lumaSum = 0.0
        for value in luma { lumaSum += value }
        var laplacianSum = 0.0, laplacianSquares = 0.0
        var count = 0.0
        if width >= 3, height >= 3 {
            for y in 1..<height - 1 {
                for x in 1..<width - 1 {
                    let index = y * width + x
                    let neighbours: Double = luma[index - 1] + luma[index + 1] + luma[index - width] + luma[index + width]
                    let laplacian = neighbours - 4 * luma[index]
                    laplacianSum += laplacian
                    laplacianSquares += laplacian * laplacian
                    count += 1
                }
            }
        }
        let mean = count > 0 ? laplacianSum / count : 0
        self.init(
            faceSizePixels: min(box.width, box.height),
            sharpness: count > 0 ? laplacianSquares / count - mean * mean : 0,
            brightness: luma.isEmpty ? 0 : lumaSum / Double(luma.count) / 255
        )
    }
}

extension RGBImage {
    /// ITU-R BT.601 luma, 0…255.
    func lumaPlane() -> [Double] {
        (0..<width * height).map { index -> Double in
            let red = 0.299 * Double(pixels[3 * index])
            let green = 0.587 * Double(pixels[3 * index + 1])
            let blue = 0.114 * Double(pixels[3 * index + 2])
            return red + green + blue
        }
    }
}
