import ArgumentParser
import FaceVerification
import Federation
import FederationCore
import Foundation
import SeededRandom

/// Federated adaptation over real faces with simulated kiosk conditions: FNMR at FMR 1e-3 on
/// held-out people before and after DP-FedAvg rounds, with the ε spent, and the shadow
/// comparison the server would make before promoting the trained adapter.
struct FederationSimulation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "federation-simulation",
        abstract: "Simulate federated adapter training on a folder of faces (LFW layout) under low light, blur and colour cast.")

    @Option(help: "Folder of people (DIR/Person/Person_000N.jpg, at least 6 photos each).") var faces: String
    @Option(help: "The model directory (scripts/fetch-models.sh).") var models = "models"
    @Option(help: "Descriptor cache (JSON); computed once, reused by later runs.") var cache = "federation-simulation-descriptors.json"
    @Option(name: .customLong("people-per-kiosk")) var peoplePerKiosk = 2
    @Option var rounds = 30
    @Option(name: .customLong("clipping-norm")) var clippingNorm = 0.5
    @Option(name: .customLong("noise-multiplier"), help: "z; 0 runs without noise, the non-private reference.") var noiseMultiplier = 2.0
    @Option(name: .customLong("sampling-rate")) var samplingRate = 1.0
    @Option var delta = 1e-6
    @Option(name: .customLong("learning-rate")) var learningRate = 0.05
    @Option var epochs = 2
    @Option(name: .customLong("server-learning-rate")) var serverLearningRate = 1.0
    @Option(name: .customLong("loss-scale"), help: "s of the cosine pair loss.") var lossScale = 32.0
    @Option(name: .customLong("loss-margin"), help: "m of the cosine pair loss; near the operating threshold focuses training there.")
    var lossMargin = 0.91
    @Option var seed: UInt64 = 1
    @Option(name: .customLong("comparison-seed"), help: "Seeds the split of the test people into calibration and evaluation halves and the subjects bootstrap of the shadow comparison.")
    var comparisonSeed: UInt64 = 1
    @Flag var json = false

    struct Figures: Codable {
        var kiosks: Int
        var validationPairs: Int
        var testGenuine: Int
        var testImpostor: Int
        var fnmrBefore: Double
        var fnmrAfter: Double
        var thresholdBefore: Double
        var thresholdAfter: Double
        var relativeCut: Double
        var roundsRun: Int
        var roundsAccepted: Int
        /// nil without noise (z = 0): no privacy guarantee, the non-private reference.
        var epsilonRDP: Double?
        var epsilonPLD: Double?
        var delta: Double
        var clippingNorm: Double
        var noiseMultiplier: Double
        var samplingRate: Double
        /// nil when a threshold could not be computed (`shadowRefusal` says why).
        var shadowComparison: ShadowComparison.Figures?
        var shadowRefusal: String?
    }

    func run() throws {
        let descriptors = try FaceDescriptors.load(folder: faces, models: models, cache: cache) {
            CaptureCondition.allCases[$0 % CaptureCondition.allCases.count]
        }
        let population = KioskPopulation(descriptors: descriptors, peoplePerKiosk: peoplePerKiosk)
        let loss = CosinePairLoss(scale: lossScale, margin: lossMargin)
        var generator = SeededGenerator(seed: seed)
        var global = Adapter.identity()
        let before = try Self.fnmr(population.test, adapter: global)
        var accepted = 0
        var validationLoss = try loss.meanValue(adapter: global, pairs: population.validation)
        let kioskIDs = population.kiosks.indices.map(String.init)
        for round in 1...rounds {
            var strategy = DPFedAvg(clippingNorm: clippingNorm, noiseMultiplier: noiseMultiplier,
                                    expectedClientCount: samplingRate * Double(population.kiosks.count),
                                    noise: DiscreteGaussianNoise(generator: SeededGenerator(seed: generator.next())),
                                    serverStep: PlainServerStep(learningRate: serverLearningRate))
            let context = RoundContext(roundNumber: round, eligibleClients: kioskIDs, samplingRate: samplingRate,
                                       localTraining: LocalTrainingConfiguration(learningRate: learningRate, epochs: epochs, loss: loss),
                                       clippingNorm: clippingNorm)
            let plan = strategy.configureRound(context, using: &generator)
            guard !plan.selectedClients.isEmpty else { continue }
            var updates: [ClientUpdate] = []
            var updateNorms = 0.0
            for client in plan.selectedClients {
                guard let index = Int(client) else { continue }
                let pairs = population.kiosks[index]
                let local = try LocalTraining(configuration: plan.localTraining).train(from: global, on: pairs)
                let raw = try ModelUpdate(local: local.adapter, global: global, exampleCount: pairs.count)
                updateNorms += raw.norm
                let update = try raw.clipped(toNorm: clippingNorm)
                updates.append(ClientUpdate(clientID: client, update: update))
            }
            let outcome = try strategy.aggregate(round: round, global: global.parameters, updates: UpdateMatrix(updates: updates))
            let candidate = try global.replacingParameters(with: outcome.parameters)
            // The evaluation gate: keep the candidate only if the validation loss does not rise.
            let candidateLoss = try loss.meanValue(adapter: candidate, pairs: population.validation)
            if candidateLoss <= validationLoss {
                global = candidate
                validationLoss = candidateLoss
                accepted += 1
            }
            if !json {
                let meanNorm = updateNorms / Double(updates.count)
                FileHandle.standardError.write(Data("round \(round): \(updates.count) kiosks, mean update norm before clipping \(meanNorm), validation loss \(candidateLoss) (kept \(validationLoss))\n".utf8))
            }
        }
        let after = try Self.fnmr(population.test, adapter: global)
        var shadow: ShadowComparison.Figures?
        var shadowRefusal: String?
        do {
            shadow = try ShadowComparison(seed: comparisonSeed).compare(people: population.testPeople, current: Adapter.identity(), candidate: global)
        } catch let refusal as ShadowComparison.Refusal {
            shadowRefusal = refusal.description
        }
        let statement = noiseMultiplier == 0 ? nil : try PrivacyStatement(
            clippingNorm: clippingNorm, noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, releaseRounds: rounds,
            ledger: [PrivacyLedgerEntry(samplingRate: samplingRate, noiseMultiplier: noiseMultiplier, rounds: rounds)], delta: delta)
        let figures = Figures(
            kiosks: population.kiosks.count, validationPairs: population.validation.count,
            testGenuine: population.test.filter(\.isGenuine).count, testImpostor: population.test.filter { !$0.isGenuine }.count,
            fnmrBefore: before.falseNonMatchRate, fnmrAfter: after.falseNonMatchRate, thresholdBefore: before.threshold,
            thresholdAfter: after.threshold,
            relativeCut: before.falseNonMatchRate > 0 ? 1 - after.falseNonMatchRate / before.falseNonMatchRate : 0,
            roundsRun: rounds, roundsAccepted: accepted, epsilonRDP: statement?.cumulativeEpsilonRDP, epsilonPLD: statement?.cumulativeEpsilonPLD,
            delta: delta, clippingNorm: clippingNorm, noiseMultiplier: noiseMultiplier, samplingRate: samplingRate,
            shadowComparison: shadow, shadowRefusal: shadowRefusal)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(figures), as: UTF8.self))
            return
        }
        print("\(figures.kiosks) kiosks; test: \(figures.testGenuine) genuine, \(figures.testImpostor) impostor pairs")
        print(String(format: "FNMR at FMR 1e-3: %.4f → %.4f (relative cut %.1f %%), %d of %d rounds kept by the gate",
                     figures.fnmrBefore, figures.fnmrAfter, figures.relativeCut * 100, accepted, rounds))
        if let rdp = figures.epsilonRDP, let pld = figures.epsilonPLD {
            print(String(format: "ε at δ = %g: %.3f (RDP), %.3f (PLD); C = %g, z = %g, q = %g",
                         delta, rdp, pld, clippingNorm, noiseMultiplier, samplingRate))
        } else {
            print("no noise (z = 0): no differential privacy; the non-private reference")
        }
        if let shadow {
            Self.printShadowComparison(shadow)
        } else if let shadowRefusal {
            print("shadow comparison: refused: \(shadowRefusal)")
        }
    }

    static func printShadowComparison(_ shadow: ShadowComparison.Figures) {
        let comparison = shadow.comparison
        func rate(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "—" }
        func signed(_ value: Double?) -> String { value.map { String(format: "%+.4f", $0) } ?? "—" }
        func scientific(_ value: Double?) -> String { value.map { String(format: "%.2e", $0) } ?? "—" }
        func threshold(_ name: String, _ value: ShadowComparison.CalibratedThreshold) -> String {
            "  \(name) threshold " + String(format: "%.4f (Clopper–Pearson %.4f, subjects bootstrap %.4f)",
                                             value.threshold, value.clopperPearson, value.subjectBootstrap)
        }
        print("shadow comparison (seed \(shadow.seed)): current = identity adapter, candidate = trained adapter")
        print("thresholds at FMR \(comparison.targetFMR) on the calibration half (\(shadow.calibrationPeople) people, "
            + "\(shadow.calibrationGenuine) genuine, \(shadow.calibrationImpostor) impostor pairs), the larger of Clopper–Pearson's "
            + "and the subjects bootstrap's (\(shadow.bootstrap.resamples) resamples, spread \(shadow.bootstrap.spread)):")
        print(threshold("current  ", shadow.currentThreshold))
        print(threshold("candidate", shadow.candidateThreshold))
        print("paired on the evaluation half (\(shadow.evaluationPeople) people, \(comparison.genuineAttempts) genuine, "
            + "\(comparison.impostorAttempts) impostor pairs), each model at its own threshold:")
        print("  FNMR current \(rate(comparison.currentFNMR)), candidate \(rate(comparison.candidateFNMR)); "
            + "McNemar b = \(comparison.candidateWorse), c = \(comparison.candidateBetter), p = \(String(format: "%.4g", comparison.mcnemarPValue))")
        print("  FNMR difference (candidate − current) \(signed(comparison.fnmrDifference)), subjects bootstrap bounds "
            + "[\(signed(comparison.fnmrDifferenceLowerBound)), \(signed(comparison.fnmrDifferenceUpperBound))] at \(comparison.confidence), margin \(comparison.margin)")
        print("  FMR current \(scientific(comparison.currentFMR)) (subject-level bound \(scientific(comparison.currentFMRUpperBound))), "
            + "candidate \(scientific(comparison.candidateFMR)) (bound \(scientific(comparison.candidateFMRUpperBound)))")
        print("decision: \(comparison.decision.rawValue)")
        print("  \(comparison.reason)")
    }

    /// FNMR at FMR 1e-3 of the cosine between adapted template and adapted probe.
    static func fnmr(_ pairs: [LabelledPair], adapter: Adapter) throws -> VerificationErrorRates.OperatingPoint {
        var genuine: [Double] = [], impostor: [Double] = []
        for pair in pairs {
            let score = try ShadowComparison.score(pair, adapter: adapter)
            if pair.isGenuine { genuine.append(score) } else { impostor.append(score) }
        }
        return try VerificationErrorRates(genuine: genuine, impostor: impostor).falseNonMatchRate(atFalseMatchRate: 1e-3)
    }
}

FederationSimulation.main()
