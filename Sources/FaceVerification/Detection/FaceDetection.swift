/// A face found by the detector: its box in frame pixels and the detector's raw score
/// (true faces typically score about 1.0–1.1; anything above 0 is reported).
public struct FaceDetection: Sendable, Equatable, Codable {
    public var box: FaceBox
    public var confidence: Float

    public init(box: FaceBox, confidence: Float) {
        self.box = box
        self.confidence = confidence
    }
}
