import CBLAS
import Foundation

/// The whole face pipeline of a kiosk: JPEG decode → MMOD detection → 5-point landmarks →
/// aligned 150×150 chip → 128-D ResNet descriptor, reproducing dlib on its own model files.
///
/// ```swift
/// let pipeline = try FacePipeline(models: ModelDirectory(url: modelsURL))
/// let analysis = try pipeline.analyze(jpeg: bytes)
/// let descriptor = analysis.primaryFace?.descriptor
/// ```
public struct FacePipeline: Sendable {
    public let decoder: JPEGDecoder
    public let detector: FaceDetector
    public let shapePredictor: ShapePredictor
    public let chipExtractor: FaceChipExtractor
    public let descriptorNetwork: FaceDescriptorNetwork
    /// How many times the frame is doubled before detection (0: faces from ~80 px).
    public var upsample = 0
    /// When no face is found, scan once more with one more doubling (faces half as large),
    /// as dlib's reference pipeline does. Costs about four detections, only on such frames.
    public var upsamplesWhenNoFaceFound = true
    /// The capture normalisation applied to every frame before detection (identity: none); its
    /// `mirrorAverage` also makes the descriptor the mean of the chip's and its mirror's.
    public var normalization = CaptureNormalization.identity

    /// Loads the three model files; a missing or corrupt one is named in the error together
    /// with the set-up command.
    public init(models: ModelDirectory, decoder: JPEGDecoder = JPEGDecoder()) throws {
        self.decoder = decoder
        detector = try FaceDetector(contentsOf: models.detector)
        shapePredictor = try ShapePredictor(contentsOf: models.shapePredictor)
        descriptorNetwork = try FaceDescriptorNetwork(contentsOf: models.descriptorNetwork)
        chipExtractor = FaceChipExtractor()
    }

    /// The OpenBLAS kernel in use. "Prescott" on a modern Xeon means the slow generic
    /// fallback: start the process with OPENBLAS_CORETYPE set (for example SkylakeX).
    public static var blasCoreName: String {
        openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    public func analyze(jpeg bytes: [UInt8]) throws -> FaceAnalysis {
        var timings = StageTimings()
        let image = try measure(&timings.decodeMilliseconds) { try decoder.decode(bytes) }
        return try analyze(image: image, timings: timings)
    }

    public func analyze(image: RGBImage, timings: StageTimings = StageTimings()) throws -> FaceAnalysis {
        var timings = timings
        let image = normalization.policy.changesImage ? measure(&timings.normalizeMilliseconds) { normalization.apply(to: image) } : image
        var upsample = self.upsample
        var detections = measure(&timings.detectMilliseconds) { detector.detect(in: image, upsample: upsample) }
        if detections.isEmpty, upsamplesWhenNoFaceFound {
            upsample += 1
            detections = measure(&timings.detectMilliseconds) { detector.detect(in: image, upsample: upsample) }
        }
        var primary: FaceAnalysis.PrimaryFace?
        if let detection = Self.nearestToCenter(detections, width: image.width, height: image.height) {
            let landmarks = measure(&timings.landmarksMilliseconds) { shapePredictor.landmarks(in: image, box: detection.box) }
            let chip = try measure(&timings.chipMilliseconds) { try chipExtractor.chip(from: image, landmarks: landmarks) }
            let descriptor = try measure(&timings.descriptorMilliseconds) {
                try normalization.policy.mirrorAverage ? descriptorNetwork.mirrorAveragedDescriptor(of: chip) : descriptorNetwork.descriptor(of: chip)
            }
            primary = .init(detection: detection, landmarks: landmarks, descriptor: descriptor,
                            quality: CaptureQuality(box: detection.box, chip: chip))
        }
        return FaceAnalysis(imageWidth: image.width, imageHeight: image.height, detectionUpsample: upsample,
                            detections: detections, primaryFace: primary, timings: timings)
    }

    /// The detection whose box centre is nearest the frame centre (the person at the kiosk).
    static func nearestToCenter(_ detections: [FaceDetection], width: Int, height: Int) -> FaceDetection? {
        let center = (x: Double(width) / 2, y: Double(height) / 2)
        return detections.min { a, b in
            let da = (a.box.center.x - center.x) * (a.box.center.x - center.x) + (a.box.center.y - center.y) * (a.box.center.y - center.y)
            let db = (b.box.center.x - center.x) * (b.box.center.x - center.x) + (b.box.center.y - center.y) * (b.box.center.y - center.y)
            return da < db
        }
    }
}
