import Federation
import FederationCore
import SeededRandom
import TestSupport
import Testing

/// Whole rounds in memory: kiosks train on their own pairs, clip, upload; the server
/// aggregates, evaluates and accounts. No network or storage (that is the server's part).
@Suite struct FederatedRoundSimulationTests {
    /// Identities live in the first `signal` dimensions while the others carry only
    /// per-capture noise: the identity adapter is far from optimal, so training has something
    /// to learn (down-weighting the noisy dimensions).
    struct Faces {
        var gaussian: SeededGaussianNoise<SeededGenerator>
        let dimension = 16, signal = 4

        init(seed: UInt64) { gaussian = SeededGaussianNoise(generator: SeededGenerator(seed: seed)) }

        mutating func identity() -> [Float] { (0..<signal).map { _ in Float(gaussian.nextStandardNormal()) } }
        mutating func capture(_ identity: [Float]) -> [Float] {
            identity.map { $0 + 0.3 * Float(gaussian.nextStandardNormal()) }
                + (signal..<dimension).map { _ in 1.5 * Float(gaussian.nextStandardNormal()) }
        }

        /// A kiosk's genuine pairs: `people` people, three template–probe pairs each.
        mutating func kioskPairs(people: Int) -> [LabelledPair] {
            (0..<people).flatMap { _ in
                let person = identity()
                return (0..<3).map { _ in LabelledPair(first: capture(person), second: capture(person), isGenuine: true) }
            }
        }

        /// Held-out people: one genuine pair each and impostor pairs against other people.
        mutating func heldOut(people: Int) -> [LabelledPair] {
            (0..<people).flatMap { _ in
                let person = identity()
                return [LabelledPair(first: capture(person), second: capture(person), isGenuine: true)]
                    + (0..<10).map { _ in LabelledPair(first: capture(person), second: capture(identity()), isGenuine: false) }
            }
        }
    }

    static func publicImpostors() throws -> PublicImpostorSet {
        var faces = Faces(seed: 0xFACE)
        return try PublicImpostorSet(descriptors: (0..<60).map { _ in faces.capture(faces.identity()) }, dimension: 16)
    }

    let training = LocalTrainingConfiguration(learningRate: 0.3, epochs: 3, batchSize: 64,
                                              loss: ImpostorTailLoss(scale: 8, tailFraction: 0.02), seed: 1)
    let clippingNorm = 2.0
    let targetFMR = 0.01

    private func honestUpdate(kiosk: Int, global: Adapter, seed: UInt64) throws -> ClientUpdate {
        var faces = Faces(seed: seed)
        let pairs = faces.kioskPairs(people: 8)
        let local = try LocalTraining(configuration: training).train(from: global, on: pairs, impostors: Self.publicImpostors()).adapter
        let update = try ModelUpdate(local: local, global: global, exampleCount: pairs.count).clipped(toNorm: clippingNorm)
        return ClientUpdate(clientID: "kiosk-\(kiosk)", update: update)
    }

    @Test func outOfBoundUpdateIsDiscardedAndTheReleasePassesTheGate() throws {
        let global = Adapter.identity(dimension: 16)
        var updates = try (0..<2).map { try honestUpdate(kiosk: $0, global: global, seed: UInt64(100 + $0)) }
        // The third kiosk skips clipping and boosts its update 50×.
        let attacker = try honestUpdate(kiosk: 2, global: global, seed: 102)
        updates.append(ClientUpdate(clientID: "kiosk-2", update: ModelUpdate(
            values: attacker.update.values.map { $0 * 50 }, exampleCount: attacker.update.exampleCount)))

        var strategy = NormBounding(bound: clippingNorm * 1.01, mode: .reject)
        let outcome = try strategy.aggregate(round: 1, global: global.parameters, updates: UpdateMatrix(updates: updates))
        #expect(outcome.rejected.map(\.clientID) == ["kiosk-2"])
        #expect(outcome.accepted == ["kiosk-0", "kiosk-1"])

        let candidate = try global.replacingParameters(with: outcome.parameters)
        var faces = Faces(seed: 999)
        let heldOut = faces.heldOut(people: 100)
        let before = try strategy.evaluate(candidate: global, on: heldOut, targetFMR: targetFMR)
        let after = try strategy.evaluate(candidate: candidate, on: heldOut, targetFMR: targetFMR)
        #expect(after.passesGate(comparedWith: before))

        // Without the bound, the boosted update would have wrecked the model.
        var plain = FedAvg()
        let poisoned = try plain.aggregate(round: 1, global: global.parameters, updates: UpdateMatrix(updates: updates))
        let poisonedReport = try plain.evaluate(candidate: global.replacingParameters(with: poisoned.parameters), on: heldOut, targetFMR: targetFMR)
        #expect(poisonedReport.falseNonMatchRate > after.falseNonMatchRate)
    }

