import Foundation
import Testing

/// Reads a JSON fixture written by `scripts/fixtures/generate_federation_fixtures.py`.
func loadFixture<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
    let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
        .appendingPathComponent(name)
    return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
}

struct AggregationFixture: Decodable {
    struct Case: Decodable {
        struct KrumCase: Decodable {
            var assumedByzantine: Int
            var keep: Int?
            var result: [Float]
        }
        var name: String
        var updates: [[Float]]
        var exampleCounts: [Int]
        var fedavg: [Float]
        var median: [Float]
        var trimmedMean: [String: [Float]]
        var krum: KrumCase
        var multiKrum: KrumCase
    }
    var cases: [Case]
}

struct ServerOptimizerFixture: Decodable {
    struct Adam: Decodable { var eta, etaL, beta1, beta2, tau: Double }
    struct Momentum: Decodable { var serverLearningRate, serverMomentum: Double }
    struct Round: Decodable {
        var round: Int
        var deltas: [[Float]]
        var fedAdamGlobal: [Float]
        var fedAvgMGlobal: [Float]
    }
    var initial: [Float]
    var exampleCounts: [Int]
    var fedAdam: Adam
    var fedAvgM: Momentum
    var rounds: [Round]
}

struct AccountingFixture: Decodable {
    struct Case: Decodable {
        var noiseMultiplier: Double
        var samplingRate: Double
        var rounds: Int
        var delta: Double
        var rdpEpsilon: Double
        var rdpOptimalOrder: Double
        var pldEpsilon: Double
    }
    struct SingleStep: Decodable {
        var orders: [Double]
        var noiseMultiplier: Double
        var samplingRate: Double
        var rdp: [Double]
    }
    var cases: [Case]
    var singleStepRDP: SingleStep
}

/// Element by element |a − b| ≤ absolute + relative·|b|, as numpy's `allclose(a, b, rtol, atol)`,
/// with `b` the reference. The fixtures' values lie within ±1.6 and are float32 in both
/// implementations: away from zero the two differ by float32 rounding, a relative error, and
/// near zero, where a mean or a difference cancels, by rounding at the scale of the inputs
/// (about 1), an absolute error; so each term covers one case. Measured over every comparison
/// of the fixtures (the `allClose:` lines this prints; docs/federation.md): at most 6.4e-7
/// relative where |b| > 0.01, at most 5.6e-9 absolute where |b| ≤ 0.01, and at most 0.36 of the
/// bound used by any element (FedAdam, round 3): a margin of 2.7×. One float32 step at 1 is
/// 1.2e-7, so the bound is about one step near zero and eight steps relative.
func allClose(_ a: [Float], _ b: [Float], relative: Float = 1e-6, absolute: Float = 1e-7,
              sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    guard a.count == b.count else { return false }
    let differences = zip(a, b).map { (difference: Double(abs($0 - $1)), reference: Double(abs($1))) }
    let shareOfBound = differences.map { $0.difference / (Double(absolute) + Double(relative) * $0.reference) }.max() ?? 0
    let largestRelative = differences.filter { $0.reference > 0.01 }.map { $0.difference / $0.reference }.max() ?? 0
    let largestNearZero = differences.filter { $0.reference <= 0.01 }.map(\.difference).max() ?? 0
    print("allClose: \(sourceLocation.fileID):\(sourceLocation.line) share of the bound \(shareOfBound.formatted(.number.precision(.significantDigits(2)))), "
          + "relative where |b| > 0.01 \(largestRelative.formatted(.number.notation(.scientific).precision(.significantDigits(2)))), "
          + "absolute where |b| ≤ 0.01 \(largestNearZero.formatted(.number.notation(.scientific).precision(.significantDigits(2))))")
    return shareOfBound <= 1
}
