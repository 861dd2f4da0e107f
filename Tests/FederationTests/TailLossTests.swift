import Federation
import FederationCore
import Foundation
import SeededRandom
import TestSupport
import Testing

/// The tail loss against a public impostor set, symmetric local training and the
/// operating-point gate.
@Suite struct TailLossTests {
    /// Identities live in the first `signal` dimensions; the rest is per-capture nuisance, so
    /// the identity adapter is far from optimal and training has something to learn.
    struct World {
        var genuine: [LabelledPair]
        var impostors: PublicImpostorSet
        var heldOut: [LabelledPair]
    }

    static func world(dimension: Int = 8, signal: Int = 3, people: Int = 12, publicPeople: Int = 40, seed: UInt64) throws -> World {
        var gaussian = SeededGaussianNoise(generator: SeededGenerator(seed: seed))
        func identity() -> [Float] { (0..<signal).map { _ in Float(gaussian.nextStandardNormal()) } }
        func capture(_ identity: [Float]) -> [Float] {
            identity.map { $0 + 0.3 * Float(gaussian.nextStandardNormal()) }
                + (signal..<dimension).map { _ in 1.2 * Float(gaussian.nextStandardNormal()) }
        }
        let kioskPeople = (0..<people).map { _ in identity() }
        let genuine = kioskPeople.flatMap { person in
            (0..<3).map { _ in LabelledPair(first: capture(person), second: capture(person), isGenuine: true) }
        }
        let impostors = try PublicImpostorSet(descriptors: (0..<publicPeople).map { _ in capture(identity()) }, dimension: dimension)
        let heldOutPeople = (0..<60).map { _ in (identity(), identity()) }
        let heldOut = heldOutPeople.flatMap { person, other in
            [LabelledPair(first: capture(person), second: capture(person), isGenuine: true)]
                + (0..<20).map { _ in LabelledPair(first: capture(person), second: capture(identity()), isGenuine: false) }
                + [LabelledPair(first: capture(other), second: capture(person), isGenuine: false)]
        }
        return World(genuine: genuine, impostors: impostors, heldOut: heldOut)
    }

    /// The analytic gradient against central finite differences of the loss itself, on a
    /// perturbed, non-symmetric adapter with bias so that no term is trivially zero. The tail
    /// is re-chosen at every evaluation; the step is small enough that it does not change.
    @Test func gradientMatchesFiniteDifferences() throws {
        let dimension = 6
        let world = try Self.world(dimension: dimension, signal: 2, people: 3, publicPeople: 30, seed: 17)
        var generator = SeededGenerator(seed: 11)
        let start = try Adapter.identity(dimension: dimension, withBias: true)
            .applying(delta: (0..<(dimension * dimension + dimension)).map { _ in Float.random(in: -0.3...0.3, using: &generator) })
        let loss = ImpostorTailLoss(scale: 8, tailFraction: 0.05)
        let pairs = world.genuine[...]
        #expect(loss.tailCount(of: pairs.count * world.impostors.count) == 14)
        let (_, gradient) = try loss.valueAndGradient(adapter: start, genuine: pairs, impostors: world.impostors)
        let step: Float = 2e-3
        var worst = 0.0
        for index in 0..<start.parameterCount {
            var plus = [Float](repeating: 0, count: start.parameterCount)
            plus[index] = step
            let up = try loss.value(adapter: start.applying(delta: plus), genuine: pairs, impostors: world.impostors)
            let down = try loss.value(adapter: start.applying(delta: plus.map { -$0 }), genuine: pairs, impostors: world.impostors)
            let numeric = (up - down) / (2 * Double(step))
            worst = max(worst, abs(numeric - Double(gradient[index])))
        }
        let largest = gradient.map { abs(Double($0)) }.max() ?? 0
        #expect(largest > 1e-2)
        #expect(worst <= 5e-3 * largest, "worst absolute gradient error \(worst) against max |g| \(largest)")
    }

