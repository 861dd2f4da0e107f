/// An integer pixel position in the frame (x to the right, y down), as dlib returns landmarks.
public struct FacePoint: Sendable, Equatable, Codable, Hashable {
    public var x: Int
    public var y: Int

    public init(x: Int, y: Int) {
        self.x = x
        self.y = y
    }
}
