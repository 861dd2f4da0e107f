import Calibration
import SeededRandom
import Testing
@testable import Storage

@Suite("A window's rows merged into packed cohorts")
struct PackedWindowTests {
    /// Rows of a few cohorts and days: random scores, labels and subjects.
    func rows(seed: UInt64) throws -> [(key: CohortKey, statistics: CohortStatistics)] {
        var generator = SeededGenerator(seed: seed)
        var rows: [(key: CohortKey, statistics: CohortStatistics)] = []
        for cohort in 0..<5 {
            let key = CohortKey(modelVersion: "m", cameraModel: "c\(cohort % 2)", cohort: "s\(cohort)")
            for _ in 0..<(1 + generator.next() % 4) {
                var row = CohortStatistics(layout: CohortStatistics.liveLayout)
                for _ in 0..<(20 + generator.next() % 200) {
                    let draw = generator.next() % 10
                    let label: ScoreLabel = draw < 3 ? .impostor : draw < 9 ? .genuine : .unknown
                    // Mostly near the tail floor and up to the grid's top edge (1 overflows), some under the grid.
                    let score = generator.next() % 50 == 0 ? -1.5 : 0.75 + 0.25 * Double(generator.next() % 10_001) / 10_000
                    try row.add(score: score, label: label, subject: "p\(generator.next() % 30)")
                }
                rows.append((key, row))
            }
        }
        return rows
    }

    @Test("rows in key order or shuffled give the cohorts merged in working form, packed", arguments: [1, 2] as [UInt64])
    func anyOrder(seed: UInt64) throws {
        let rows = try rows(seed: seed)
        var expected: [CohortKey: CohortStatistics] = [:]
        for row in rows { try expected[row.key, default: CohortStatistics(layout: CohortStatistics.liveLayout)].merge(row.statistics) }
        var generator = SeededGenerator(seed: seed)
        // Shuffled, and packed every few rows (a cohort's rows spread over several packings).
        for (order, limit) in [(rows, 16 << 20), (rows.shuffled(using: &generator), 16 << 20), (rows.shuffled(using: &generator), 3_000)] {
            var builder = PackedWindowBuilder()
            builder.pendingLimit = limit
            for row in order { try builder.add(row.key, encoded: row.statistics.encoded()) }
            let packed = try builder.finish()
            #expect(packed == expected.mapValues(PackedCohortStatistics.init))
            #expect(try packed.mapValues { try $0.unpacked() } == expected)
        }
    }

    @Test("the accumulator packs exactly CohortStatistics.encoded() of the rows merged, and is empty after packing")
    func accumulatorBytes() throws {
        let rows = try rows(seed: 4)
        var accumulator = PackedCohortAccumulator(layout: CohortStatistics.liveLayout)
        #expect(accumulator.isEmpty)
        #expect(accumulator.pack() == PackedCohortStatistics(CohortStatistics(layout: CohortStatistics.liveLayout)))
        for end in [1, rows.count / 2, rows.count] {
            var merged = CohortStatistics(layout: CohortStatistics.liveLayout)
            for row in rows.prefix(end) {
                try merged.merge(row.statistics)
                try accumulator.merge(encoded: row.statistics.encoded())
            }
            #expect(merged.scores.genuine.underflow > 0 || end < rows.count)
            let packed = accumulator.pack()
            #expect(packed.bytes == merged.encoded())
            #expect(packed == PackedCohortStatistics(merged))
            #expect(accumulator.isEmpty)
        }
    }

    @Test("a corrupt row is refused")
    func corruptRow() throws {
        var builder = PackedWindowBuilder()
        let row = try #require(try rows(seed: 3).first)
        var bytes = row.statistics.encoded()
        bytes.removeLast()
        try builder.add(row.key, encoded: bytes)
        #expect(throws: CalibrationError.self) { try builder.finish() }
    }
}
