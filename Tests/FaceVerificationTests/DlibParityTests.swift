import Crypto
import FaceVerification
import Foundation
import Testing

/// The Swift pipeline against dlib's own outputs on the public-domain fixture photos.
@Suite("Parity with dlib")
struct DlibParityTests {
    static let images = DlibReference.shared.images

    @Test("JPEG decode gives Pillow's pixels exactly", arguments: images)
    func decodedPixels(reference: DlibReference.Image) throws {
        let image = try TestSupport.decodedImage(reference.file)
        #expect(image.width == reference.width)
        #expect(image.height == reference.height)
        #expect(SHA256.hash(data: image.pixels).map { String(format: "%02x", $0) }.joined() == reference.rgb_sha256)
    }

    @Test("detector boxes are identical and scores within 1e-4", arguments: images)
    func detections(reference: DlibReference.Image) throws {
        let found = try TestSupport.analysis(of: reference.file).detections
        #expect(found.map(\.box) == reference.detections.map(\.box))
        for (detection, expected) in zip(found, reference.detections) {
            #expect(abs(Double(detection.confidence) - expected.confidence) <= 1e-4)
        }
    }

    @Test("detections with the frame doubled first match dlib's upsample 1",
          arguments: images.filter { $0.detections_upsample1 != nil })
    func upsampledDetections(reference: DlibReference.Image) throws {
        let expected = try #require(reference.detections_upsample1)
        let pipeline = try TestSupport.pipeline()
        let found = pipeline.detector.detect(in: try TestSupport.decodedImage(reference.file), upsample: 1)
        #expect(found.map(\.box) == expected.map(\.box))
        for (detection, expected) in zip(found, expected) {
            #expect(abs(Double(detection.confidence) - expected.confidence) <= 1e-4)
        }
    }

    @Test("the fixtures exercise upsampled detection")
    func upsamplingCovered() {
        #expect(Self.images.contains { !($0.detections_upsample1 ?? []).isEmpty })
    }

    @Test("landmarks from dlib's box are identical", arguments: images)
    func landmarks(reference: DlibReference.Image) throws {
        let pipeline = try TestSupport.pipeline()
        let image = try TestSupport.decodedImage(reference.file)
        #expect(pipeline.shapePredictor.landmarks(in: image, box: reference.face.faceBox) == reference.face.points)
    }

    @Test("face chip from dlib's landmarks is bit-identical", arguments: images)
    func chip(reference: DlibReference.Image) throws {
        let image = try TestSupport.decodedImage(reference.file)
        let extractor = FaceChipExtractor()
        let chip = try extractor.chip(from: image, landmarks: reference.face.points)
        #expect(abs(try extractor.sourceSide(for: reference.face.points) - reference.face.chip_source_side) < 1e-6)
        let digest = SHA256.hash(data: chip.pixels).map { String(format: "%02x", $0) }.joined()
        #expect(digest == reference.face.chip_sha256)
    }

    @Test("the fixtures exercise both chip paths (direct and 2:1 pyramid)")
    func chipPathsCovered() {
        let sides = Self.images.map(\.face.chip_source_side)
        #expect(sides.contains { $0 <= 300 })
        #expect(sides.contains { $0 > 300 })
    }

    @Test("descriptor of dlib's chip is within 1e-4", arguments: images)
    func chipDescriptor(reference: DlibReference.Image) throws {
        let pipeline = try TestSupport.pipeline()
        let chip = try FaceChipExtractor().chip(from: try TestSupport.decodedImage(reference.file), landmarks: reference.face.points)
        let descriptor = try pipeline.descriptorNetwork.descriptor(of: chip)
        #expect(descriptor.count == 128)
        #expect(TestSupport.maxAbsoluteDifference(descriptor, reference.face.chip_descriptor) <= 1e-4)
    }

    @Test("full pipeline JPEG → descriptor is within 1e-4", arguments: images)
    func fullPipeline(reference: DlibReference.Image) throws {
        let analysis = try TestSupport.analysis(of: reference.file)
        let face = try #require(analysis.primaryFace)
        #expect(face.detection.box == reference.face.faceBox)
        #expect(face.landmarks == reference.face.points)
        #expect(TestSupport.maxAbsoluteDifference(face.descriptor, reference.face.descriptor) <= 1e-4)
        #expect(face.quality.faceSizePixels == min(reference.face.faceBox.width, reference.face.faceBox.height))
    }

    @Test("same person is closer than different people")
    func identities() throws {
        var descriptors: [String: [Float]] = [:]
        for reference in Self.images {
            descriptors[reference.file] = try #require(try TestSupport.analysis(of: reference.file).primaryFace).descriptor
        }
        let obama = try #require(descriptors["obama_1.jpg"]), obama2 = try #require(descriptors["obama_2.jpg"])
        let biden = try #require(descriptors["biden_1.jpg"])
        #expect(euclideanDistance(obama, obama2) < 0.6)
        #expect(euclideanDistance(obama, biden) > 0.6)
    }
}
