import Federation
import Testing

/// The aggregation kernels against Flower 1.42's `flwr.server.strategy.aggregate` functions,
/// run on the same seeded inputs (fixtures made by scripts/fixtures).
@Suite struct FlowerAggregationTests {
    let fixture: AggregationFixture

    init() throws {
        fixture = try loadFixture("flower_aggregation.json", as: AggregationFixture.self)
    }

    private func matrix(_ reference: AggregationFixture.Case) throws -> UpdateMatrix {
        try UpdateMatrix(updates: reference.updates.enumerated().map { index, values in
            ClientUpdate(clientID: "kiosk-\(index)", update: ModelUpdate(values: values, exampleCount: reference.exampleCounts[index]))
        })
    }

    @Test func weightedMeanMatchesAggregate() throws {
        for reference in fixture.cases {
            #expect(allClose(weightedMean(of: try matrix(reference)), reference.fedavg), "\(reference.name)")
        }
    }

    @Test func coordinateMedianMatchesAggregateMedian() throws {
        for reference in fixture.cases {
            #expect(allClose(coordinateMedian(of: try matrix(reference)), reference.median), "\(reference.name)")
        }
    }

    @Test func trimmedMeanMatchesAggregateTrimmedAvg() throws {
        for reference in fixture.cases {
            for (beta, expected) in reference.trimmedMean {
                let result = try trimmedMean(of: try matrix(reference), beta: try #require(Double(beta)))
                #expect(allClose(result.values, expected), "\(reference.name) β=\(beta)")
            }
        }
    }

    @Test func krumMatchesAggregateKrum() throws {
        for reference in fixture.cases {
            let updates = try matrix(reference)
            var strategy = Krum(assumedByzantine: reference.krum.assumedByzantine)
            let zero = [Float](repeating: 0, count: updates.columnCount)
            let outcome = try strategy.aggregate(round: 1, global: zero, updates: updates)
            #expect(allClose(outcome.parameters, reference.krum.result), "\(reference.name)")
            #expect(outcome.accepted.count == 1)
            #expect(outcome.rejected.count == updates.rowCount - 1)
        }
    }

    @Test func multiKrumMatchesAggregateKrumWithToKeep() throws {
        for reference in fixture.cases {
            let updates = try matrix(reference)
            let keep = try #require(reference.multiKrum.keep)
            var strategy = MultiKrum(assumedByzantine: reference.multiKrum.assumedByzantine, keep: keep)
            let zero = [Float](repeating: 0, count: updates.columnCount)
            let outcome = try strategy.aggregate(round: 1, global: zero, updates: updates)
            #expect(allClose(outcome.parameters, reference.multiKrum.result), "\(reference.name)")
            #expect(outcome.accepted.count == keep)
        }
    }

    /// The fixtures plant outliers in the first rows: Krum must reject all of them.
    @Test func krumRejectsThePlantedOutliers() throws {
        let reference = try #require(fixture.cases.first { $0.name == "larger" })
        let updates = try matrix(reference)
        let selection = try krumSelection(of: updates, assumedByzantine: 5, keep: 15)
        #expect(selection.selectedRows.allSatisfy { $0 >= 5 })
        let outlierScores = (0..<5).map { selection.scores[$0] }
        let honestScores = (5..<updates.rowCount).map { selection.scores[$0] }
        #expect(outlierScores.min() ?? 0 > honestScores.max() ?? .infinity)
    }
}
