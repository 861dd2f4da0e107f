/// FedMedian (Yin et al. 2018): every coordinate of the next delta is the median of the
/// clients' values (Flower's `aggregate_median`), unweighted. Tolerates up to half the
/// clients being arbitrary in each coordinate. No client is rejected as a whole, so all
/// are reported accepted.
public struct FedMedian: AggregationStrategy, Codable, Equatable {
    public var serverStep: PlainServerStep
    public var name: String { "median" }

    public init(serverStep: PlainServerStep = PlainServerStep()) {
        self.serverStep = serverStep
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        return AggregationOutcome(parameters: serverStep.step(round: round, global: global, delta: coordinateMedian(of: updates)),
                                  accepted: updates.clientIDs)
    }
}

/// FedTrimmedAvg (Yin et al. 2018): every coordinate drops ⌊β·N⌋ values from each end and
/// averages the rest, unweighted (Flower's `aggregate_trimmed_avg`). Clients whose values
/// were cut in some coordinates are reported as adjusted with the share cut; a client cut
/// in most coordinates is the one to look at.
public struct FedTrimmedMean: AggregationStrategy, Codable, Equatable {
    /// Fraction cut from each side, in [0, 0.5).
    public var beta: Double
    public var serverStep: PlainServerStep
    public var name: String { "trimmed-mean" }

    public init(beta: Double = 0.2, serverStep: PlainServerStep = PlainServerStep()) {
        self.beta = beta
        self.serverStep = serverStep
    }

    public mutating func aggregate(round: Int, global: [Float], updates: UpdateMatrix) throws -> AggregationOutcome {
        try checkShape(global: global, updates: updates)
        let trimmed = try trimmedMean(of: updates, beta: beta)
        let adjusted = zip(updates.clientIDs, trimmed.trimmedShare).compactMap { client, share in
            share > 0 ? ClientRejection(clientID: client, reason: "trimmed in \(percent(share)) of coordinates") : nil
        }
        return AggregationOutcome(parameters: serverStep.step(round: round, global: global, delta: trimmed.values),
                                  accepted: updates.clientIDs, adjusted: adjusted)
    }
}

/// "12.5 %": a share for a human-readable reason.
func percent(_ share: Double) -> String {
    "\((share * 1000).rounded() / 10) %"
}
