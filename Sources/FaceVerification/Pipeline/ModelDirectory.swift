import Foundation

/// Where the three dlib model files live. Set-up puts them there with
/// `scripts/fetch-models.sh [DIR]`, which checks their SHA-256.
///
/// ```swift
/// let models = ModelDirectory(url: URL(fileURLWithPath: "models"))
/// let pipeline = try FacePipeline(models: models)
/// ```
public struct ModelDirectory: Sendable {
    /// Environment variable that names the models directory.
    public static let environmentVariable = "FACELOOP_MODELS_DIR"

    public let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// `$FACELOOP_MODELS_DIR` if set, else `fallback`.
    public static func fromEnvironment(fallback: URL) -> ModelDirectory {
        if let path = ProcessInfo.processInfo.environment[environmentVariable], !path.isEmpty {
            return ModelDirectory(url: URL(fileURLWithPath: path, isDirectory: true))
        }
        return ModelDirectory(url: fallback)
    }

    public var detector: URL { url.appendingPathComponent(FaceDetector.fileName) }
    public var shapePredictor: URL { url.appendingPathComponent(ShapePredictor.fileName) }
    public var descriptorNetwork: URL { url.appendingPathComponent(FaceDescriptorNetwork.fileName) }

    /// Paths of the model files that are not there.
    public var missingFiles: [String] {
        [detector, shapePredictor, descriptorNetwork].map(\.path).filter { !FileManager.default.fileExists(atPath: $0) }
    }
}
