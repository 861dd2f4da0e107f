import ArgumentParser
import FaceVerification
import FederationCore
import Foundation
import StrictJSON

/// `faceloop-agent embed IMAGE…`: detection boxes, landmarks, descriptor and stage timings.
struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Detect faces and compute the descriptor of the face nearest each image's centre."
    )

    struct ImageReport: Encodable {
        var file: String
        var analysis: FaceAnalysis?
        var error: String?
    }

    @OptionGroup var models: ModelOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(name: .customLong("normalisation"), help: ArgumentHelp(
        "Apply this capture-normalisation policy (JSON: white_balance, exposure, clahe, unsharp_mask, mirror_average) to each image.",
        valueName: "policy.json"))
    var normalisation: String?

    @Argument(help: "JPEG images.")
    var images: [String]

    func run() async throws {
        // The policy is read before the models load, so a bad file fails fast and alone.
        let normalization = try normalisation.map(Self.loadPolicy) ?? .identity
        var pipeline = try models.loadPipeline()
        pipeline.normalization = normalization
        if normalisation != nil {
            let steps = normalization.policy.stepNames
            FileHandle.standardError.write(Data("faceloop-agent: normalisation before detection: \(steps.isEmpty ? "none (identity policy)" : steps.joined(separator: " → "))\n".utf8))
        }
        var reports: [ImageReport] = []
        for path in images {
            do {
                reports.append(ImageReport(file: path, analysis: try pipeline.analyze(jpeg: try readImageFile(path))))
            } catch {
                reports.append(ImageReport(file: path, error: "\(error)"))
            }
        }
        if json {
            try printJSON(reports)
        } else {
            reports.forEach(printText)
        }
        if reports.contains(where: { $0.error != nil }) { throw ExitCode.failure }
    }

    /// A policy file that is not strict JSON, or whose policy does not validate, is refused
    /// with one plain line naming the file and the field.
    static func loadPolicy(_ path: String) throws -> CaptureNormalization {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw PolicyFileError(message: "Cannot read the normalisation policy \(path).")
        }
        do {
            _ = try JSONValue.parse([UInt8](bytes))
            return try CaptureNormalization(policy: JSONDecoder().decode(NormalizationPolicy.self, from: bytes))
        } catch let error as JSONSyntaxError {
            throw PolicyFileError(message: "The normalisation policy \(path) is not valid JSON: \(error.description)")
        } catch let error as NormalizationPolicyError {
            throw PolicyFileError(message: "\(error.description) (in \(path))")
        } catch {
            throw PolicyFileError(message: "The normalisation policy \(path) could not be read: \(error)")
        }
    }

    struct PolicyFileError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    private func printText(_ report: ImageReport) {
        print(report.file)
        guard let analysis = report.analysis else {
            print("  error: \(report.error ?? "unknown")")
            return
        }
        print("  size \(analysis.imageWidth)×\(analysis.imageHeight), \(analysis.detections.count) face(s)")
        for detection in analysis.detections {
            let box = detection.box
            print("  box (\(box.left), \(box.top))–(\(box.right), \(box.bottom)) confidence \(detection.confidence)")
        }
        if let face = analysis.primaryFace {
            print("  landmarks " + face.landmarks.map { "(\($0.x), \($0.y))" }.joined(separator: " "))
            print("  quality: face \(face.quality.faceSizePixels) px, sharpness \(face.quality.sharpness), brightness \(face.quality.brightness)")
            print("  descriptor " + face.descriptor.map { "\($0)" }.joined(separator: ","))
        }
        let t = analysis.timings
        print("  timings: decode \(formatMilliseconds(t.decodeMilliseconds)), normalise \(formatMilliseconds(t.normalizeMilliseconds)), detect \(formatMilliseconds(t.detectMilliseconds)), "
            + "landmarks \(formatMilliseconds(t.landmarksMilliseconds)), chip \(formatMilliseconds(t.chipMilliseconds)), "
            + "descriptor \(formatMilliseconds(t.descriptorMilliseconds))")
    }
}
