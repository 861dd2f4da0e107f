import CCaptureKernels
import Crypto
import FaceVerification
import FederationCore
import Foundation
import SeededRandom
import Testing

/// Each normalisation step against its reference implementation on the committed fixtures made
/// by scripts/fixtures/make-normalisation-fixtures.py: OpenCV's CLAHE, Pillow's UnsharpMask and
/// GaussianBlur, and the definition of white balance and exposure written in numpy.
///
/// Tolerance: every step must match exactly (max abs error 0). White balance, exposure and the
/// unsharp mask are integer or look-up-table arithmetic with the reference's own rounding; CLAHE
/// repeats OpenCV's single-precision blend in OpenCV's order of operations, so it can only
/// differ where a blended value falls within an ulp of a half and a compiler contracts OpenCV's
/// multiply-adds differently. That has not happened on these fixtures; should a regenerated
/// fixture show it, `claheTolerance` admits 1 grey level on at most 0.5 % of the pixels.
@Suite("CaptureNormalizationTests")
struct CaptureNormalizationTests {
    static let claheTolerance = (maxError: 0, maxFraction: 0.0)

    // MARK: Reference fixtures

    @Test("policies match the reference pixel for pixel", arguments: NormalisationReference.shared.cases.filter { $0.kind == "policy" })
    func policy(_ fixture: NormalisationReference.Case) throws {
        let policy = try #require(fixture.policy)
        let input = try NormalisationReference.shared.input(fixture.input)
        let output = try CaptureNormalization(policy: policy).apply(to: input)
        let expected = try NormalisationReference.shared.image(fixture.output)
        let stats = Self.compare(output.pixels, expected.pixels)
        #expect(output.width == expected.width && output.height == expected.height)
        #expect(stats.maxError == 0, "\(fixture.output): max error \(stats.maxError) on \(stats.differing) of \(expected.pixels.count) values")
        // Every fixture changes its input: a step that did nothing could not pass.
        #expect(output.pixels != input.pixels)
    }