    @Test func onlyTheTailCounts() throws {
        // One genuine pair at cosine 0.8; public impostors at cosines 0.9, 0.5, 0.1, … from
        // the probe. With a tail of one score, only the 0.9 impostor enters the loss.
        func unit(_ angle: Double) -> [Float] { [Float(cos(angle)), Float(sin(angle))] }
        let probe = unit(0)
        let pair = LabelledPair(first: unit(acos(0.8)), second: probe, isGenuine: true)
        let impostors = try PublicImpostorSet(descriptors: [0.9, 0.5, 0.1, -0.3].map { unit(-acos($0)) }, dimension: 2)
        let loss = ImpostorTailLoss(scale: 10, tailFraction: 0.25)
        let value = try loss.value(adapter: .identity(dimension: 2), genuine: [pair][...], impostors: impostors)
        #expect(abs(value - log1p(exp(10 * (0.9 - 0.8)))) < 1e-5)
        // Moving the easy impostors changes nothing.
        let easier = try PublicImpostorSet(descriptors: [0.9, -0.5, -0.6, -0.7].map { unit(-acos($0)) }, dimension: 2)
        #expect(abs(try loss.value(adapter: .identity(dimension: 2), genuine: [pair][...], impostors: easier) - value) < 1e-6)
    }

    @Test func trainingKeepsWSymmetricLowersTheLossAndIsDeterministic() throws {
        let world = try Self.world(seed: 3)
        let configuration = LocalTrainingConfiguration(learningRate: 0.2, epochs: 4, batchSize: 8,
                                                       loss: ImpostorTailLoss(scale: 8, tailFraction: 0.02), seed: 9)
        let global = Adapter.identity(dimension: 8)
        let first = try LocalTraining(configuration: configuration).train(from: global, on: world.genuine, impostors: world.impostors)
        #expect(first.adapter != global)
        #expect(first.adapter.hasSymmetricWeights)
        #expect(first.lossAfter < first.lossBefore)
        #expect(first.steps == 4 * 5)
        #expect(first == (try LocalTraining(configuration: configuration).train(from: global, on: world.genuine, impostors: world.impostors)))

        // From a non-symmetric W, training moves only the symmetric part: W − Wᵀ is unchanged.
        var generator = SeededGenerator(seed: 4)
        let skewed = try global.applying(delta: (0..<64).map { _ in Float.random(in: -0.2...0.2, using: &generator) })
        let trained = try LocalTraining(configuration: configuration).train(from: skewed, on: world.genuine, impostors: world.impostors).adapter
        for row in 0..<8 {
            for column in 0..<8 {
                let before = skewed.weights[row * 8 + column] - skewed.weights[column * 8 + row]
                let after = trained.weights[row * 8 + column] - trained.weights[column * 8 + row]
                #expect(abs(before - after) < 1e-5)
            }
        }
    }

    @Test func symmetrizedAveragesWWithItsTranspose() throws {
        let adapter = try Adapter(dimension: 2, weights: [1, 2, 4, 3], bias: [5, 6])
        let symmetric = try adapter.symmetrized()
        #expect(symmetric.weights == [1, 3, 3, 3])
        #expect(symmetric.bias == [5, 6])
        #expect(symmetric.hasSymmetricWeights && !adapter.hasSymmetricWeights)
    }

    @Test func trainingMakesTheHeldOutOperatingPointBetter() throws {
        let world = try Self.world(seed: 5)
        let configuration = LocalTrainingConfiguration(learningRate: 0.2, epochs: 20, batchSize: 36,
                                                       loss: ImpostorTailLoss(scale: 8, tailFraction: 0.02), seed: 1)
        let global = Adapter.identity(dimension: 8)
        let trained = try LocalTraining(configuration: configuration).train(from: global, on: world.genuine, impostors: world.impostors).adapter
        let before = try FedAvg().evaluate(candidate: global, on: world.heldOut, targetFMR: 0.01)
        let after = try FedAvg().evaluate(candidate: trained, on: world.heldOut, targetFMR: 0.01)
        #expect(after.falseNonMatchRate < before.falseNonMatchRate)
        #expect(after.passesGate(comparedWith: before))
    }

