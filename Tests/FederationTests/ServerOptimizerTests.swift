import Foundation
import Federation
import Testing

/// FedAdam and FedAvgM against Flower 1.42's strategies over three rounds.
@Suite struct ServerOptimizerTests {
    let fixture: ServerOptimizerFixture

    init() throws {
        fixture = try loadFixture("flower_server_optimizers.json", as: ServerOptimizerFixture.self)
    }

    private func updates(_ deltas: [[Float]]) throws -> UpdateMatrix {
        try UpdateMatrix(updates: deltas.enumerated().map { index, values in
            ClientUpdate(clientID: "kiosk-\(index)", update: ModelUpdate(values: values, exampleCount: fixture.exampleCounts[index]))
        })
    }

    @Test func fedAdamMatchesFlower() throws {
        let settings = fixture.fedAdam
        var strategy = FedAdam(optimizer: ServerAdam(eta: settings.eta, beta1: settings.beta1, beta2: settings.beta2, tau: settings.tau))
        var global = fixture.initial
        for round in fixture.rounds {
            global = try strategy.aggregate(round: round.round, global: global, updates: updates(round.deltas)).parameters
            #expect(allClose(global, round.fedAdamGlobal), "round \(round.round)")
        }
    }

    @Test func fedAvgMMatchesFlower() throws {
        let settings = fixture.fedAvgM
        var strategy = FedAvgM(optimizer: ServerMomentum(learningRate: settings.serverLearningRate, momentum: settings.serverMomentum))
        var global = fixture.initial
        for round in fixture.rounds {
            global = try strategy.aggregate(round: round.round, global: global, updates: updates(round.deltas)).parameters
            #expect(allClose(global, round.fedAvgMGlobal), "round \(round.round)")
        }
    }

    /// Optimiser state survives encoding, so a restarted server continues the same sequence.
    @Test func optimizerStateRoundTripsThroughCodable() throws {
        var original = FedAdam(optimizer: ServerAdam(eta: 0.1, beta1: 0.9, beta2: 0.99, tau: 1e-3))
        var global = fixture.initial
        let first = try #require(fixture.rounds.first)
        global = try original.aggregate(round: 1, global: global, updates: updates(first.deltas)).parameters
        var restored = try JSONDecoder().decode(FedAdam.self, from: JSONEncoder().encode(original))
        let second = try #require(fixture.rounds.dropFirst().first)
        let fromOriginal = try original.aggregate(round: 2, global: global, updates: updates(second.deltas))
        let fromRestored = try restored.aggregate(round: 2, global: global, updates: updates(second.deltas))
        #expect(fromOriginal == fromRestored)
    }
}