    @Test("CLAHE on the luma plane matches OpenCV's", arguments: NormalisationReference.shared.cases.filter { $0.kind == "clahe_luma" })
    func clahe(_ fixture: NormalisationReference.Case) throws {
        let parameters = try #require(fixture.clahe)
        let input = try NormalisationReference.shared.input(fixture.input)
        let luma = ContrastLimitedEqualization.luma(of: input)
        let output = ContrastLimitedEqualization(parameters).apply(plane: luma, width: input.width, height: input.height)
        let expected = try NormalisationReference.shared.plane(fixture.output)
        let stats = Self.compare(output, expected)
        #expect(stats.maxError <= Self.claheTolerance.maxError,
                "\(fixture.output): max error \(stats.maxError) on \(stats.differing) of \(expected.count) pixels")
        #expect(Double(stats.differing) <= Self.claheTolerance.maxFraction * Double(expected.count))
        #expect(output != luma)
    }

    @Test("the Gaussian blur under the unsharp mask matches Pillow's GaussianBlur", arguments: NormalisationReference.shared.cases.filter { $0.kind == "gaussian_blur" })
    func gaussianBlur(_ fixture: NormalisationReference.Case) throws {
        let radius = try #require(fixture.radius)
        let input = try NormalisationReference.shared.input(fixture.input)
        let output = PillowUnsharpMask.gaussianBlur(input, radius: radius)
        let expected = try NormalisationReference.shared.image(fixture.output)
        let stats = Self.compare(output.pixels, expected.pixels)
        #expect(stats.maxError == 0, "\(fixture.output): max error \(stats.maxError) on \(stats.differing) values")
    }

    /// On an AVX2 machine the tests above exercise the AVX2 bodies; this holds the SSE2 bodies
    /// (what a kiosk without AVX2 runs) to the same references. The switch is process-wide, so
    /// tests running meanwhile may take the SSE2 bodies too, which they pass equally.
    @Test("the SSE2 bodies match the references too")
    func baselineBodies() throws {
        ck_force_baseline(1)
        defer { ck_force_baseline(0) }
        #expect(ck_uses_avx2() == 0)
        let reference = NormalisationReference.shared
        for fixture in reference.cases {
            let input = try reference.input(fixture.input)
            let output: [UInt8], expected: [UInt8]
            switch fixture.kind {
            case "policy":
                output = try CaptureNormalization(policy: try #require(fixture.policy)).apply(to: input).pixels
                expected = try reference.image(fixture.output).pixels
            case "clahe_luma":
                output = ContrastLimitedEqualization(try #require(fixture.clahe))
                    .apply(plane: ContrastLimitedEqualization.luma(of: input), width: input.width, height: input.height)
                expected = try reference.plane(fixture.output)
            case "gaussian_blur":
                output = PillowUnsharpMask.gaussianBlur(input, radius: try #require(fixture.radius)).pixels
                expected = try reference.image(fixture.output).pixels
            default:
                continue
            }
            let stats = Self.compare(output, expected)
            #expect(stats.maxError == 0, "\(fixture.output): max error \(stats.maxError) on \(stats.differing) values")
        }
    }

    /// The kernels divide by 100 without a division (16-bit multiply-high, see CaptureKernels.c);
    /// this holds that to Pillow's truncating division for every value and blurred value, every
    /// remainder percent % 100 and every whole part, at several thresholds.
    @Test("the vector unsharp combine equals Pillow's for every value, blurred value and percent")
    func sharpenArithmetic() {
        let values = (0..<65_536).map { UInt8($0 >> 8) }, blurred = (0..<65_536).map { UInt8($0 & 255) }
        var output = [UInt8](repeating: 0, count: 65_536)
        let percents = (0...1000).filter { $0 <= 200 || $0 % 7 == 0 || $0 >= 950 }
        var checked = 0, wrong = 0
        for (percent, threshold) in percents.map({ ($0, 0) }) + [(150, 3), (200, 1), (999, 254), (37, 255)] {
            ck_sharpen_row(values, blurred, &output, 65_536, Int32(percent), Int32(threshold))
            for index in 0..<65_536 {
                let value = Int(values[index]), difference = value - Int(blurred[index])
                let expected = abs(difference) > threshold ? min(max(value + difference * percent / 100, 0), 255) : value
                if Int(output[index]) != expected { wrong += 1 }
                checked += 1
            }
        }
        #expect(wrong == 0, "\(wrong) of \(checked) combines differ from Pillow's")
    }

    /// The fused sweep (tables and luma in one pass; CLAHE, shift and every box pass in another)
    /// must not depend on the frame's size, the vector width or the tail of a row: the SSE2 and
    /// AVX2 bodies agree, and each step alone composes to the whole policy.
    @Test("SSE2 and AVX2 bodies agree on random frames; the fused policy equals its steps in turn")
    func fusedSweep() throws {
        var random = SeededGenerator(seed: 14)
        for round in 0..<60 {
            let width = round < 2 ? 640 : 1 + Int(random.next() % 97), height = round < 2 ? 480 : 1 + Int(random.next() % 61)
            var smooth = Int(random.next() % 256)
            let pixels = (0..<3 * width * height).map { _ in
                smooth = min(max(smooth + Int(random.next() % 41) - 20, 0), 255)
                return UInt8(smooth)
            }
            let frame = RGBImage(width: width, height: height, pixels: pixels)
            let policy = NormalizationPolicy(
                whiteBalance: random.next() % 3 == 0 ? nil : .init(strength: Double(random.next() % 11) / 10),
                exposure: random.next() % 3 == 0 ? nil : .init(method: random.next() % 2 == 0 ? .gamma : .gain, targetMean: 0.3 + Double(random.next() % 40) / 100),
                clahe: random.next() % 4 == 0 ? nil : .init(tilesX: 1 + Int(random.next() % 9), tilesY: 1 + Int(random.next() % 9), clipLimit: 1 + Double(random.next() % 40) / 10),
                unsharpMask: random.next() % 4 == 0 ? nil : .init(radius: 0.5 + Double(random.next() % 60) / 10, percent: Int(random.next() % 1001), threshold: Int(random.next() % 6)))
            let normalization = try CaptureNormalization(policy: policy)
            let selected = normalization.apply(to: frame)
            ck_force_baseline(1)
            let baseline = normalization.apply(to: frame)
            ck_force_baseline(0)
            #expect(Self.compare(selected.pixels, baseline.pixels).maxError == 0, "SSE2 and AVX2 differ, \(width)×\(height) \(policy)")
            var stepwise = frame
            if policy.whiteBalance != nil || policy.exposure != nil {
                stepwise = try CaptureNormalization(policy: NormalizationPolicy(whiteBalance: policy.whiteBalance, exposure: policy.exposure)).apply(to: stepwise)
            }
            if let clahe = policy.clahe { ContrastLimitedEqualization(clahe).applyToLuma(of: &stepwise) }
            if let unsharp = policy.unsharpMask { stepwise = PillowUnsharpMask(unsharp).apply(to: stepwise) }
            #expect(Self.compare(selected.pixels, stepwise.pixels).maxError == 0, "fused and stepwise differ, \(width)×\(height) \(policy)")
        }
    }

    @Test("the fixture inputs decode to the pixels the reference saw")
    func inputs() throws {
        for entry in NormalisationReference.shared.inputs {
            let image = try NormalisationReference.shared.input(entry.name)
            #expect(SHA256.hash(data: image.pixels).map { String(format: "%02x", $0) }.joined() == entry.rgb_sha256, "\(entry.name)")
        }
    }

    // MARK: Behaviour

    @Test("the identity policy returns the frame untouched; white balance at strength 0 is the identity")
    func identity() throws {
        let input = try NormalisationReference.shared.input("cast")
        #expect(CaptureNormalization.identity.apply(to: input) == input)
        let zero = try CaptureNormalization(policy: NormalizationPolicy(whiteBalance: .init(strength: 0)))
        #expect(zero.isIdentity)
        #expect(zero.apply(to: input) == input)
        #expect(!NormalizationPolicy(clahe: .init(clipLimit: 2)).isIdentity)
    }

    @Test("the fused white balance and exposure pass equals the two steps one after the other")
    func fusedTables() throws {
        let input = try NormalisationReference.shared.input("cast")
        for method in NormalizationPolicy.Exposure.Method.allCases {
            let exposure = NormalizationPolicy.Exposure(method: method, targetMean: 0.5)
            let fused = try CaptureNormalization(policy: NormalizationPolicy(whiteBalance: .init(strength: 0.7), exposure: exposure)).apply(to: input)
            let sequential = CaptureNormalization.exposed(CaptureNormalization.whiteBalanced(input, strength: 0.7), exposure)
            #expect(fused == sequential)
            #expect(fused != CaptureNormalization.whiteBalanced(input, strength: 0.7))
        }
    }

    @Test("white balance moves the channel means together; exposure moves the mean luminance toward the target")
    func statistics() throws {
        let input = try NormalisationReference.shared.input("cast")
        func means(_ image: RGBImage) -> [Double] {
            (0..<3).map { c in Double(stride(from: c, to: image.pixels.count, by: 3).reduce(0) { $0 + Int(image.pixels[$1]) }) / Double(image.width * image.height) }
        }
        let before = means(input), after = means(CaptureNormalization.whiteBalanced(input, strength: 1))
        #expect((before.max()! - before.min()!) > 20)
        #expect((after.max()! - after.min()!) < 1.5)
        func luminance(_ image: RGBImage) -> Double {
            let m = means(image)
            return (0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2]) / 255
        }
        let gained = CaptureNormalization.exposed(input, .init(method: .gain, targetMean: 0.5))
        #expect(luminance(input) < 0.4)
        #expect(abs(luminance(gained) - 0.5) < 0.01)
        let gamma = CaptureNormalization.exposed(input, .init(method: .gamma, targetMean: 0.5))
        #expect(abs(luminance(gamma) - 0.5) < abs(luminance(input) - 0.5))
    }

    @Test("a black frame passes through white balance, exposure and sharpening unchanged; a frame too small for the CLAHE grid too")
    func degenerateFrames() throws {
        let black = RGBImage(width: 40, height: 30)
        let policy = NormalizationPolicy(whiteBalance: .init(strength: 1), exposure: .init(method: .gamma, targetMean: 0.45),
                                         unsharpMask: .init(radius: 3, percent: 200))
        #expect(try CaptureNormalization(policy: policy).apply(to: black) == black)
        // CLAHE lifts a flat frame, as OpenCV's does: the clipped excess of the one full bin is
        // spread over all 256, so grey level 0 maps to the first bin's share.
        let lifted = try CaptureNormalization(policy: NormalizationPolicy(clahe: .init(clipLimit: 2))).apply(to: black)
        #expect(Set(lifted.pixels).count == 1 && lifted.pixels[0] > 0)
        let small = try NormalisationReference.shared.input("sliver")
        let clahe = try CaptureNormalization(policy: NormalizationPolicy(clahe: .init(tilesX: 4, tilesY: 4, clipLimit: 2)))
        #expect(clahe.apply(to: small) == small)
        #expect(CaptureNormalization.identity.apply(to: RGBImage(width: 0, height: 0)) == RGBImage(width: 0, height: 0))
    }

    @Test("the pipeline applies its normalisation before detection")
    func pipeline() throws {
        var pipeline = try TestSupport.pipeline()
        let image = try TestSupport.decodedImage("obama_1_quarter.jpg")
        let plain = try pipeline.analyze(image: image)
        #expect(plain.timings.normalizeMilliseconds == 0)
        pipeline.normalization = try CaptureNormalization(policy: NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 200)))
        let sharpened = try pipeline.analyze(image: image)
        let expected = try TestSupport.pipeline().analyze(image: pipeline.normalization.apply(to: image))
        let descriptor = try #require(sharpened.primaryFace?.descriptor)
        #expect(descriptor == expected.primaryFace?.descriptor)
        #expect(descriptor != plain.primaryFace?.descriptor)
        #expect(sharpened.timings.normalizeMilliseconds > 0)
    }

    // MARK: Policy JSON

    @Test("policy JSON: snake_case keys in any order, absent steps off, canonical encoding")
    func policyJSON() throws {
        let json = #"{"unsharp_mask": {"threshold": 2, "percent": 150, "radius": 2.5}, "clahe": {"clip_limit": 2, "tiles_y": 6, "tiles_x": 8}, "white_balance": {"strength": 0.5}}"#
        let policy = try JSONDecoder().decode(NormalizationPolicy.self, from: Data(json.utf8))
        #expect(policy == NormalizationPolicy(whiteBalance: .init(strength: 0.5), clahe: .init(tilesX: 8, tilesY: 6, clipLimit: 2),
                                              unsharpMask: .init(radius: 2.5, percent: 150, threshold: 2)))
        #expect(policy.exposure == nil)
        #expect(policy.stepNames == ["white_balance", "clahe", "unsharp_mask"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let encoded = String(decoding: try encoder.encode(policy), as: UTF8.self)
        #expect(encoded == #"{"clahe":{"clip_limit":2,"tiles_x":8,"tiles_y":6},"unsharp_mask":{"percent":150,"radius":2.5,"threshold":2},"white_balance":{"strength":0.5}}"#)
        #expect(try JSONDecoder().decode(NormalizationPolicy.self, from: Data(encoded.utf8)) == policy)
        #expect(try JSONDecoder().decode(NormalizationPolicy.self, from: Data("{}".utf8)) == .identity)
    }

    @Test("policy JSON that cannot be applied is refused with the field at fault", arguments: [
        (#"{"sharpen": {"radius": 2}}"#, "sharpen"),
        (#"{"clahe": {"tiles_x": 8, "tiles_y": 8, "clip_limit": 2, "tile": 3}}"#, "clahe.tile"),
        (#"{"white_balance": null}"#, "white_balance"),
        (#"{"white_balance": {"strength": 1.5}}"#, "white_balance.strength"),
        (#"{"white_balance": {"strength": -0.1}}"#, "white_balance.strength"),
        (#"{"white_balance": {"strength": "1"}}"#, "white_balance.strength"),
        (#"{"white_balance": {}}"#, "white_balance.strength"),
        (#"{"exposure": {"method": "curves", "target_mean": 0.4}}"#, "exposure.method"),
        (#"{"exposure": {"method": "gain", "target_mean": 0}}"#, "exposure.target_mean"),
        (#"{"clahe": {"tiles_x": 0, "tiles_y": 8, "clip_limit": 2}}"#, "clahe.tiles_x"),
        (#"{"clahe": {"tiles_x": 8, "tiles_y": 17, "clip_limit": 2}}"#, "clahe.tiles_y"),
        (#"{"clahe": {"tiles_x": 8, "tiles_y": 8, "clip_limit": 0.5}}"#, "clahe.clip_limit"),
        (#"{"clahe": {"tiles_x": 8.5, "tiles_y": 8, "clip_limit": 2}}"#, "clahe.tiles_x"),
        (#"{"unsharp_mask": {"radius": 2, "percent": 1e300, "threshold": 0}}"#, "unsharp_mask.percent"),
        (#"{"unsharp_mask": {"radius": 2, "percent": 100}}"#, "unsharp_mask.threshold"),
        (#"{"unsharp_mask": {"radius": 0, "percent": 100, "threshold": 0}}"#, "unsharp_mask.radius"),
        (#"{"unsharp_mask": {"radius": 2, "percent": 2000, "threshold": 0}}"#, "unsharp_mask.percent"),
        (#"{"unsharp_mask": {"radius": 2, "percent": 100, "threshold": 256}}"#, "unsharp_mask.threshold"),
        (#"[]"#, ""),
    ])
    func invalidPolicy(json: String, field: String) {
        do {
            _ = try JSONDecoder().decode(NormalizationPolicy.self, from: Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch let error as NormalizationPolicyError {
            #expect(error.field == field, "\(json): \(error)")
        } catch {
            Issue.record("\(json): not a NormalizationPolicyError: \(error)")
        }
    }

    @Test("a policy built in code is validated too")
    func validatedInCode() {
        #expect(throws: NormalizationPolicyError(field: "unsharp_mask.radius", message: "must be a number from 0.1 to 20, not nan")) {
            try CaptureNormalization(policy: NormalizationPolicy(unsharpMask: .init(radius: .nan, percent: 100)))
        }
        #expect(throws: NormalizationPolicyError.self) {
            try CaptureNormalization(policy: NormalizationPolicy(exposure: .init(method: .gamma, targetMean: 1)))
        }
    }

    // MARK: Helpers

    static func compare(_ actual: [UInt8], _ expected: [UInt8]) -> (maxError: Int, differing: Int) {
        guard actual.count == expected.count else { return (Int.max, max(actual.count, expected.count)) }
        var maxError = 0, differing = 0
        for (a, b) in zip(actual, expected) where a != b {
            maxError = max(maxError, abs(Int(a) - Int(b)))
            differing += 1
        }
        return (maxError, differing)
    }
}

/// Fixtures/normalisation/reference.json and the images it names.
struct NormalisationReference: Decodable {
    struct Input: Decodable {
        var name: String
        var width: Int
        var height: Int
        var rgb_sha256: String
        var file: String?
        var crop_of: String?
        var left: Int?
        var top: Int?
    }

    struct Case: Decodable, CustomTestStringConvertible {
        var kind: String
        var input: String
        var output: String
        var policy: NormalizationPolicy?
        var clahe: NormalizationPolicy.CLAHE?
        var radius: Double?
        var testDescription: String { output }
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }

    var generator: String
    var inputs: [Input]
    var cases: [Case]

    static let directory = TestSupport.fixtures.appendingPathComponent("normalisation")

    static let shared: NormalisationReference = {
        let url = directory.appendingPathComponent("reference.json")
        do {
            return try JSONDecoder().decode(NormalisationReference.self, from: Data(contentsOf: url))
        } catch {
            fatalError("Cannot read \(url.path): \(error)")
        }
    }()

    func input(_ name: String) throws -> RGBImage {
        guard let entry = inputs.first(where: { $0.name == name }) else { throw FixtureError(description: "no input \(name)") }
        if let file = entry.file {
            return try JPEGDecoder().decode([UInt8](try Data(contentsOf: Self.directory.appendingPathComponent(file))))
        }
        guard let parent = entry.crop_of, let left = entry.left, let top = entry.top else {
            throw FixtureError(description: "input \(name) has neither a file nor a crop")
        }
        let source = try input(parent)
        var pixels: [UInt8] = []
        for y in top..<top + entry.height {
            pixels += source.pixels[3 * (y * source.width + left)..<3 * (y * source.width + left + entry.width)]
        }
        return RGBImage(width: entry.width, height: entry.height, pixels: pixels)
    }

    func image(_ file: String) throws -> RGBImage {
        let (width, height, channels, pixels) = try Self.readNetpbm(file)
        guard channels == 3 else { throw FixtureError(description: "\(file) is not RGB") }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    func plane(_ file: String) throws -> [UInt8] {
        let (_, _, channels, pixels) = try Self.readNetpbm(file)
        guard channels == 1 else { throw FixtureError(description: "\(file) is not grey") }
        return pixels
    }

    /// Binary PPM (P6) or PGM (P5) with a maximum of 255, as Pillow writes them.
    static func readNetpbm(_ file: String) throws -> (Int, Int, Int, [UInt8]) {
        let bytes = [UInt8](try Data(contentsOf: directory.appendingPathComponent(file)))
        var index = 0
        func token() throws -> String {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { index += 1 }
            let start = index
            while index < bytes.count, !(bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09) { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
        let magic = try token()
        guard let width = Int(try token()), let height = Int(try token()), try token() == "255" else {
            throw FixtureError(description: "\(file): unreadable header")
        }
        index += 1
        let channels = magic == "P6" ? 3 : magic == "P5" ? 1 : 0
        guard channels > 0, bytes.count - index == width * height * channels else {
            throw FixtureError(description: "\(file): not a binary PPM/PGM of the announced size")
        }
        return (width, height, channels, Array(bytes[index...]))
    }
}
