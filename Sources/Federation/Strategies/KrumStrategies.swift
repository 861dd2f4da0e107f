/// Krum (Blanchard et al. 2017): the next delta is the single client update with the lowest
/// Krum score (see `krumSelection`), as Flower's `aggregate_krum` with `to_keep = 0`.
/// Tolerates f Byzantine clients when N > 2f + 2. All other clients are rejected, with
/// their scores in the reason.
public struct Krum: AggregationStrategy, Codable, Equatable {
    /// f, the number of Byzantine clients assumed.
    public var assumedByzantine: Int
    public var serverStep: PlainServerStep
    public var name: String { "krum" }

    public init(assumedByzantine: Int, serverStep: PlainServerStep = PlainServerStep()) {
        self.assumedByzantine = assumedByzantine
        self.serverStep = serverStep
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        let selection = try krumSelection(of: updates, assumedByzantine: assumedByzantine, keep: 1)
        let chosen = selection.selectedRows
        let delta = Array(updates.row(chosen[0]))
        return krumOutcome(parameters: serverStep.step(round: round, global: global, delta: delta),
                           selection: selection, updates: updates)
    }
}

/// Multi-Krum (El Mhamdi et al. 2018): the m clients with the lowest Krum scores are kept
/// and their updates averaged, weighted by example count (Flower's `aggregate_krum` with
/// `to_keep = m`). The rest are rejected, with their scores in the reason.
public struct MultiKrum: AggregationStrategy, Codable, Equatable {
    public var assumedByzantine: Int
    /// m, the number of clients kept (clamped to N).
    public var keep: Int
    public var serverStep: PlainServerStep
    public var name: String { "multi-krum" }

    public init(assumedByzantine: Int, keep: Int, serverStep: PlainServerStep = PlainServerStep()) {
        self.assumedByzantine = assumedByzantine
        self.keep = keep
        self.serverStep = serverStep
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        let selection = try krumSelection(of: updates, assumedByzantine: assumedByzantine,
                                          keep: min(keep, updates.rowCount))
        let delta = weightedMean(of: updates, rows: selection.selectedRows)
        return krumOutcome(parameters: serverStep.step(round: round, global: global, delta: delta),
                           selection: selection, updates: updates)
    }
}

private func krumOutcome(parameters: [Float], selection: KrumSelection, updates: UpdateMatrix) -> AggregationOutcome {
    let kept = Set(selection.selectedRows)
    let cutoff = selection.selectedRows.map { selection.scores[$0] }.max() ?? 0
    let rejected = (0..<updates.rowCount).filter { !kept.contains($0) }.map { row in
        ClientRejection(clientID: updates.clientIDs[row],
                        reason: "Krum score \(selection.scores[row]) above the kept clients' \(cutoff) (sum of squared distances to \(selection.neighbourCount) nearest)")
    }
    return AggregationOutcome(parameters: parameters,
                              accepted: selection.selectedRows.map { updates.clientIDs[$0] },
                              rejected: rejected)
}
