/// Whether a value computed from statistics equals the raw-score answer.
public enum Precision: Sendable, Hashable, Codable {
    /// Equal to what bob.measure returns on the raw scores, bit for bit.
    case exact
    /// Decided on the histogram grid; `docs/calibration.md` gives the bound. A binned
    /// threshold is a grid edge (or a tail score) whose FMR is counted exactly and is never
    /// above the raw-score threshold's FMR.
    case binned(binWidth: Double)
}

/// A threshold chosen from statistics, with the exact count of impostors it accepts.
public struct ThresholdEstimate: Sendable, Hashable, Codable {
    /// Accept when `score >= threshold`.
    public var threshold: Double
    /// Impostors with `score >= threshold` (always exact: the threshold is a tail score or a grid edge).
    public var falseMatches: Int
    /// All impostors counted.
    public var impostorCount: Int
    public var precision: Precision

    public init(threshold: Double, falseMatches: Int, impostorCount: Int, precision: Precision) {
        self.threshold = threshold
        self.falseMatches = falseMatches
        self.impostorCount = impostorCount
        self.precision = precision
    }

    /// FMR at `threshold`, the float64 `falseMatches / impostorCount` as bob.measure divides.
    public var falseMatchRate: Double { Double(falseMatches) / Double(impostorCount) }
}

/// A count known to lie in `lower...upper` (equal when exact).
public struct CountBounds: Sendable, Hashable, Codable {
    public var lower: Int
    public var upper: Int
    public var isExact: Bool { lower == upper }
}

/// A rate known to lie in `lower...upper` (equal when exact).
public struct RateBounds: Sendable, Hashable, Codable {
    public var lower: Double
    public var upper: Double
    public var isExact: Bool { lower == upper }

    init(_ counts: CountBounds, total: Int) {
        lower = Double(counts.lower) / Double(total)
        upper = Double(counts.upper) / Double(total)
    }
}
