import SeededRandom
import Testing
@testable import Calibration

/// The unsorted-input paths sort only a few buckets; they must agree bit for bit with the
/// fully sorted paths (themselves pinned against bob.measure).
@Suite("Selective sorting gives the same thresholds as full sorting")
struct SelectiveThresholdTests {
    struct Shape: Sendable, CustomTestStringConvertible {
        var name: String
        var impostors: Int
        var genuine: Int
        var impostorMean: Double
        var genuineMean: Double
        var decimals: Int?
        var testDescription: String { name }
    }

    static let shapes = [
        Shape(name: "separated", impostors: 60_000, genuine: 6_000, impostorMean: 0, genuineMean: 0.6, decimals: nil),
        Shape(name: "overlapping", impostors: 50_000, genuine: 50_000, impostorMean: 0.2, genuineMean: 0.3, decimals: nil),
        Shape(name: "two decimals", impostors: 40_000, genuine: 4_000, impostorMean: 0, genuineMean: 0.5, decimals: 2),
        Shape(name: "one decimal", impostors: 30_000, genuine: 3_000, impostorMean: 0, genuineMean: 0.4, decimals: 1),
        Shape(name: "inverted", impostors: 20_000, genuine: 20_000, impostorMean: 0.6, genuineMean: 0, decimals: 3),
        Shape(name: "tiny", impostors: 5, genuine: 3, impostorMean: 0, genuineMean: 0.5, decimals: nil),
        Shape(name: "around zero", impostors: 30_000, genuine: 30_000, impostorMean: -0.01, genuineMean: 0.01, decimals: 4),
    ]

    @Test("farThresholds and eerThreshold on [Double] equal the sorted versions", arguments: shapes)
    func sameAsSorted(_ shape: Shape) throws {
        for seed in UInt64(1)...4 {
            var random = SeededGenerator(seed: seed * 1_000 + UInt64(shape.impostors))
            let impostors = random.scores(shape.impostors, mean: shape.impostorMean, deviation: 0.1, decimals: shape.decimals)
            let genuine = random.scores(shape.genuine, mean: shape.genuineMean, deviation: 0.1, decimals: shape.decimals)
            let sortedImpostors = try SortedScores(impostors)
            let sortedGenuine = try SortedScores(genuine)
            let targets = [1, 0.5, 0.1, 1e-2, 1e-3, 1e-4, 1e-6, 0]
            let selective = try ErrorRates.farThresholds(impostors: impostors, targets: targets)
            let full = try targets.map { try ErrorRates.farThreshold(impostors: sortedImpostors, target: $0) }
            #expect(selective.map(\.bitPattern) == full.map(\.bitPattern), "seed \(seed)")
            let eer = try ErrorRates.eerThreshold(impostors: impostors, genuine: genuine)
            let eerFull = try ErrorRates.eerThreshold(impostors: sortedImpostors, genuine: sortedGenuine)
            #expect(eer.bitPattern == eerFull.bitPattern, "seed \(seed): \(eer) vs \(eerFull)")
        }
    }

    @Test("the EER window is used on large, well-behaved sets (not only the fallback)")
    func windowIsUsed() throws {
        var random = SeededGenerator(seed: 99)
        let impostors = random.scores(100_000, mean: 0, deviation: 0.1)
        let genuine = random.scores(10_000, mean: 0.6, deviation: 0.1)
        let window = try #require(EqualErrorWindow(impostors: impostors, genuine: genuine))
        let threshold = try #require(window.threshold())
        #expect(threshold == (try ErrorRates.eerThreshold(impostors: SortedScores(impostors), genuine: SortedScores(genuine))))
    }

    @Test("bob fixtures through the unsorted paths", arguments: Fixtures.bob.cases)
    func fixtures(_ fixture: BobFixtures.Case) throws {
        if case .value(let bob) = fixture.eer_threshold {
            #expect(try ErrorRates.eerThreshold(impostors: fixture.impostors, genuine: fixture.genuine).bitPattern
                    == bob.exact.bitPattern)
        }
    }

    @Test("-0.0 and 0.0 stay one tie group")
    func signedZeros() throws {
        let impostors = [-0.0, 0.0, 0.0, -0.0] + Array(repeating: -0.5, count: 96)
        let selective = try ErrorRates.farThresholds(impostors: impostors, targets: [0.04, 0.05])
        let full = try [0.04, 0.05].map { try ErrorRates.farThreshold(impostors: SortedScores(impostors), target: $0) }
        #expect(selective == full)
    }
}
