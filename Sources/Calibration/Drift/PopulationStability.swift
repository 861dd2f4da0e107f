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
        let groupOf = quantileGroups(of: reference, count: binCount)
        var expected = Array(repeating: 0, count: binCount)
        var actual = Array(repeating: 0, count: binCount)
        expected[groupOf.underflow] += reference.underflow
        actual[groupOf.underflow] += current.underflow
        for index in reference.counts.indices {
            expected[groupOf.bins[index]] += reference.counts[index]
            actual[groupOf.bins[index]] += current.counts[index]
        }
        expected[groupOf.overflow] += reference.overflow
        actual[groupOf.overflow] += current.overflow
        return try index(expected: expected, actual: actual)
    }

    /// Assigns underflow, every grid bin and overflow to one of `count` groups, cutting
    /// when the reference's cumulative share passes the next multiple of 1/count.
    static func quantileGroups(of reference: ScoreHistogram, count: Int) -> (underflow: Int, bins: [Int], overflow: Int) {
        let total = max(reference.total, 1)
        var cumulative = reference.underflow
        func group(after cumulative: Int) -> Int {
            min(cumulative * count / total, count - 1)
        }
        let underflowGroup = 0
        var bins = Array(repeating: 0, count: reference.counts.count)
        var current = group(after: cumulative)
        for index in reference.counts.indices {
            bins[index] = current
            cumulative += reference.counts[index]
            current = max(current, group(after: cumulative))
        }
        return (underflowGroup, bins, count - 1)
    }
}
