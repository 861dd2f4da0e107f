import FederationCore
/// Which clients Krum or Multi-Krum kept, and every client's score.
public struct KrumSelection: Sendable, Equatable {
    /// Rows kept, best score first.
    public var selectedRows: [Int]
    /// Krum score of every row: the sum of squared distances to its
    /// `neighbourCount` nearest other rows. Lower is more central.
    public var scores: [Double]
    /// max(1, N − f − 2).
    public var neighbourCount: Int
}

/// Krum's scoring and selection (Blanchard et al. 2017, as in Flower's `aggregate_krum`):
/// each client's score is the sum of its squared distances to its N − f − 2 nearest other
/// clients (at least 1), where f is the number of Byzantine clients assumed; the `keep`
/// clients with the lowest scores are selected (ties broken by lower row). Krum keeps 1;
/// Multi-Krum keeps m and averages them.
public func krumSelection(of matrix: UpdateMatrix, assumedByzantine f: Int, keep: Int) throws -> KrumSelection {
    let n = matrix.rowCount
    guard f >= 0 else {
        throw FederationError.invalidParameter(name: "assumed Byzantine clients", value: Double(f), requirement: "must not be negative")
    }
    guard keep >= 1, keep <= n else {
        throw FederationError.invalidParameter(name: "clients to keep", value: Double(keep), requirement: "must be in 1...\(n)")
    }
    let neighbours = max(1, n - f - 2)
    let distances = pairwiseSquaredDistances(of: matrix)
    var scores = [Double](repeating: 0, count: n)
    var others = [Double]()
    others.reserveCapacity(n)
    for i in 0..<n {
        others.removeAll(keepingCapacity: true)
        for j in 0..<n where j != i { others.append(distances[i * n + j]) }
        let count = min(neighbours, others.count)
        others.withUnsafeMutableBufferPointer { buffer in
            if count < buffer.count {
                select(count - 1, in: buffer, range: 0..<buffer.count)
            }
        }
        scores[i] = others[0..<count].reduce(0, +)
    }
    let ranked = (0..<n).sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
    return KrumSelection(selectedRows: Array(ranked.prefix(keep)), scores: scores, neighbourCount: neighbours)
}
