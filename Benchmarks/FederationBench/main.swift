// Times the Federation aggregators on an update file (the format of `make_updates.py`:
// little-endian int32 N, int32 D, N int64 example counts, N×D float32 rows), with the same
// settings as `scripts/bench/flower_bench.py`, and compares each result with Flower's
// output when a reference directory is given.
//
//     FederationBench FILE REPEATS [FLOWER_OUTPUT_DIR]
//
// Prints one line per aggregator: name, best seconds, max |Swift − Flower|.

import CBLAS
import Federation
import Foundation

func bestTime(repeats: Int, _ body: () throws -> [Float]) rethrows -> (seconds: Double, result: [Float]) {
    var best = Double.infinity
    var result: [Float] = []
    for _ in 0..<max(1, repeats) {
        let start = DispatchTime.now().uptimeNanoseconds
        result = try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return (best, result)
}

let arguments = CommandLine.arguments
guard arguments.count >= 3, let repeats = Int(arguments[2]) else {
    print("usage: FederationBench FILE REPEATS [FLOWER_OUTPUT_DIR]")
    exit(2)
}
do {
    let matrix = try AggregationFile.decodeUpdates(Data(contentsOf: URL(fileURLWithPath: arguments[1])))
    let byzantine = matrix.rowCount / 10
    let keep = matrix.rowCount - 2 * byzantine
    let zero = [Float](repeating: 0, count: matrix.columnCount)
    print("# N=\(matrix.rowCount) D=\(matrix.columnCount) OpenBLAS core: \(String(cString: openblas_get_corename()))")
    let runs: [(String, () throws -> [Float])] = [
        ("fedavg", { weightedMean(of: matrix) }),
        ("median", { coordinateMedian(of: matrix) }),
        ("trimmed-mean", { try trimmedMean(of: matrix, beta: 0.1, countingTrimmed: false).values }),
        ("krum", {
            var strategy = Krum(assumedByzantine: byzantine)
            return try strategy.aggregate(round: 1, global: zero, updates: matrix).parameters
        }),
        ("multi-krum", {
            var strategy = MultiKrum(assumedByzantine: byzantine, keep: keep)
            return try strategy.aggregate(round: 1, global: zero, updates: matrix).parameters
        }),
    ]
    for (name, run) in runs {
        let (seconds, result) = try bestTime(repeats: repeats, run)
        var difference = "n/a"
        if arguments.count > 3,
           let data = try? Data(contentsOf: URL(fileURLWithPath: "\(arguments[3])/\(name).f32")),
           let reference = try? AggregationFile.decodeResult(data), reference.count == result.count {
            difference = "\(zip(result, reference).map { abs($0 - $1) }.max() ?? 0)"
        }
        print("\(name) \(String(format: "%.6f", seconds)) \(difference)")
    }
} catch {
    print("error: \(error)")
    exit(1)
}
