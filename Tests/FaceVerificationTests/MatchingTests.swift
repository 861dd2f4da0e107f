import FaceVerification
import Foundation
import Testing

@Suite("Matching, adapter and error rates")
struct MatchingTests {
    @Test("cosine similarity and Euclidean distance of known vectors")
    func metrics() throws {
        #expect(abs(cosineSimilarity([1, 0], [0, 1])) < 1e-12)
        #expect(abs(cosineSimilarity([1, 2], [2, 4]) - 1) < 1e-12)
        #expect(abs(cosineSimilarity([1, 0], [-1, 0]) + 1) < 1e-12)
        #expect(cosineSimilarity([0, 0], [1, 1]) == 0)
        #expect(abs(euclideanDistance([0, 0], [3, 4]) - 5) < 1e-12)
        #expect(throws: FaceVerificationError.descriptorLengthMismatch(expected: 2, actual: 3)) {
            try ComparisonMetric.cosineSimilarity.score([1, 0], [1, 0, 0])
        }
    }

    @Test("decisions follow each metric's direction")
    func decisions() {
        #expect(ComparisonMetric.cosineSimilarity.isMatch(score: 0.95, threshold: 0.925))
        #expect(!ComparisonMetric.cosineSimilarity.isMatch(score: 0.9, threshold: 0.925))
        #expect(ComparisonMetric.euclideanDistance.isMatch(score: 0.5, threshold: 0.6))
        #expect(!ComparisonMetric.euclideanDistance.isMatch(score: 0.7, threshold: 0.6))
    }

    @Test("the identity adapter leaves descriptors unchanged; a real one maps them")
    func adapter() throws {
        let descriptor = (0..<128).map { Float($0) - 64 }
        #expect(try EmbeddingAdapter.identity.apply(to: descriptor) == descriptor)
        var weights = [Float](repeating: 0, count: 128 * 128)
        for row in 0..<128 { weights[row * 128 + (127 - row)] = 2 } // reverse and double
        let bias = [Float](repeating: 1, count: 128)
        let adapter = try EmbeddingAdapter(weights: weights, bias: bias)
        #expect(try adapter.apply(to: descriptor) == descriptor.reversed().map { 2 * $0 + 1 })
        #expect(throws: FaceVerificationError.self) { try EmbeddingAdapter(weights: [1, 0, 0]) }
        #expect(throws: FaceVerificationError.self) { try EmbeddingAdapter(weights: weights, bias: [1]) }
        #expect(throws: FaceVerificationError.self) { try EmbeddingAdapter(weights: weights.map { _ in .nan }) }
        #expect(throws: FaceVerificationError.descriptorLengthMismatch(expected: 128, actual: 2)) { try adapter.apply(to: [1, 2]) }
        // JSON round trip keeps the adapter; a malformed one is refused on decoding.
        #expect(try JSONDecoder().decode(EmbeddingAdapter.self, from: JSONEncoder().encode(adapter)) == adapter)
        let malformed = Data(#"{"dimension": 128, "weights": [1, 2, 3]}"#.utf8)
        #expect(throws: FaceVerificationError.self) { try JSONDecoder().decode(EmbeddingAdapter.self, from: malformed) }
    }

    @Test("the verifier applies the adapter before comparing")
    func verifierUsesAdapter() throws {
        let a: [Float] = [1] + [Float](repeating: 0, count: 127)
        let b: [Float] = [0, 1] + [Float](repeating: 0, count: 126)
        let plain = try FaceVerifier(metric: .cosineSimilarity).verify(reference: a, probe: b, probeQuality: nil)
        #expect(plain.decision == .nonMatch)
        #expect(abs(plain.score) < 1e-12)
        // An adapter that projects everything onto the first axis makes them identical.
        var weights = [Float](repeating: 0, count: 128 * 128)
        weights[0] = 1
        weights[1] = 1
        let adapted = try FaceVerifier(metric: .cosineSimilarity, adapter: EmbeddingAdapter(weights: weights))
            .verify(reference: a, probe: b, probeQuality: nil)
        #expect(adapted.decision == .match)
        #expect(abs(adapted.score - 1) < 1e-12)
        #expect(adapted.threshold == ComparisonMetric.cosineSimilarity.defaultThreshold)
    }

    @Test("the verification result encodes the fields an outcome record needs")
    func resultEncoding() throws {
        let result = VerificationResult(score: 0.5, metric: .euclideanDistance, threshold: 0.6, decision: .match,
                                        probeQuality: CaptureQuality(faceSizePixels: 120, sharpness: 30, brightness: 0.5),
                                        modelVersion: "m1")
        let object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as? [String: Any])
        #expect(object["decision"] as? String == "match")
        #expect(object["metric"] as? String == "euclidean-distance")
        #expect(Set(object.keys) == ["score", "metric", "threshold", "decision", "probeQuality", "modelVersion"])
        #expect(try JSONDecoder().decode(VerificationResult.self, from: JSONEncoder().encode(result)) == result)
    }

    @Test("error rates at thresholds, EER and FNMR at a target FMR")
    func errorRates() throws {
        // 4 genuine, 10 impostor similarities.
        let genuine = [0.9, 0.8, 0.7, 0.3]
        let impostor = [0.1, 0.2, 0.2, 0.3, 0.4, 0.5, 0.5, 0.6, 0.75, 0.05]
        let rates = try VerificationErrorRates(genuine: genuine, impostor: impostor)
        let atHalf = rates.operatingPoint(threshold: 0.5)
        #expect(atHalf.falseMatchRate == 0.4) // 0.5, 0.5, 0.6, 0.75 accepted
        #expect(atHalf.falseNonMatchRate == 0.25) // 0.3 rejected
        // FMR ≤ 0.1 allows one impostor (0.75): threshold just above 0.6, FNMR 1/4.
        let atTenth = rates.falseNonMatchRate(atFalseMatchRate: 0.1)
        #expect(atTenth.falseMatchRate == 0.1)
        #expect(atTenth.falseNonMatchRate == 0.25)
        #expect(atTenth.threshold > 0.6 && atTenth.threshold < 0.61)
        // FMR 0: threshold above every impostor, only 0.9 and 0.8 accepted.
        #expect(rates.falseNonMatchRate(atFalseMatchRate: 0).falseNonMatchRate == 0.5)
        // Crossing exactly at 0.65: one of four impostors accepted, one of four genuine rejected.
        let crossing = try VerificationErrorRates(genuine: [0.6, 0.7, 0.8, 0.9], impostor: [0.1, 0.2, 0.3, 0.65]).equalErrorRate
        #expect(crossing.threshold == 0.65)
        #expect(crossing.falseMatchRate == 0.25)
        #expect(crossing.falseNonMatchRate == 0.25)
        #expect(throws: VerificationErrorRates.EmptyScoreSet.self) { try VerificationErrorRates(genuine: [], impostor: [1]) }
    }

    @Test("pair scores split genuine from impostor pairs")
    func pairScores() throws {
        func padded(_ head: [Float]) -> [Float] { head + [Float](repeating: 0, count: 128 - head.count) }
        let set = LabelledDescriptors(entries: [("a", padded([1, 0])), ("a", padded([1, 0.1])), ("b", padded([0, 1]))])
        let scores = try set.pairScores(metric: .euclideanDistance)
        #expect(scores.genuine.count == 1)
        #expect(scores.impostor.count == 2)
        #expect(abs(scores.genuine[0] + 0.1) < 1e-6) // distances become negated similarities
    }

    @Test("capture quality of flat and structured chips")
    func quality() {
        let flat = RGBImage(width: 150, height: 150, pixels: [UInt8](repeating: 51, count: 150 * 150 * 3))
        let flatQuality = CaptureQuality(box: FaceBox(left: 0, top: 0, right: 99, bottom: 119), chip: flat)
        #expect(flatQuality.faceSizePixels == 100)
        #expect(flatQuality.sharpness == 0)
        #expect(abs(flatQuality.brightness - 0.2) < 1e-9)
        let stripes = RGBImage(width: 150, height: 150, pixels: (0..<150 * 150 * 3).map { ($0 / 3) % 2 == 0 ? 0 : 255 })
        #expect(CaptureQuality(box: FaceBox(left: 0, top: 0, right: 9, bottom: 9), chip: stripes).sharpness > 1000)
    }
}