    /// FNMR at the target FMR on pairs whose cosines are set by angle: 2,000 impostors, so
    /// at FMR 1e-3 two may pass and the threshold sits just above the third highest.
    @Test func operatingPointMatchesAHandCount() throws {
        func pair(_ cosine: Double, genuine: Bool) -> LabelledPair {
            LabelledPair(first: [1, 0], second: [Float(cosine), Float((1 - cosine * cosine).squareRoot())], isGenuine: genuine)
        }
        var pairs = (0..<2000).map { pair(Double($0) / 4000, genuine: false) }   // 0 … 0.49975
        pairs.append(pair(0.9, genuine: false))
        pairs.append(pair(0.8, genuine: false))                                   // 2,002 impostors: 2 may pass
        pairs += [0.95, 0.6, 0.52, 0.45, 0.2].map { pair($0, genuine: true) }
        let report = try EvaluationReport(adapter: .identity(dimension: 2), pairs: pairs, targetFMR: 1e-3)
        #expect(report.impostorPairs == 2002 && report.genuinePairs == 5)
        #expect(abs(report.threshold - 0.49975) < 1e-6 && report.threshold > 0.49975 - 1e-7)
        #expect(report.falseNonMatchRate == 2.0 / 5)
    }

    /// The gate releases only a strictly better candidate: worse is refused, and so is a tie.
    @Test func gateRefusesAWorseOrEqualCandidate() throws {
        let world = try Self.world(seed: 5)
        let identity = Adapter.identity(dimension: 8)
        // Amplifying the nuisance dimensions makes every score noisier: worse at the operating point.
        var weights = identity.weights
        for index in 3..<8 { weights[index * 8 + index] = 3 }
        let worse = try Adapter(dimension: 8, weights: weights, bias: nil)
        let baseline = try FedAvg().evaluate(candidate: identity, on: world.heldOut, targetFMR: 0.01)
        let worseReport = try FedAvg().evaluate(candidate: worse, on: world.heldOut, targetFMR: 0.01)
        #expect(worseReport.falseNonMatchRate > baseline.falseNonMatchRate)
        #expect(!worseReport.passesGate(comparedWith: baseline))
        #expect(!baseline.passesGate(comparedWith: baseline))
        #expect(baseline.passesGate(comparedWith: worseReport))
        #expect(!baseline.passesGate(comparedWith: worseReport, minimumImprovement: 1))
        // Figures from other pairs or another target are not comparable.
        var other = worseReport
        other.targetFMR = 0.1
        #expect(!baseline.passesGate(comparedWith: other))
    }

    @Test func refusesBadInput() throws {
        let world = try Self.world(seed: 1)
        let global = Adapter.identity(dimension: 8)
        let training = LocalTraining(configuration: LocalTrainingConfiguration())
        #expect(throws: FederationError.empty(what: "genuine training pairs")) {
            try training.train(from: global, on: world.heldOut.filter { !$0.isGenuine }, impostors: world.impostors)
        }
        #expect(throws: FederationError.self) {
            try ImpostorTailLoss().value(adapter: global, genuine: world.heldOut[...], impostors: world.impostors)
        }
        #expect(throws: FederationError.self) {
            try ImpostorTailLoss(tailFraction: 0).value(adapter: global, genuine: world.genuine[...], impostors: world.impostors)
        }
        #expect(throws: FederationError.self) {
            try training.train(from: .identity(dimension: 4), on: world.genuine, impostors: world.impostors)
        }
        #expect(throws: FederationError.self) { try PublicImpostorSet(descriptors: [[1, .nan]], dimension: 2) }
        #expect(throws: FederationError.self) { try PublicImpostorSet(descriptors: [], dimension: 2) }
        #expect(throws: FederationError.self) { try EvaluationReport(adapter: global, pairs: world.genuine, targetFMR: 1e-3) }
    }
}
