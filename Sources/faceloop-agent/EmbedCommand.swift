import ArgumentParser
import FaceVerification

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

    @Argument(help: "JPEG images.")
    var images: [String]

    func run() async throws {
        let pipeline = try models.loadPipeline()
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
        print("  timings: decode \(formatMilliseconds(t.decodeMilliseconds)), detect \(formatMilliseconds(t.detectMilliseconds)), "
            + "landmarks \(formatMilliseconds(t.landmarksMilliseconds)), chip \(formatMilliseconds(t.chipMilliseconds)), "
            + "descriptor \(formatMilliseconds(t.descriptorMilliseconds))")
    }
}
