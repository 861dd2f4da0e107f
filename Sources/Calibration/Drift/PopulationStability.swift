#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The population stability index: how far a score distribution moved from a reference.
///
/// PSI = Σ (a − e) · ln(a / e) over bins, with e and a the reference and current proportions.
/// Conventional reading: < 0.1 stable, 0.1–0.25 moderate shift, > 0.25 major shift. A bin that
/// is empty on one side would make the sum infinite, so proportions are floored at
/// `proportionFloor` (1e-4, a common choice) before the sum.
///
/// ```swift
/// let psi = try PopulationStability.index(reference: lastWindow.impostor, current: thisWindow.impostor)
/// ```
public enum PopulationStability {
    public static let proportionFloor = 1e-4

    /// PSI of two count vectors over the same bins.
    /// - Throws: `.invalidParameter` when the vectors differ in length, hold a negative
    ///   count, or one side is empty.
    public static func index(expected: [Int], actual: [Int]) throws -> Double {
        guard expected.count == actual.count, !expected.isEmpty else {
            throw CalibrationError.invalidParameter("PSI needs two count vectors of the same, non-zero length")
        }
        guard expected.allSatisfy({ $0 >= 0 }), actual.allSatisfy({ $0 >= 0 }) else {
            throw CalibrationError.invalidParameter("PSI counts must be >= 0")
        }
        let expectedTotal = Double(expected.reduce(0, +))
        let actualTotal = Double(actual.reduce(0, +))
        guard expectedTotal > 0, actualTotal > 0 else {
            throw CalibrationError.invalidParameter("PSI needs scores on both sides")
        }
        return zip(expected, actual).reduce(0.0) { sum, pair in
            let e = max(Double(pair.0) / expectedTotal, proportionFloor)
            let a = max(Double(pair.1) / actualTotal, proportionFloor)
            return sum + (a - e) * log(a / e)
        }
    }

    /// PSI over `binCount` groups of grid bins, each holding about an equal share of the
    /// reference (deciles by default), so the index does not depend on the fine grid.
    public static func index(reference: ScoreHistogram, current: ScoreHistogram, binCount: Int = 10) throws -> Double {
        guard reference.grid == current.grid else { throw CalibrationError.incompatibleStatistics }
        guard binCount > 0 else { throw CalibrationError.invalidParameter("binCount must be > 0") }
        // Underflow and every grid bin go to one of `binCount` groups, cut when the reference's
        // cumulative share passes the next multiple of 1/binCount; overflow to the last.
        let total = max(reference.total, 1)
        var expected = Array(repeating: 0, count: binCount)
        var actual = Array(repeating: 0, count: binCount)
        expected[0] += reference.underflow
        actual[0] += current.underflow
        var cumulative = reference.underflow
        var group = min(cumulative * binCount / total, binCount - 1)
        // Sums per group kept in locals while the group lasts: the arrays are touched once per group.
        var expectedSum = 0, actualSum = 0
        reference.counts.withUnsafeBufferPointer { referenceCounts in
            current.counts.withUnsafeBufferPointer { currentCounts in
                for index in 0..<min(referenceCounts.count, currentCounts.count) {
                    let count = referenceCounts[index]
                    expectedSum += count
                    actualSum += currentCounts[index]
                    guard count != 0 else { continue }
                    cumulative += count
                    // min(cumulative · binCount / total, binCount − 1), without dividing per bin.
                    while group < binCount - 1 && (group + 1) * total <= cumulative * binCount {
                        expected[group] += expectedSum
                        actual[group] += actualSum
                        (expectedSum, actualSum) = (0, 0)
                        group += 1
                    }
                }
            }
        }
        expected[group] += expectedSum
        actual[group] += actualSum
        expected[binCount - 1] += reference.overflow
        actual[binCount - 1] += current.overflow
        return try index(expected: expected, actual: actual)
    }
}
