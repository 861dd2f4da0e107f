/// The exact impostor scores at or above a floor, kept sorted: a multiset that merges and
/// supports exact removal.
///
/// Thresholds at small targets (1e-4 … 1e-6) sit among the highest impostor scores, where one
/// bin of a histogram can hold the whole answer; keeping those few scores exactly makes the
/// threshold exact. Memory is 8 bytes per kept score: `N_impostor × FMR(floor)`.
///
/// ```swift
/// var tail = ExactTail(floor: 0.5)
/// tail.insert(0.73)            // kept
/// tail.insert(0.12)            // below the floor: ignored (the histogram has it)
/// try tail.remove(0.73)
/// ```
public struct ExactTail: Sendable, Hashable, Codable {
    /// Scores `>= floor` are kept.
    public let floor: Double
    /// The kept scores, ascending (duplicates kept).
    public private(set) var scores: [Double]

    public init(floor: Double) {
        self.floor = floor
        scores = []
    }

    /// Scores already sorted and checked `>= floor` by the caller (decoding).
    init(floor: Double, sortedScores: [Double]) {
        self.floor = floor
        scores = sortedScores
    }

    /// Decodes and checks the invariant (sorted, no NaN, nothing below the floor).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        floor = try container.decode(Double.self, forKey: .floor)
        scores = try container.decode([Double].self, forKey: .scores)
        let valid = !floor.isNaN && scores.allSatisfy { $0 >= floor }
            && zip(scores, scores.dropFirst()).allSatisfy { $0 <= $1 }
        guard valid else {
            throw DecodingError.dataCorruptedError(
                forKey: .scores, in: container, debugDescription: "tail scores must be sorted and >= floor")
        }
    }

    private enum CodingKeys: String, CodingKey { case floor, scores }

    public var count: Int { scores.count }

    /// Whether a (non-NaN) score belongs in the tail.
    public func keeps(_ score: Double) -> Bool { score >= floor }

    /// Inserts a score if it is at or above the floor (binary search; O(n) shift).
    public mutating func insert(_ score: Double) {
        guard keeps(score) else { return }
        scores.insert(score, at: scores.firstIndex(notBelow: score))
    }

    /// Inserts many scores at once (sort and merge: O((n + m) log m)).
    public mutating func insert(contentsOf newScores: [Double]) {
        let kept = RadixSort.ascending(newScores.filter(keeps))
        scores = Self.mergeSorted(scores, kept)
    }

    /// Removes one occurrence of `score`; throws `.removalOfAbsentScore` if it is not there.
    /// Scores below the floor are not the tail's business and are ignored.
    public mutating func remove(_ score: Double) throws {
        guard keeps(score) else { return }
        let index = scores.firstIndex(notBelow: score)
        guard index < scores.count, scores[index] == score else {
            throw CalibrationError.removalOfAbsentScore(score)
        }
        scores.remove(at: index)
    }

    /// Adds every score of another tail with the same floor.
    public mutating func merge(_ other: ExactTail) throws {
        guard other.floor == floor else { throw CalibrationError.incompatibleStatistics }
        scores = Self.mergeSorted(scores, other.scores)
    }

    /// Removes every score of another tail (with multiplicity), all or nothing.
    public mutating func subtract(_ other: ExactTail) throws {
        guard other.floor == floor else { throw CalibrationError.incompatibleStatistics }
        var kept: [Double] = []
        kept.reserveCapacity(max(scores.count - other.scores.count, 0))
        var next = 0
        for score in scores {
            if next < other.scores.count && other.scores[next] == score {
                next += 1
            } else {
                if next < other.scores.count && other.scores[next] < score {
                    throw CalibrationError.removalOfAbsentScore(other.scores[next])
                }
                kept.append(score)
            }
        }
        guard next == other.scores.count else {
            throw CalibrationError.removalOfAbsentScore(other.scores[next])
        }
        scores = kept
    }

    /// Number of kept scores `>= threshold`.
    public func count(atLeast threshold: Double) -> Int {
        scores.count - scores.firstIndex(notBelow: threshold)
    }

    var descendingTieGroups: DescendingTieGroups { DescendingTieGroups(ascending: scores) }

    static func mergeSorted(_ left: [Double], _ right: [Double]) -> [Double] {
        if right.isEmpty { return left }
        if left.isEmpty { return right }
        var merged: [Double] = []
        merged.reserveCapacity(left.count + right.count)
        var i = 0
        var j = 0
        while i < left.count && j < right.count {
            if right[j] < left[i] {
                merged.append(right[j])
                j += 1
            } else {
                merged.append(left[i])
                i += 1
            }
        }
        merged.append(contentsOf: left[i...])
        merged.append(contentsOf: right[j...])
        return merged
    }
}
