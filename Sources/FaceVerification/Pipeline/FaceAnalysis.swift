/// What the pipeline found in one frame: every detection, and for the face nearest the
/// frame's centre its landmarks, descriptor and capture quality.
public struct FaceAnalysis: Sendable, Codable {
    /// The face the kiosk verifies.
    public struct PrimaryFace: Sendable, Codable {
        public var detection: FaceDetection
        public var landmarks: [FacePoint]
        /// dlib's raw 128-D descriptor (before any adapter).
        public var descriptor: [Float]
        public var quality: CaptureQuality
    }

    public var imageWidth: Int
    public var imageHeight: Int
    /// How many times the frame was doubled for the detections reported.
    public var detectionUpsample: Int
    public var detections: [FaceDetection]
    public var primaryFace: PrimaryFace?
    public var timings: StageTimings
}
