// calibration-bench: times threshold computation on a score file, for comparison with
// bob.measure and scikit-learn on the same file (scripts/bench/calibration_bench.py runs all
// three). Usage: calibration-bench SCORES.f64 [repeats]
//
// The file is little-endian: UInt64 impostor count, UInt64 genuine count, then the impostor
// and genuine scores as float64. Output is one JSON object on stdout.

import Calibration
import Foundation

struct BenchmarkOutput: Encodable {
    var impostorCount: Int
    var genuineCount: Int
    var targets: [Double]
    /// Raw scores, full sort: sort once, three far_thresholds and eer_threshold (bob-exact).
    var rawSeconds: Double
    var rawThresholdBits: [String]
    var rawEERThresholdBits: String
    /// Raw scores, selective: sort only the buckets the answers lie in (bob-exact).
    var selectiveSeconds: Double
    var selectiveThresholdBits: [String]
    var selectiveEERThresholdBits: String
    /// Build ScoreStatistics (histograms + exact tail) from the scores, then the same questions.
    var statisticsBuildSeconds: Double
    var statisticsQuerySeconds: Double
    var statisticsThresholdBits: [String]
    var statisticsExact: [Bool]
    var tailCount: Int
}

enum BenchmarkFailure: Error, CustomStringConvertible {
    case usage
    case unreadable(String)

    var description: String {
        switch self {
        case .usage: return "usage: calibration-bench SCORES.f64 [repeats]"
        case .unreadable(let path): return "cannot read a score file at \(path)"
        }
    }
}

func readScores(_ path: String) throws -> (impostors: [Double], genuine: [Double]) {
    guard let data = FileManager.default.contents(atPath: path), data.count >= 16 else {
        throw BenchmarkFailure.unreadable(path)
    }
    return try data.withUnsafeBytes { raw in
        let impostorCount = Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
        let genuineCount = Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        guard data.count == 16 + 8 * (impostorCount + genuineCount) else { throw BenchmarkFailure.unreadable(path) }
        func scores(from offset: Int, count: Int) -> [Double] {
            (0..<count).map { index in
                Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8 * index, as: UInt64.self)))
            }
        }
        return (scores(from: 16, count: impostorCount), scores(from: 16 + 8 * impostorCount, count: genuineCount))
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func bits(_ value: Double) -> String {
    String(value.bitPattern, radix: 16)
}

func run() throws {
    let arguments = CommandLine.arguments
    guard arguments.count >= 2 else { throw BenchmarkFailure.usage }
    let repeats = arguments.count >= 3 ? max(Int(arguments[2]) ?? 1, 1) : 3
    let (impostors, genuine) = try readScores(arguments[1])
    let targets = [1e-2, 1e-3, 1e-4]
    let clock = ContinuousClock()

    var rawBest = Double.infinity
    var rawThresholds: [Double] = []
    var rawEER = Double.nan
    for _ in 0..<repeats {
        let started = clock.now
        let sortedImpostors = try SortedScores(impostors)
        let sortedGenuine = try SortedScores(genuine)
        rawThresholds = try targets.map { try ErrorRates.farThreshold(impostors: sortedImpostors, target: $0) }
        rawEER = try ErrorRates.eerThreshold(impostors: sortedImpostors, genuine: sortedGenuine)
        rawBest = min(rawBest, seconds(clock.now - started))
    }

    var selectiveBest = Double.infinity
    var selectiveThresholds: [Double] = []
    var selectiveEER = Double.nan
    for _ in 0..<repeats {
        let started = clock.now
        selectiveThresholds = try ErrorRates.farThresholds(impostors: impostors, targets: targets)
        selectiveEER = try ErrorRates.eerThreshold(impostors: impostors, genuine: genuine)
        selectiveBest = min(selectiveBest, seconds(clock.now - started))
    }

    // Tail floor: a grid edge just below the 1 % impostor quantile, so targets <= 1e-2 are exact.
    let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.125)
    var buildBest = Double.infinity
    var queryBest = Double.infinity
    var estimates: [ThresholdEstimate] = []
    var statistics = ScoreStatistics(layout: layout)
    for _ in 0..<repeats {
        let started = clock.now
        statistics = ScoreStatistics(layout: layout)
        try statistics.add(impostors, label: .impostor)
        try statistics.add(genuine, label: .genuine)
        let built = clock.now
        estimates = try targets.map { try statistics.falseMatchThreshold(target: $0) }
        _ = try statistics.equalErrorRateOnGrid()
        buildBest = min(buildBest, seconds(built - started))
        queryBest = min(queryBest, seconds(clock.now - built))
    }

    let output = BenchmarkOutput(
        impostorCount: impostors.count,
        genuineCount: genuine.count,
        targets: targets,
        rawSeconds: rawBest,
        rawThresholdBits: rawThresholds.map(bits),
        rawEERThresholdBits: bits(rawEER),
        selectiveSeconds: selectiveBest,
        selectiveThresholdBits: selectiveThresholds.map(bits),
        selectiveEERThresholdBits: bits(selectiveEER),
        statisticsBuildSeconds: buildBest,
        statisticsQuerySeconds: queryBest,
        statisticsThresholdBits: estimates.map { bits($0.threshold) },
        statisticsExact: estimates.map { $0.precision == .exact },
        tailCount: statistics.impostorTail.count
    )
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(output), as: UTF8.self))
}

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("calibration-bench: \(error)\n".utf8))
    exit(1)
}
