/// Everything that can go wrong between a camera frame and a face descriptor, each case
/// worded for the engineer at the kiosk who has to act on it.
///
/// ```swift
/// do { _ = try JPEGDecoder().decode(bytes) }
/// catch let error as FaceVerificationError { print(error.description) }
/// ```
public enum FaceVerificationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not a decodable image (corrupt, truncated or of an unsupported kind).
    case undecodableImage(reason: String)
    /// The image header announces more pixels than the decoder is allowed to allocate.
    case imageTooLarge(width: Int, height: Int, maxPixels: Int)
    /// A progressive JPEG with more scans than the decoder reads (see `JPEGDecoder.maxScans`).
    case tooManyScans(limit: Int)
    /// A model file is not where the models directory says it should be.
    case modelFileMissing(path: String)
    /// A model file exists but does not have the layout FaceLoop expects.
    case modelFileCorrupt(path: String, reason: String)
    /// Face alignment was given other than the five landmarks of the 5-point model.
    case invalidLandmarkCount(Int)
    /// An image handed to the descriptor network is not a 150×150 face chip.
    case invalidChipSize(width: Int, height: Int)
    /// The detector found no face (of about 80 px or larger) in the image.
    case noFaceFound
    /// A face descriptor does not have the length the comparison expects.
    case descriptorLengthMismatch(expected: Int, actual: Int)
    /// An adapter was built from a matrix or bias of the wrong size.
    case invalidAdapter(reason: String)

    /// The command that puts the model files in place.
    public static let modelSetUpCommand = "scripts/fetch-models.sh"

    public var description: String {
        switch self {
        case .undecodableImage(let reason):
            return "The image could not be decoded: \(reason)"
        case .imageTooLarge(let width, let height, let maxPixels):
            return "The image is \(width)×\(height) pixels, more than the limit of \(maxPixels) pixels."
        case .tooManyScans(let limit):
            return "The JPEG image has more than \(limit) scans; camera images have about ten, and decoding so many would take too long."
        case .modelFileMissing(let path):
            return "Model file \(path) is missing. Run \(Self.modelSetUpCommand) to download and verify the models."
        case .modelFileCorrupt(let path, let reason):
            return "Model file \(path) is corrupt (\(reason)). Run \(Self.modelSetUpCommand) to download and verify the models again."
        case .invalidLandmarkCount(let count):
            return "Face alignment needs the 5 landmarks of the 5-point model, not \(count)."
        case .invalidChipSize(let width, let height):
            return "A face chip must be 150×150 pixels, not \(width)×\(height)."
        case .noFaceFound:
            return "No face was found in the image (faces smaller than about 80 pixels are not detected)."
        case .descriptorLengthMismatch(let expected, let actual):
            return "A face descriptor has \(actual) values where \(expected) were expected."
        case .invalidAdapter(let reason):
            return "The embedding adapter is invalid: \(reason)"
        }
    }
}
