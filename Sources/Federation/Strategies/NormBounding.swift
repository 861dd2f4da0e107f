import FederationCore
/// Norm bounding (Sun et al. 2019, "Can you really backdoor federated learning?"): updates
/// whose L2 norm exceeds `bound` are either scaled down to it (`.clip`) or left out
/// (`.reject`), then the rest are averaged by example count. Cheap and effective against
/// boosted (scaled-up) malicious updates; reported per client.
public struct NormBounding: AggregationStrategy, Codable, Equatable {
    public enum Mode: String, Sendable, Codable {
        /// Scale an oversized update down to the bound.
        case clip
        /// Leave an oversized update out of the round.
        case reject
    }

    public var bound: Double
    public var mode: Mode
    public var serverStep: PlainServerStep
    public var name: String { "norm-bounding" }

    public init(bound: Double, mode: Mode = .clip, serverStep: PlainServerStep = PlainServerStep()) {
        self.bound = bound
        self.mode = mode
        self.serverStep = serverStep
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        guard bound.isFinite, bound > 0 else {
            throw FederationError.invalidParameter(name: "norm bound", value: bound, requirement: "must be positive and finite")
        }
        let norms = updates.rowNorms()
        var accepted = [String](), rejected = [ClientRejection](), adjusted = [ClientRejection]()
        var keptRows = [Int]()
        var values = updates.values
        for row in 0..<updates.rowCount {
            let client = updates.clientIDs[row]
            guard norms[row] > bound else {
                accepted.append(client)
                keptRows.append(row)
                continue
            }
            switch mode {
            case .reject:
                rejected.append(ClientRejection(clientID: client, reason: "update norm \(norms[row]) exceeds the bound \(bound)"))
            case .clip:
                let factor = clippingFactor(norm: norms[row], bound: bound)
                for index in row * updates.columnCount..<(row + 1) * updates.columnCount {
                    values[index] = Float(Double(values[index]) * factor)
                }
                adjusted.append(ClientRejection(clientID: client, reason: "update norm \(norms[row]) scaled down to the bound \(bound)"))
                keptRows.append(row)
            }
        }
        guard !keptRows.isEmpty else {
            throw FederationError.empty(what: "updates within the norm bound \(bound)")
        }
        let bounded = try UpdateMatrix(clientIDs: updates.clientIDs, exampleCounts: updates.exampleCounts,
                                       columnCount: updates.columnCount, values: values)
        let delta = weightedMean(of: bounded, rows: keptRows)
        return AggregationOutcome(parameters: serverStep.step(round: round, global: global, delta: delta),
                                  accepted: accepted, rejected: rejected, adjusted: adjusted)
    }
}
