/// An inclusive integer rectangle in frame pixels (dlib's `rectangle`).
public struct FaceBox: Sendable, Equatable, Codable, Hashable {
    public var left: Int
    public var top: Int
    public var right: Int
    public var bottom: Int

    public init(left: Int, top: Int, right: Int, bottom: Int) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
    }

    public var width: Int { right - left + 1 }
    public var height: Int { bottom - top + 1 }
    /// Pixels covered, counted inclusively; 0 for an empty rectangle.
    public var area: Int { width > 0 && height > 0 ? width * height : 0 }
    public var center: (x: Double, y: Double) { (Double(left + right) / 2, Double(top + bottom) / 2) }
}
