import Calibration
@testable import Storage
import Testing

/// Both back ends lock statistics rows in `StatisticsRowKey.lockOrder`; PostgreSQL reads them
/// `ORDER BY … COLLATE "C"`, so the order must be the bytes' order of each field in turn.
@Suite("Statistics row lock order")
struct StatisticsRowKeyOrderTests {
    @Test("the order of the fields' UTF-8 bytes, field by field, then the bucket")
    func byteOrder() {
        // Prefixes, upper before lower case, and bytes above ASCII, which UTF-16 order would put elsewhere.
        let names = ["a", "ab", "B", "b", "branch-1", "branch-10", "branch-2", "é", "z", "\u{FF5A}", "😀"]
        var generator = SystemRandomNumberGenerator()
        let keys = (0..<400).map { _ in
            StatisticsRowKey(cohort: CohortKey(modelVersion: names.randomElement(using: &generator) ?? "",
                                               cameraModel: names.randomElement(using: &generator) ?? "",
                                               cohort: names.randomElement(using: &generator) ?? ""),
                             granularity: Bool.random(using: &generator) ? .day : .month,
                             bucket: Int.random(in: 20_000...20_003, using: &generator))
        }
        func fields(_ key: StatisticsRowKey) -> [[UInt8]] {
            [Array(key.cohort.modelVersion.utf8), Array(key.cohort.cameraModel.utf8), Array(key.cohort.cohort.utf8),
             Array(key.granularity.rawValue.utf8)]
        }
        func expected(_ lhs: StatisticsRowKey, _ rhs: StatisticsRowKey) -> Bool {
            for (a, b) in zip(fields(lhs), fields(rhs)) where a != b { return a.lexicographicallyPrecedes(b) }
            return lhs.bucket < rhs.bucket
        }
        for (lhs, rhs) in zip(keys, keys.shuffled(using: &generator)) {
            #expect(StatisticsRowKey.lockOrder(lhs, rhs) == expected(lhs, rhs), "\(lhs) against \(rhs)")
        }
        let sorted = keys.sorted(by: StatisticsRowKey.lockOrder)
        #expect(zip(sorted, sorted.dropFirst()).allSatisfy { !expected($1, $0) })
    }
}
