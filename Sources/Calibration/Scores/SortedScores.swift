/// Scores sorted ascending, checked free of NaN: sort once, ask many questions.
///
/// Every threshold function needs sorted scores; taking a `SortedScores` lets a caller
/// that asks for several targets (or for EER and min-HTER too) pay for the sort once,
/// like bob.measure's `is_sorted=True`.
///
/// ```swift
/// let impostors = try SortedScores([0.3, 0.1, 0.2])
/// impostors.count(atLeast: 0.2)   // 2
/// ```
public struct SortedScores: Sendable, Hashable, Codable {
    /// The scores, ascending.
    public let values: [Double]

    /// Sorts `scores`; throws `.nanScore` if any is NaN.
    public init(_ scores: [Double]) throws {
        guard !scores.contains(where: \.isNaN) else { throw CalibrationError.nanScore }
        values = RadixSort.ascending(scores)
    }

    /// Wraps scores the caller has already sorted ascending (checked, not re-sorted).
    public init(alreadySorted scores: [Double]) throws {
        guard !scores.contains(where: \.isNaN) else { throw CalibrationError.nanScore }
        for index in scores.indices.dropFirst() where scores[index - 1] > scores[index] {
            throw CalibrationError.invalidParameter("scores are not sorted ascending")
        }
        values = scores
    }

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }

    /// Number of scores `>= threshold` (accepted comparisons).
    public func count(atLeast threshold: Double) -> Int {
        values.count - values.firstIndex(notBelow: threshold)
    }

    /// Number of scores `< threshold` (rejected comparisons).
    public func count(below threshold: Double) -> Int {
        values.firstIndex(notBelow: threshold)
    }

    /// The tie groups from the highest score down, as the FMR walk visits them.
    var descendingTieGroups: DescendingTieGroups { DescendingTieGroups(ascending: values) }
}

extension Array where Element: Comparable {
    /// Index of the first element `>= value` in an ascending array (binary search).
    func firstIndex(notBelow value: Element) -> Int {
        var low = 0
        var high = count
        while low < high {
            let middle = low + (high - low) / 2
            if self[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
