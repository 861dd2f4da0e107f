import Foundation

/// Cuts the 150×150 aligned face chip that dlib's descriptor network expects, from the five
/// integer landmarks of the shape predictor, exactly as dlib's `get_face_chip` does —
/// including its 2:1 pyramid for faces whose chip spans more than about 300 source pixels
/// (sampling those straight from the frame changes descriptors by up to ~0.1).
///
/// ```swift
/// let chip = try FaceChipExtractor().chip(from: image, landmarks: landmarks)
/// ```
public struct FaceChipExtractor: Sendable {
    /// Side of the chip in pixels.
    public let size: Int
    /// Margin around the landmark template, as a fraction of the template's size.
    public let padding: Double

    /// dlib's 5-point template (normalised, in shape-predictor part order).
    private static let template: [(x: Double, y: Double)] = [
        (0.8595674595992, 0.2134981538014),
        (0.6460604764104, 0.2289674387677),
        (0.1205750620789, 0.2137274526848),
        (0.3340850613712, 0.2290642403242),
        (0.4901123135679, 0.6277975316475),
    ]

    public init(size: Int = FaceDescriptorNetwork.chipSize, padding: Double = 0.25) {
        self.size = size
        self.padding = padding
    }

    /// Where the chip lies in the frame: its unrotated rectangle and rotation angle.
    struct Placement {
        var rectangle: DoubleRectangle
        var angle: Double
    }

    func placement(for landmarks: [FacePoint]) throws -> Placement {
        guard landmarks.count == Self.template.count else {
            throw FaceVerificationError.invalidLandmarkCount(landmarks.count)
        }
        let side = Double(size)
        let chipPoints = Self.template.map { point in
            (x: side * (padding + point.x) / (1 + 2 * padding), y: side * (padding + point.y) / (1 + 2 * padding))
        }
        let imagePoints = landmarks.map { (x: Double($0.x), y: Double($0.y)) }
        let transform = SimilarityTransform(from: chipPoints, to: imagePoints)
        let linear = transform.linearPart
        let angle = atan2(linear.m10, linear.m00)
        let scale = (linear.m00 * linear.m00 + linear.m10 * linear.m10).squareRoot()
        let center = transform.apply((side / 2, side / 2))
        let halfSide = (side * scale - 1) / 2
        return Placement(
            rectangle: DoubleRectangle(left: center.x - halfSide, top: center.y - halfSide,
                                       right: center.x + halfSide, bottom: center.y + halfSide),
            angle: angle
        )
    }

    /// Side length of the chip's square in source pixels (above ~300 the pyramid path is used).
    public func sourceSide(for landmarks: [FacePoint]) throws -> Double {
        let rectangle = try placement(for: landmarks).rectangle
        return rectangle.right - rectangle.left + 1
    }

    public func chip(from image: RGBImage, landmarks: [FacePoint]) throws -> RGBImage {
        let placement = try placement(for: landmarks)
        let chipArea = Double(size * size)

        var depth = 0
        var growth = 2.0
        var halvedRectangle = placement.rectangle.halved
        while halvedRectangle.area > chipArea {
            depth += 1
            growth = 2 * growth + 2
            halvedRectangle = halvedRectangle.halved
        }

        // Crop to the rotated chip's bounding box (grown to cover the pyramid filter's reach).
        let rectangle = placement.rectangle
        let corners = [(rectangle.left, rectangle.top), (rectangle.right, rectangle.top),
                       (rectangle.left, rectangle.bottom), (rectangle.right, rectangle.bottom)]
            .map { rotate($0, about: rectangle.center, by: placement.angle) }
        let bounds = DoubleRectangle(
            left: corners.map(\.x).reduce(.infinity, min) - growth, top: corners.map(\.y).reduce(.infinity, min) - growth,
            right: corners.map(\.x).reduce(-.infinity, max) + growth, bottom: corners.map(\.y).reduce(-.infinity, max) + growth
        ).intersection(DoubleRectangle(left: 0, top: 0, right: Double(image.width - 1), bottom: Double(image.height - 1)))
        let crop = (left: Int(bounds.left.rounded()), top: Int(bounds.top.rounded()),
                    right: Int(bounds.right.rounded()), bottom: Int(bounds.bottom.rounded()))
        guard crop.right >= crop.left, crop.bottom >= crop.top else { return RGBImage(width: size, height: size) }

        var source = image.cropped(left: crop.left, top: crop.top, right: crop.right, bottom: crop.bottom)
        var sourceRectangle = rectangle.translated(by: -Double(crop.left), -Double(crop.top))
        while sourceRectangle.halved.area > chipArea {
            guard let smaller = source.pyramidDownByTwo() else { break }
            source = smaller
            sourceRectangle = sourceRectangle.halved
        }
        return sample(source, rectangle: sourceRectangle, angle: placement.angle)
    }

    /// Bilinear sampling of the rotated rectangle onto the chip grid; each value is computed
    /// in double and truncated, pixels whose 2×2 neighbourhood leaves the source are black.
    private func sample(_ source: RGBImage, rectangle: DoubleRectangle, angle: Double) -> RGBImage {
        let center = rectangle.center
        let topLeft = rotate((rectangle.left, rectangle.top), about: center, by: angle)
        let topRight = rotate((rectangle.right, rectangle.top), about: center, by: angle)
        let bottomLeft = rotate((rectangle.left, rectangle.bottom), about: center, by: angle)
        let last = Double(size - 1)
        let m00 = (topRight.x - topLeft.x) / last, m01 = (bottomLeft.x - topLeft.x) / last
        let m10 = (topRight.y - topLeft.y) / last, m11 = (bottomLeft.y - topLeft.y) / last

        var chip = RGBImage(width: size, height: size)
        source.pixels.withUnsafeBufferPointer { pixels in
            chip.pixels.withUnsafeMutableBufferPointer { target in
                for y in 0..<size {
                    for x in 0..<size {
                        let u = m00 * Double(x) + m01 * Double(y) + topLeft.x
                        let v = m10 * Double(x) + m11 * Double(y) + topLeft.y
                        let left = u.rounded(.down), top = v.rounded(.down)
                        guard left >= 0, top >= 0, left + 1 < Double(source.width), top + 1 < Double(source.height) else { continue }
                        let column = Int(left), row = Int(top)
                        let horizontal = u - left, vertical = v - top
                        let topRow = 3 * (row * source.width + column)
                        let bottomRow = topRow + 3 * source.width
                        for channel in 0..<3 {
                            let tl = Double(pixels[topRow + channel]), tr = Double(pixels[topRow + 3 + channel])
                            let bl = Double(pixels[bottomRow + channel]), br = Double(pixels[bottomRow + 3 + channel])
                            let value = (1 - vertical) * ((1 - horizontal) * tl + horizontal * tr)
                                + vertical * ((1 - horizontal) * bl + horizontal * br)
                            target[3 * (y * size + x) + channel] = UInt8(value)
                        }
                    }
                }
            }
        }
        return chip
    }
}
