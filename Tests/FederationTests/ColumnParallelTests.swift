import Testing
@testable import Federation

/// The coordinate-wise aggregators split columns over threads; on a matrix of many column
/// blocks every result must equal a plain per-column sort.
@Suite("Coordinate-wise aggregation across threads")
struct ColumnParallelTests {
    static func matrix(rows: Int, columns: Int, seed: UInt64) throws -> UpdateMatrix {
        var state = seed
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
        let values = (0..<(rows * columns)).map { _ in next() }
        return try UpdateMatrix(clientIDs: (0..<rows).map { "c\($0)" }, exampleCounts: [Int](repeating: 1, count: rows),
                                columnCount: columns, values: values)
    }

    @Test("median and trimmed mean over 16 column blocks equal a per-column sort, and who was cut is counted once",
          arguments: [(37, 1000), (100, 1000), (10, 130)])
    func equalsSorting(rows: Int, columns: Int) throws {
        let matrix = try Self.matrix(rows: rows, columns: columns, seed: UInt64(rows * columns))
        let beta = 0.1, cut = Int(beta * Double(rows))
        let median = coordinateMedian(of: matrix)
        let trimmed = try trimmedMean(of: matrix, beta: beta)
        var expectedCut = [Int](repeating: 0, count: rows)
        for column in 0..<columns {
            let values = (0..<rows).map { matrix.values[$0 * columns + column] }
            let sorted = values.sorted()
            let expectedMedian = rows % 2 == 1 ? sorted[rows / 2] : Float((Double(sorted[rows / 2 - 1]) + Double(sorted[rows / 2])) / 2)
            #expect(median[column] == expectedMedian)
            let keptValues = sorted[cut..<(rows - cut)]
            let mean = keptValues.reduce(0.0) { $0 + Double($1) } / Double(keptValues.count)
            #expect(abs(Double(trimmed.values[column]) - mean) < 1e-6)
            if cut > 0 {
                for (row, value) in values.enumerated() where value < sorted[cut] || value > sorted[rows - cut - 1] { expectedCut[row] += 1 }
            }
        }
        #expect(trimmed.trimmedShare == expectedCut.map { Double($0) / Double(columns) })
        let quick = try trimmedMean(of: matrix, beta: beta, countingTrimmed: false)
        #expect(quick.values == trimmed.values)
        #expect(quick.trimmedShare.isEmpty)
    }
}
