import FaceVerification
import Foundation
import TestSupport
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
        let analysis = try pipeline.analyze(image: grey)
        #expect(analysis.detections.isEmpty)
        #expect(analysis.primaryFace == nil)
    }

    @Test("randomly damaged JPEGs decode or fail with a typed error")
    func damagedJPEGs() throws {
        let original = try TestSupport.imageBytes("biden_1.jpg")
        // A fixed linear congruential sequence, so a failure reproduces.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<40 {
            var bytes = original
            for _ in 0..<(1 + next(8)) { bytes[next(min(bytes.count, 4096))] = UInt8(next(256)) }
            do {
                let image = try JPEGDecoder().decode(bytes)
                #expect(image.pixels.count == image.width * image.height * 3)
            } catch {
                #expect(error is FaceVerificationError)
            }
        }
    }

    @Test("tiny and degenerate frames give no detections", arguments: [(1, 1), (7, 3), (3, 90), (90, 4), (24, 24)])
    func tinyFrames(width: Int, height: Int) throws {
        let pipeline = try TestSupport.pipeline()
        let image = RGBImage(width: width, height: height, pixels: (0..<width * height * 3).map { UInt8($0 % 251) })
        let analysis = try pipeline.analyze(image: image)
        #expect(analysis.detections.isEmpty)
        #expect(analysis.primaryFace == nil)
    }

    @Test("landmarks outside the frame give a black chip, not a crash")
    func chipOutsideFrame() throws {
        let image = RGBImage(width: 50, height: 50, pixels: [UInt8](repeating: 200, count: 50 * 50 * 3))
        let far = [FacePoint(x: 9000, y: 9000), FacePoint(x: 8990, y: 9000), FacePoint(x: 8950, y: 9000),
                   FacePoint(x: 8960, y: 9000), FacePoint(x: 8975, y: 9030)]
        let chip = try FaceChipExtractor().chip(from: image, landmarks: far)
        #expect(chip.width == 150 && chip.height == 150)
        #expect(chip.pixels.allSatisfy { $0 == 0 })
        let collapsed = [FacePoint](repeating: FacePoint(x: 25, y: 25), count: 5)
        #expect(try FaceChipExtractor().chip(from: image, landmarks: collapsed).width == 150)
        #expect(throws: FaceVerificationError.invalidLandmarkCount(4)) {
            try FaceChipExtractor().chip(from: image, landmarks: Array(far.prefix(4)))
        }
    }

    @Test("the descriptor network refuses an image that is not a 150×150 chip")
    func wrongChipSize() throws {
        let network = try TestSupport.pipeline().descriptorNetwork
        #expect(throws: FaceVerificationError.invalidChipSize(width: 100, height: 150)) {
            try network.descriptor(of: RGBImage(width: 100, height: 150))
        }
    }

    @Test("a missing model file names itself and the set-up command")
    func missingModel() throws {
        let empty = URL(fileURLWithPath: temporaryPath("no-models"))
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
        let directory = URL(fileURLWithPath: try temporaryDirectory("corrupt"))
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
