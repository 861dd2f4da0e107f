/// Error rates of a set of genuine (same person) and impostor (different people) comparison
/// scores, for evaluating the pipeline on a labelled image set.
///
/// Direction: scores are similarities, a comparison is accepted when score ≥ threshold
/// (pass distances negated). FMR(t) = impostors with score ≥ t / impostors; FNMR(t) =
/// genuine with score < t / genuine.
///
/// ```swift
/// let rates = try VerificationErrorRates(genuine: same, impostor: different)
/// print(rates.equalErrorRate, rates.falseNonMatchRate(atFalseMatchRate: 1e-3))
/// ```
public struct VerificationErrorRates: Sendable {
    /// A threshold with the two error rates there.
    public struct OperatingPoint: Sendable, Equatable, Codable {
        public var threshold: Double
        public var falseMatchRate: Double
        public var falseNonMatchRate: Double
    }

    public struct EmptyScoreSet: Error, CustomStringConvertible {
        public var description: String { "error rates need at least one genuine and one impostor score" }
    }

    private let genuine: [Double]
    private let impostor: [Double]

    public init(genuine: [Double], impostor: [Double]) throws {
        guard !genuine.isEmpty, !impostor.isEmpty else { throw EmptyScoreSet() }
        self.genuine = genuine.sorted()
        self.impostor = impostor.sorted()
    }

    public func operatingPoint(threshold: Double) -> OperatingPoint {
        OperatingPoint(
            threshold: threshold,
            falseMatchRate: Double(impostor.count - Self.countBelow(threshold, in: impostor)) / Double(impostor.count),
            falseNonMatchRate: Double(Self.countBelow(threshold, in: genuine)) / Double(genuine.count)
        )
    }

    /// The lowest threshold among the observed scores (and just above the highest impostor)
    /// whose FMR does not exceed `target`, with the FNMR there.
    public func falseNonMatchRate(atFalseMatchRate target: Double) -> OperatingPoint {
        // Accepting at most k impostors: the threshold must lie above the (n − k)-th smallest impostor.
        let allowed = Int((target * Double(impostor.count)).rounded(.down))
        let threshold: Double
        if allowed >= impostor.count {
            threshold = min(genuine.first ?? 0, impostor.first ?? 0)
        } else {
            threshold = impostor[impostor.count - 1 - allowed].nextUp
        }
        return operatingPoint(threshold: threshold)
    }

    /// The point where FMR and FNMR cross: over all candidate thresholds (every observed
    /// score), the one minimising |FMR − FNMR|; the EER reported is their mean there.
    public var equalErrorRate: OperatingPoint {
        let candidates = (genuine + impostor).sorted()
        var best = operatingPoint(threshold: candidates[0])
        var low = 0, high = candidates.count - 1
        // FMR falls and FNMR rises with the threshold: binary search for the crossing.
        while low <= high {
            let middle = (low + high) / 2
            let point = operatingPoint(threshold: candidates[middle])
            if abs(point.falseMatchRate - point.falseNonMatchRate) < abs(best.falseMatchRate - best.falseNonMatchRate) {
                best = point
            }
            if point.falseMatchRate > point.falseNonMatchRate { low = middle + 1 } else { high = middle - 1 }
        }
        return best
    }

    /// Number of elements of the sorted `values` strictly below `threshold`.
    private static func countBelow(_ threshold: Double, in values: [Double]) -> Int {
        var low = 0, high = values.count
        while low < high {
            let middle = (low + high) / 2
            if values[middle] < threshold { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
