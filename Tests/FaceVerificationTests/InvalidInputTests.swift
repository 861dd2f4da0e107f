import FaceVerification
import Foundation
import Testing

/// Bad images and bad model files end in a typed error, never a crash.
@Suite("Invalid input")
struct InvalidInputTests {
    private func decodeError(_ bytes: [UInt8], maxPixels: Int = JPEGDecoder.defaultMaxPixels) -> FaceVerificationError? {
        do {
            _ = try JPEGDecoder(maxPixels: maxPixels).decode(bytes)
            return nil
        } catch {
            return error as? FaceVerificationError
        }
    }

    @Test("a truncated JPEG is refused")
    func truncatedJPEG() throws {
        let bytes = try TestSupport.imageBytes("obama_1.jpg")
        let error = decodeError(Array(bytes.prefix(bytes.count / 2)))
        guard case .undecodableImage = error else {
            Issue.record("expected undecodableImage, got \(String(describing: error))")
            return
        }
    }

    @Test("garbage, empty and non-JPEG bytes are refused", arguments: [
        [],
        [0xFF, 0xD8],
        Array("definitely not an image".utf8),
        [0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 0x5A, count: 4096),
    ] as [[UInt8]])
    func garbage(bytes: [UInt8]) {
        guard case .undecodableImage = decodeError(bytes) else {
            Issue.record("garbage of \(bytes.count) bytes was not refused as undecodable")
            return
        }
    }

    @Test("a header announcing a huge image is refused before decoding")
    func hugeDimensions() throws {
        var bytes = try TestSupport.imageBytes("obama_1.jpg")
        // Walk the marker segments to the frame header (an EXIF thumbnail has its own) and
        // claim 60000×60000 pixels there.
        var markerIndex = 2
        while bytes[markerIndex + 1] != 0xC0, bytes[markerIndex + 1] != 0xC2 {
            markerIndex += 2 + Int(bytes[markerIndex + 2]) << 8 + Int(bytes[markerIndex + 3])
            try #require(markerIndex + 9 < bytes.count)
        }
        bytes.replaceSubrange(markerIndex + 5..<markerIndex + 9, with: [0xEA, 0x60, 0xEA, 0x60])
        #expect(decodeError(bytes) == .imageTooLarge(width: 60000, height: 60000, maxPixels: JPEGDecoder.defaultMaxPixels))
    }

    @Test("the pixel limit applies to ordinary images too")
    func pixelLimit() throws {
        let bytes = try TestSupport.imageBytes("obama_1.jpg")
        #expect(decodeError(bytes, maxPixels: 1_000_000) == .imageTooLarge(width: 910, height: 1137, maxPixels: 1_000_000))
    }

    @Test("the pipeline passes decode errors on")
    func pipelineRefusesGarbage() throws {
        let pipeline = try TestSupport.pipeline()
        #expect(throws: FaceVerificationError.self) { try pipeline.analyze(jpeg: Array("garbage".utf8)) }
    }

    @Test("an image without a face has no primary face")
    func noFace() throws {
        let pipeline = try TestSupport.pipeline()
        let grey = RGBImage(width: 200, height: 160, pixels: [UInt8](repeating: 128, count: 200 * 160 * 3))
        let analysis = pipeline.analyze(image: grey)
        #expect(analysis.detections.isEmpty)
        #expect(analysis.primaryFace == nil)
    }

    @Test("a missing model file names itself and the set-up command")
    func missingModel() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("faceloop-no-models-\(UUID().uuidString)")
        do {
            _ = try FacePipeline(models: ModelDirectory(url: empty))
            Issue.record("loading from an empty directory succeeded")
        } catch let error as FaceVerificationError {
            #expect(error == .modelFileMissing(path: empty.appendingPathComponent(FaceDetector.fileName).path))
            #expect(error.description.contains("scripts/fetch-models.sh"))
            #expect(error.description.contains(FaceDetector.fileName))
        }
    }

    enum ModelKind: String, CaseIterable, Sendable {
        case detector, shapePredictor, descriptorNetwork
    }

    @Test("truncated and altered model files are reported as corrupt", arguments: ModelKind.allCases)
    func corruptModel(kind: ModelKind) throws {
        _ = try TestSupport.pipeline() // fails with the set-up hint when the models are missing
        let source: URL
        let load: @Sendable (URL) throws -> Void
        switch kind {
        case .detector:
            source = TestSupport.models.detector
            load = { _ = try FaceDetector(contentsOf: $0) }
        case .shapePredictor:
            source = TestSupport.models.shapePredictor
            load = { _ = try ShapePredictor(contentsOf: $0) }
        case .descriptorNetwork:
            source = TestSupport.models.descriptorNetwork
            load = { _ = try FaceDescriptorNetwork(contentsOf: $0) }
        }
        let original = try Data(contentsOf: source)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faceloop-corrupt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let target = directory.appendingPathComponent(source.lastPathComponent)

        var altered = original
        altered[altered.startIndex + 3] ^= 0xFF
        for variant in [original.prefix(original.count / 3), original.prefix(20), altered, original + Data([1, 2, 3])] {
            try variant.write(to: target)
            do {
                try load(target)
                Issue.record("a corrupt \(kind) file of \(variant.count) bytes loaded")
            } catch let error as FaceVerificationError {
                guard case .modelFileCorrupt(let path, _) = error else {
                    Issue.record("expected modelFileCorrupt, got \(error)")
                    continue
                }
                #expect(path == target.path)
                #expect(error.description.contains("scripts/fetch-models.sh"))
            }
        }
    }
}
