import ArgumentParser
import FaceVerification
import Federation
import FederationCore
import Foundation
import SeededRandom
import SimulatedCapture

/// Federated adaptation over real faces with simulated kiosk conditions: FNMR at FMR 1e-3 on
/// held-out people before and after DP-FedAvg rounds of the tail loss against a public
/// impostor set, with the ε spent, and the shadow comparison the server would make before
/// promoting the trained adapter.
struct FederationSimulation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "federation-simulation",
        abstract: "Simulate federated adapter training on a folder of faces (LFW layout) under low light, blur and colour cast.")

    @Option(help: "Folder of people (DIR/Person/Person_000N.jpg, at least 6 photos each).") var faces: String
    @Option(help: "The model directory (scripts/fetch-models.sh).") var models = "models"
    @Option(help: "Descriptor cache (JSON); computed once, reused by later runs.") var cache = "federation-simulation-descriptors.json"
    @Option(name: .customLong("people-per-kiosk")) var peoplePerKiosk = 2
    @Option(help: "Copies of every kiosk; copies after the first train on their genuine pairs resampled with replacement (larger simulated fleets).")
    var replicas = 1
    @Option(help: "Shifts the split of the people (0…9); 0 keeps the test people of earlier runs.") var rotation = 0
    @Option var rounds = 10
    @Option(name: .customLong("clipping-norm")) var clippingNorm = 0.5
    @Option(name: .customLong("noise-multiplier"), help: "z; 0 runs without noise, the non-private reference.") var noiseMultiplier = 2.0
    @Option(name: .customLong("sampling-rate")) var samplingRate = 1.0
    @Option var delta = 1e-6
    @Option(name: .customLong("learning-rate")) var learningRate = 0.05
    @Option var epochs = 2
    @Option(name: .customLong("batch-size")) var batchSize = 32
    @Option(name: .customLong("server-learning-rate")) var serverLearningRate = 1.0
    @Option(name: .customLong("loss-scale"), help: "The tail loss's scale on the score gap.") var lossScale = 32.0
    @Option(name: .customLong("tail-fraction"), help: "Share of the impostor scores that forms the tail.") var tailFraction = 0.005
    @Flag(name: .customLong("train-on-refused"), help: "Rounds train from the newest candidate even when the gate refused it; the gate still decides what is released.")
    var trainOnRefused = false
    @Flag(help: "Central reference: each round trains once on every kiosk's pairs pooled, no clipping, no noise, same gate.")
    var central = false
    @Option var seed: UInt64 = 1
    @Option(name: .customLong("comparison-seed"), help: "Seeds the split of the test people into calibration and evaluation halves and the subjects bootstrap of the shadow comparison.")
    var comparisonSeed: UInt64 = 1
    @Flag(name: .customLong("skip-shadow-comparison")) var skipShadowComparison = false
    @Flag var json = false

    static let targetFMR = 1e-3

    struct Round: Codable {
        var round: Int
        var kiosks: Int
        /// ‖mean of the clipped updates‖ over the fixed denominator: the step without noise.
        var signalNorm: Double
        /// Mean ‖Δ‖ of the kiosks' updates before clipping (0 for the central reference).
        var meanUpdateNorm: Double
        /// ‖candidate − kept‖ after noise and symmetrisation.
        var stepNorm: Double
        var candidateValidationFNMR: Double
        var kept: Bool
    }

    struct Figures: Codable {
        var kiosks: Int
        var replicas: Int
        var peoplePerKiosk: Int
        var rotation: Int
        var central: Bool
        var trainOnRefused: Bool
        var publicImpostorDescriptors: Int
        var validationGenuine: Int
        var validationImpostor: Int
        var testGenuine: Int
        var testImpostor: Int
        var validationFNMRBefore: Double
        var validationFNMRAfter: Double
        var fnmrBefore: Double
        var fnmrAfter: Double
        var thresholdBefore: Double
        var thresholdAfter: Double
        var relativeCut: Double
        var roundsRun: Int
        var roundsAccepted: Int
        var history: [Round]
        /// nil without noise (z = 0): no privacy guarantee, the non-private reference.
        var epsilonRDP: Double?
        var epsilonPLD: Double?
        var delta: Double
        var clippingNorm: Double
        var noiseMultiplier: Double
        var samplingRate: Double
        /// nil when a threshold could not be computed (`shadowRefusal` says why) or skipped.
        var shadowComparison: ShadowComparison.Figures?
        var shadowRefusal: String?
    }

    func run() throws {
        let descriptors = try FaceDescriptors.load(folder: faces, models: models, cache: cache) {
            KioskCondition.adaptationConditions[$0 % KioskCondition.adaptationConditions.count]
        }
        let population = try KioskPopulation(descriptors: descriptors, peoplePerKiosk: peoplePerKiosk, rotation: rotation,
                                             replicas: replicas, seed: seed)
        let loss = ImpostorTailLoss(scale: lossScale, tailFraction: tailFraction)
        let training = LocalTrainingConfiguration(learningRate: learningRate, epochs: epochs, batchSize: batchSize, loss: loss)
        var generator = SeededGenerator(seed: seed)
        // `released` is what kiosks decide with; `global` is what the next round trains from.
        var global = Adapter.identity()
        var released = global
        let before = try EvaluationReport(adapter: global, pairs: population.test, targetFMR: Self.targetFMR)
        var kept = try EvaluationReport(adapter: global, pairs: population.validation, targetFMR: Self.targetFMR)
        let validationBefore = kept
        var accepted = 0
        var history: [Round] = []
        let kioskIDs = population.kiosks.indices.map(String.init)
        let pooled = population.kiosks.flatMap { $0 }
        for round in 1...rounds {
            let candidate: Adapter
            var signalNorm = 0.0, participants = 0, rawNorms = 0.0
            if central {
                var configuration = training
                configuration.seed = generator.next()
                candidate = try LocalTraining(configuration: configuration).train(from: global, on: pooled, impostors: population.publicImpostors).adapter
                participants = population.kiosks.count
            } else {
                var strategy = DPFedAvg(clippingNorm: clippingNorm, noiseMultiplier: noiseMultiplier,
                                        expectedClientCount: samplingRate * Double(population.kiosks.count),
                                        noise: DiscreteGaussianNoise(generator: SeededGenerator(seed: generator.next())),
                                        serverStep: PlainServerStep(learningRate: serverLearningRate))
                let context = RoundContext(roundNumber: round, eligibleClients: kioskIDs, samplingRate: samplingRate,
                                           localTraining: training, clippingNorm: clippingNorm)
                let plan = strategy.configureRound(context, using: &generator)
                guard !plan.selectedClients.isEmpty else { continue }
                var updates: [ClientUpdate] = []
                var sum = [Double](repeating: 0, count: global.parameterCount)
                for client in plan.selectedClients {
                    guard let index = Int(client) else { continue }
                    let pairs = population.kiosks[index]
                    let local = try LocalTraining(configuration: plan.localTraining).train(from: global, on: pairs, impostors: population.publicImpostors)
                    let raw = try ModelUpdate(local: local.adapter, global: global, exampleCount: pairs.count)
                    rawNorms += raw.norm
                    let update = try raw.clipped(toNorm: clippingNorm)
                    for (index, value) in update.values.enumerated() { sum[index] += Double(value) }
                    updates.append(ClientUpdate(clientID: client, update: update))
                }
                let denominator = samplingRate * Double(population.kiosks.count)
                signalNorm = sum.reduce(0) { $0 + ($1 / denominator) * ($1 / denominator) }.squareRoot() * serverLearningRate
                participants = updates.count
                let outcome = try strategy.aggregate(round: round, global: global.parameters, updates: UpdateMatrix(updates: updates))
                // Noise is drawn for every coordinate; averaging W with its transpose is
                // post-processing and keeps the released W symmetric.
                candidate = try global.replacingParameters(with: outcome.parameters).symmetrized()
            }
            let stepNorm = zip(candidate.parameters, global.parameters).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            // The gate: FNMR at the operating point on the validation people, strictly better or not released.
            let report = try EvaluationReport(adapter: candidate, pairs: population.validation, targetFMR: Self.targetFMR)
            let keep = report.passesGate(comparedWith: kept)
            if keep {
                released = candidate
                kept = report
                accepted += 1
            }
            global = trainOnRefused ? candidate : released
            history.append(Round(round: round, kiosks: participants, signalNorm: signalNorm,
                                 meanUpdateNorm: participants > 0 && !central ? rawNorms / Double(participants) : 0, stepNorm: stepNorm,
                                 candidateValidationFNMR: report.falseNonMatchRate, kept: keep))
            if !json {
                FileHandle.standardError.write(Data((String(
                    format: "round %d: %d kiosks, mean update norm %.4f, step without noise %.4f, with noise %.4f; validation FNMR %.4f ",
                    round, participants, history.last?.meanUpdateNorm ?? 0, signalNorm, stepNorm, report.falseNonMatchRate)
                    + (keep ? "released" : "refused") + String(format: " (kept %.4f)\n", kept.falseNonMatchRate)).utf8))
            }
        }
        let after = try EvaluationReport(adapter: released, pairs: population.test, targetFMR: Self.targetFMR)
        var shadow: ShadowComparison.Figures?
        var shadowRefusal: String?
        if !skipShadowComparison {
            do {
                shadow = try ShadowComparison(seed: comparisonSeed).compare(people: population.testPeople, current: Adapter.identity(), candidate: released)
            } catch let refusal as ShadowComparison.Refusal {
                shadowRefusal = refusal.description
            }
        }
        let statement = central || noiseMultiplier == 0 ? nil : try PrivacyStatement(
            clippingNorm: clippingNorm, noiseMultiplier: noiseMultiplier, samplingRate: samplingRate, releaseRounds: rounds,
            ledger: [PrivacyLedgerEntry(samplingRate: samplingRate, noiseMultiplier: noiseMultiplier, rounds: rounds)], delta: delta)
        let figures = Figures(
            kiosks: population.kiosks.count, replicas: replicas, peoplePerKiosk: peoplePerKiosk, rotation: rotation, central: central,
            trainOnRefused: trainOnRefused,
            publicImpostorDescriptors: population.publicImpostors.count,
            validationGenuine: validationBefore.genuinePairs, validationImpostor: validationBefore.impostorPairs,
            testGenuine: before.genuinePairs, testImpostor: before.impostorPairs,
            validationFNMRBefore: validationBefore.falseNonMatchRate, validationFNMRAfter: kept.falseNonMatchRate,
            fnmrBefore: before.falseNonMatchRate, fnmrAfter: after.falseNonMatchRate, thresholdBefore: before.threshold,
            thresholdAfter: after.threshold,
            relativeCut: before.falseNonMatchRate > 0 ? 1 - after.falseNonMatchRate / before.falseNonMatchRate : 0,
            roundsRun: rounds, roundsAccepted: accepted, history: history,
            epsilonRDP: statement?.cumulativeEpsilonRDP, epsilonPLD: statement?.cumulativeEpsilonPLD,
            delta: delta, clippingNorm: clippingNorm, noiseMultiplier: central ? 0 : noiseMultiplier, samplingRate: samplingRate,
            shadowComparison: shadow, shadowRefusal: shadowRefusal)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(figures), as: UTF8.self))
            return
        }
        print("\(figures.kiosks) kiosks (\(peoplePerKiosk) people each, \(replicas) copies), \(figures.publicImpostorDescriptors) public impostor descriptors; "
            + "validation: \(figures.validationGenuine) genuine, \(figures.validationImpostor) impostor pairs; test: \(figures.testGenuine) genuine, \(figures.testImpostor) impostor pairs")
        print(String(format: "validation FNMR at FMR 1e-3: %.4f → %.4f", figures.validationFNMRBefore, figures.validationFNMRAfter))
        print(String(format: "test FNMR at FMR 1e-3: %.4f → %.4f (relative cut %.1f %%), %d of %d rounds released by the gate",
                     figures.fnmrBefore, figures.fnmrAfter, figures.relativeCut * 100, accepted, rounds))
        if let rdp = figures.epsilonRDP, let pld = figures.epsilonPLD {
            print(String(format: "ε at δ = %g: %.3f (RDP), %.3f (PLD); C = %g, z = %g, q = %g",
                         delta, rdp, pld, clippingNorm, noiseMultiplier, samplingRate))
        } else {
            print(central ? "central reference: no clipping, no noise, no differential privacy" : "no noise (z = 0): no differential privacy; the non-private reference")
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
}

FederationSimulation.main()
