import FaceVerification
import Foundation
import Testing

/// Locates the package and the fixtures from this file's path, and the models from
/// `$FACELOOP_MODELS_DIR` or `models/` at the package root.
enum TestSupport {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let imagesDirectory = fixtures.appendingPathComponent("images")

    static let models = ModelDirectory.fromEnvironment(fallback: packageRoot.appendingPathComponent("models"))

    struct ModelsMissing: Error, CustomStringConvertible {
        var missing: [String]
        var description: String {
            "Model files missing: \(missing.joined(separator: ", ")). Run scripts/fetch-models.sh (or set \(ModelDirectory.environmentVariable))."
        }
    }

    struct UnknownFixture: Error {
        var file: String
    }

    /// The pipeline, loaded once for all tests; fails with the set-up command if models are missing.
    static func pipeline() throws -> FacePipeline {
        try loadedPipeline.get()
    }

    private static let loadedPipeline: Result<FacePipeline, any Error> = Result {
        let missing = models.missingFiles
        guard missing.isEmpty else { throw ModelsMissing(missing: missing) }
        return try FacePipeline(models: models)
    }

    /// The pipeline's analysis of every fixture image, computed once (detection dominates the
    /// test run time in debug builds).
    static func analysis(of file: String) throws -> FaceAnalysis {
        guard let result = try loadedAnalyses.get()[file] else {
            throw UnknownFixture(file: file)
        }
        return result
    }

    private static let loadedAnalyses: Result<[String: FaceAnalysis], any Error> = Result {
        let pipeline = try TestSupport.pipeline()
        var analyses: [String: FaceAnalysis] = [:]
        for reference in DlibReference.shared.images {
            analyses[reference.file] = try pipeline.analyze(jpeg: try imageBytes(reference.file))
        }
        return analyses
    }

    static func imageBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: imagesDirectory.appendingPathComponent(name)))
    }

    static func decodedImage(_ name: String) throws -> RGBImage {
        try JPEGDecoder().decode(try imageBytes(name))
    }

    /// The largest |a − b| over the elements; infinite when the counts differ, so a missing or
    /// extra element fails any tolerance.
    static func maxAbsoluteDifference(_ a: [Float], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
    }
}

/// dlib's reference numbers for the fixture images (made by scripts/fixtures/make-face-fixtures.py).
struct DlibReference: Decodable {
    struct Detection: Decodable {
        var left: Int
        var top: Int
        var right: Int
        var bottom: Int
        var confidence: Double
        var box: FaceBox { FaceBox(left: left, top: top, right: right, bottom: bottom) }
    }

    struct Face: Decodable {
        var box: [Int]
        var landmarks: [[Int]]
        var chip_sha256: String
        var chip_source_side: Double
        var chip_descriptor: [Double]
        var mirrored_chip_descriptor: [Double]
        var descriptor: [Double]

        var faceBox: FaceBox { FaceBox(left: box[0], top: box[1], right: box[2], bottom: box[3]) }
        var points: [FacePoint] { landmarks.map { FacePoint(x: $0[0], y: $0[1]) } }
    }

    struct Image: Decodable, CustomTestStringConvertible {
        var file: String
        var width: Int
        var height: Int
        /// SHA-256 of Pillow's decoded RGB pixels.
        var rgb_sha256: String
        var detections: [Detection]
        /// dlib's detections with the frame doubled once (recorded for small images only).
        var detections_upsample1: [Detection]?
        var face: Face
        var testDescription: String { file }
    }

    var generator: String
    var images: [Image]

    static let shared: DlibReference = {
        let url = TestSupport.fixtures.appendingPathComponent("dlib-reference.json")
        do {
            return try JSONDecoder().decode(DlibReference.self, from: Data(contentsOf: url))
        } catch {
            fatalError("Cannot read \(url.path): \(error)")
        }
    }()
}