    /// DP-FedAvg over several rounds: the budget admits rounds until it would be exceeded,
    /// the model still improves under noise, and the release carries its statement.
    @Test func dpRoundsImproveTheModelWithinTheBudget() throws {
        // Enough kiosks that the noise on the mean, z·C/(q·K) per coordinate, stays below the signal.
        let kiosks = 200
        let samplingRate = 0.5
        let noiseMultiplier = 0.8
        let budget = PrivacyBudget(epsilon: 8, delta: 1e-5, accountant: .rdp)
        var strategy = DPFedAvg(clippingNorm: clippingNorm, noiseMultiplier: noiseMultiplier,
                                expectedClientCount: samplingRate * Double(kiosks),
                                noise: DiscreteGaussianNoise(generator: SeededGenerator(seed: 77)))
        var sampler = SeededGenerator(seed: 5)
        var global = Adapter.identity(dimension: 16)
        var ledger: [PrivacyLedgerEntry] = []
        let nextRound = PrivacyLedgerEntry(samplingRate: samplingRate, noiseMultiplier: noiseMultiplier, rounds: 1)
        var roundsRun = 0
        var refusal: String?
        for round in 1...40 {
            if case let .refused(reason, _) = try budget.admit(nextRound: nextRound, after: ledger) {
                refusal = reason
                break
            }
            let context = RoundContext(roundNumber: round, eligibleClients: (0..<kiosks).map { "kiosk-\($0)" },
                                       samplingRate: samplingRate, localTraining: training, clippingNorm: clippingNorm)
            let plan = strategy.configureRound(context, using: &sampler)
            if !plan.selectedClients.isEmpty {
                let updates = try plan.selectedClients.enumerated().map { index, _ in
                    try honestUpdate(kiosk: index, global: global, seed: UInt64(round * 100 + index))
                }
                let outcome = try strategy.aggregate(round: round, global: global.parameters, updates: UpdateMatrix(updates: updates))
                global = try global.replacingParameters(with: outcome.parameters).symmetrized()
            }
            // A round spends privacy whether or not anyone was sampled.
            ledger = [PrivacyLedgerEntry(samplingRate: samplingRate, noiseMultiplier: noiseMultiplier, rounds: round)]
            roundsRun = round
        }
        let spent = try RDPAccountant().epsilon(for: ledger, delta: 1e-5).epsilon
        #expect(spent <= 8)
        #expect(roundsRun < 40)
        #expect(refusal?.contains("above the budget ε = 8.0") == true)

        var faces = Faces(seed: 4242)
        let heldOut = faces.heldOut(people: 100)
        let before = try EvaluationReport(adapter: Adapter.identity(dimension: 16), pairs: heldOut, targetFMR: targetFMR)
        let after = try EvaluationReport(adapter: global, pairs: heldOut, targetFMR: targetFMR)
        #expect(after.passesGate(comparedWith: before))
        #expect(global.hasSymmetricWeights)

        let statement = try PrivacyStatement(clippingNorm: clippingNorm, noiseMultiplier: noiseMultiplier, samplingRate: samplingRate,
                                             releaseRounds: roundsRun, ledger: ledger, delta: 1e-5,
                                             dimension: global.parameterCount)
        // The statement accounts for the grid (multiplier σ/Δ, a little below z), so it is a
        // little above the budget's continuous figure, and equal to the accountant at σ/Δ.
        let effectiveLedger = [PrivacyLedgerEntry(samplingRate: samplingRate, noiseMultiplier: statement.effectiveNoiseMultiplier,
                                                  rounds: roundsRun)]
        #expect(statement.cumulativeEpsilonRDP == (try RDPAccountant().epsilon(for: effectiveLedger, delta: 1e-5).epsilon))
        #expect(statement.cumulativeEpsilonRDP >= spent)
        #expect(statement.cumulativeEpsilonRDP - spent < 1e-3 * spent)
        #expect(statement.cumulativeEpsilonPLD < statement.cumulativeEpsilonRDP)
    }
}
