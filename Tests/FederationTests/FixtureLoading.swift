import Foundation

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

/// |a − b| ≤ tolerance·max(1, |b|) for every element.
func allClose(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
}
