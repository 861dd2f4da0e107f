/// How statistics are laid out: the histogram grid and the floor of the exact impostor tail.
///
/// Every statistic that is merged or compared must share one layout. The floor is the
/// trade-off between memory and exactness: thresholds at a target FMR are exact whenever more
/// than `target × N_impostor` impostors score at or above the floor, and the tail costs
/// 8 bytes per such impostor. Pick the floor so that FMR(floor) is about ten times the
/// loosest target you will ask for (e.g. FMR(floor) ≈ 0.1 for targets ≤ 1e-2).
///
/// ```swift
/// let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.25)
/// var statistics = ScoreStatistics(layout: layout)
/// ```
public struct StatisticsLayout: Sendable, Hashable, Codable {
    public let grid: ScoreGrid
    /// Impostor scores `>= tailFloor` are also kept exactly. Always a grid edge.
    public let tailFloor: Double
    /// Index of the grid edge equal to `tailFloor` (bins below it are only counted).
    public let tailFloorEdgeIndex: Int

    /// Creates a layout; throws unless `tailFloor` is one of the grid's edges.
    public init(grid: ScoreGrid, tailFloor: Double) throws {
        guard tailFloor >= grid.lowerBound, tailFloor <= grid.upperBound else {
            throw CalibrationError.invalidParameter("tailFloor \(tailFloor) is outside the grid")
        }
        let index = tailFloor == grid.upperBound ? grid.binCount : grid.binIndex(of: tailFloor)
        guard grid.edge(index) == tailFloor else {
            throw CalibrationError.invalidParameter(
                "tailFloor \(tailFloor) is not a grid edge; nearest below is \(grid.edge(index))")
        }
        self.grid = grid
        self.tailFloor = tailFloor
        self.tailFloorEdgeIndex = index
    }

    private enum CodingKeys: String, CodingKey { case grid, tailFloor }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(grid, forKey: .grid)
        try container.encode(tailFloor, forKey: .tailFloor)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            grid: try container.decode(ScoreGrid.self, forKey: .grid),
            tailFloor: try container.decode(Double.self, forKey: .tailFloor)
        )
    }
}
