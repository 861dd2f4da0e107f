/// An integer pixel position in the frame (x to the right, y down), as dlib returns landmarks.
public struct FacePoint: Sendable, Equatable, Codable, Hashable {
    public var x: Int
    public var y: Int

    public init(x: Int, y: Int) {
        self.x = x
        self.y = y
    }
}

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
