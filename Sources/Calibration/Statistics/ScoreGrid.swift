/// The fixed grid of histogram bins that every statistic of one deployment shares.
///
/// Bin `i` holds scores in `[edge(i), edge(i + 1))`; scores below `lowerBound` and at or
/// above `upperBound` are counted apart (underflow and overflow), never dropped. The width is a
/// power of two and the lower bound a multiple of it, so every edge is an exact double and
/// "score >= edge" agrees with the bin a score was put in: FMR and FNMR at an edge are exact.
///
/// ```swift
/// let grid = ScoreGrid.cosine            // [-1, 1) in 16,384 bins of 2^-13 ≈ 1.22e-4
/// grid.binIndex(of: 0.3)                 // 10649
/// grid.edge(10649) <= 0.3                // true
/// ```
public struct ScoreGrid: Sendable, Hashable, Codable {
    private enum CodingKeys: String, CodingKey { case lowerBound, binWidth, binCount }
    /// Lowest edge; scores below it are underflow.
    public let lowerBound: Double
    /// Width of every bin, a power of two.
    public let binWidth: Double
    /// Number of bins.
    public let binCount: Int

    /// Cosine similarity: [-1, 1) in 2^14 bins of width 2^-13. A score of exactly 1 (identical
    /// embeddings) is overflow, which still counts as ">= any threshold on the grid".
    public static let cosine = ScoreGrid(validatedLowerBound: -1, binWidth: 0x1p-13, binCount: 1 << 14)

    /// Creates a grid; throws unless `binWidth` is a power of two, `lowerBound` a multiple
    /// of it, and `binCount` positive (at most 2^24, so a histogram stays under 128 MiB).
    public init(lowerBound: Double, binWidth: Double, binCount: Int) throws {
        guard binWidth > 0, binWidth.isFinite, binWidth.significandBitPattern == 0, binWidth.isNormal else {
            throw CalibrationError.invalidParameter("binWidth \(binWidth) must be a power of two")
        }
        guard lowerBound.isFinite, (lowerBound / binWidth).rounded() == lowerBound / binWidth else {
            throw CalibrationError.invalidParameter("lowerBound \(lowerBound) must be a multiple of binWidth")
        }
        guard binCount > 0, binCount <= 1 << 24 else {
            throw CalibrationError.invalidParameter("binCount \(binCount) must be in 1...2^24")
        }
        self.init(validatedLowerBound: lowerBound, binWidth: binWidth, binCount: binCount)
    }

    private init(validatedLowerBound: Double, binWidth: Double, binCount: Int) {
        self.lowerBound = validatedLowerBound
        self.binWidth = binWidth
        self.binCount = binCount
    }

    /// The upper end of the last bin.
    public var upperBound: Double { edge(binCount) }

    /// The lower edge of bin `index` (`edge(binCount)` is `upperBound`); exact by construction.
    public func edge(_ index: Int) -> Double { lowerBound + Double(index) * binWidth }

    /// Where a score falls: a bin, or outside the grid.
    public enum Placement: Sendable, Hashable {
        case underflow
        case bin(Int)
        case overflow
    }

    /// The bin holding `score` (not NaN), decided by comparing with the exact edges.
    @inline(__always)
    public func placement(of score: Double) -> Placement {
        if score < lowerBound { return .underflow }
        if score >= upperBound { return .overflow }
        return .bin(binIndex(of: score))
    }

    /// Index of the bin holding an in-range score: `edge(i) <= score < edge(i + 1)`.
    @inline(__always)
    public func binIndex(of score: Double) -> Int {
        // Dividing by a power of two is multiplying by its exact inverse.
        var index = min(max(Int(((score - lowerBound) * (1 / binWidth)).rounded(.down)), 0), binCount - 1)
        while index > 0 && score < edge(index) { index -= 1 }
        while index < binCount - 1 && score >= edge(index + 1) { index += 1 }
        return index
    }

    /// Decodes and re-validates, so a stored grid cannot smuggle in inexact edges.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            lowerBound: try container.decode(Double.self, forKey: .lowerBound),
            binWidth: try container.decode(Double.self, forKey: .binWidth),
            binCount: try container.decode(Int.self, forKey: .binCount)
        )
    }
}
