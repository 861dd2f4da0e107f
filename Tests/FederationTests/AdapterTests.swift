import Federation
import FederationCore
import Foundation
import SeededRandom
import Testing

@Suite struct AdapterTests {
    @Test func identityAdapterOnlyNormalises() throws {
        let adapter = Adapter.identity()
        let descriptor: [Float] = (0..<128).map { Float($0 % 7) - 3 }
        let output = try adapter.transform(descriptor)
        let norm = descriptor.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
        #expect(zip(output, descriptor).allSatisfy { abs($0 - $1 / norm) < 1e-6 })
    }

    @Test func affineIsRowMajorWeightsTimesDescriptorPlusBias() throws {
        // W = [[1, 2], [3, 4]] row-major, b = [10, 20]: W·[1, 1] + b = [13, 27].
        let adapter = try Adapter(dimension: 2, weights: [1, 2, 3, 4], bias: [10, 20])
        #expect(try adapter.affine([1, 1]) == [13, 27])
        #expect(adapter.parameters == [1, 2, 3, 4, 10, 20])
    }

    @Test func codableRoundTripAndValidation() throws {
        let adapter = try Adapter.identity(dimension: 3, withBias: true).applying(delta: (0..<12).map { Float($0) / 10 })
        let data = try JSONEncoder().encode(adapter)
        #expect(try JSONDecoder().decode(Adapter.self, from: data) == adapter)
        let truncated = Data(#"{"dimension": 3, "weights": [1, 0, 0, 0, 1, 0, 0, 0]}"#.utf8)
        #expect(throws: FederationError.dimensionMismatch(what: "adapter weights", expected: 9, actual: 8)) {
            try JSONDecoder().decode(Adapter.self, from: truncated)
        }
        #expect(throws: FederationError.self) { try Adapter(dimension: 2, weights: [1, 0, 0, 1], bias: [0]) }
        #expect(throws: FederationError.self) { try Adapter(dimension: 2, weights: [1, .nan, 0, 1], bias: nil) }
    }

    @Test func updateIsLocalMinusGlobalAndClipsWeightsAndBiasTogether() throws {
        let global = Adapter.identity(dimension: 2, withBias: true)
        let local = try global.applying(delta: [3, 0, 0, 0, 0, 4])
        let update = try ModelUpdate(local: local, global: global, exampleCount: 5)
        #expect(update.values == [3, 0, 0, 0, 0, 4])
        #expect(update.norm == 5)
        let clipped = try update.clipped(toNorm: 1)
        #expect(abs(clipped.norm - 1) < 1e-6)
        #expect(abs(clipped.values[0] - 0.6) < 1e-6 && abs(clipped.values[5] - 0.8) < 1e-6)
        #expect(try update.clipped(toNorm: 10) == update)
        #expect(throws: FederationError.self) { try update.clipped(toNorm: 0) }
    }

    /// The analytic gradient of the pair loss against central finite differences of the
    /// loss itself, on a perturbed adapter with bias so that no term is trivially zero.
    @Test func lossGradientMatchesFiniteDifferences() throws {
        let dimension = 6
        var generator = SeededGenerator(seed: 11)
        let start = try Adapter.identity(dimension: dimension, withBias: true)
            .applying(delta: (0..<(dimension * dimension + dimension)).map { _ in Float.random(in: -0.3...0.3, using: &generator) })
        let pairs = syntheticPairs(count: 12, dimension: dimension, noise: 0.8, seed: 5)
        let loss = CosinePairLoss(scale: 4, margin: 0.3)
        let (_, gradient) = try loss.valueAndGradient(adapter: start, pairs: pairs[...])
        let step: Float = 1e-2
        var worst = 0.0
        for index in 0..<start.parameterCount {
            var plus = [Float](repeating: 0, count: start.parameterCount)
            plus[index] = step
            let up = try loss.meanValue(adapter: start.applying(delta: plus), pairs: pairs)
            let down = try loss.meanValue(adapter: start.applying(delta: plus.map { -$0 }), pairs: pairs)
            let numeric = (up - down) / (2 * Double(step))
            worst = max(worst, abs(numeric - Double(gradient[index])))
        }
        let scale = gradient.map { abs(Double($0)) }.max() ?? 0
        #expect(scale > 1e-3)
        #expect(worst <= 2e-3 * scale, "worst absolute gradient error \(worst) against max |g| \(scale)")
    }

    @Test func lossPushesGenuineUpAndImpostorsDown() {
        let loss = CosinePairLoss(scale: 10, margin: 0.5)
        #expect(loss.derivative(cosine: 0.4, isGenuine: true) < 0)
        #expect(loss.derivative(cosine: 0.6, isGenuine: false) > 0)
        #expect(abs(loss.value(cosine: 0.5, isGenuine: true) - log(2)) < 1e-12)
        #expect(loss.value(cosine: 0.9, isGenuine: true) < loss.value(cosine: 0.1, isGenuine: true))
    }

    @Test func localTrainingLowersTheLossAndIsDeterministic() throws {
        let pairs = syntheticPairs(count: 200, dimension: 16, noise: 1.0, seed: 21)
        let global = Adapter.identity(dimension: 16, withBias: true)
        let configuration = LocalTrainingConfiguration(learningRate: 0.5, epochs: 3, batchSize: 16, loss: syntheticLoss, seed: 9)
        let first = try LocalTraining(configuration: configuration).train(from: global, on: pairs)
        let again = try LocalTraining(configuration: configuration).train(from: global, on: pairs)
        #expect(first.lossAfter < first.lossBefore)
        #expect(first.steps == 3 * 13)
        #expect(first == again)
        var otherSeed = configuration
        otherSeed.seed = 10
        let different = try LocalTraining(configuration: otherSeed).train(from: global, on: pairs)
        #expect(different.adapter != first.adapter)
    }

    @Test func localTrainingRefusesBadInput() {
        let global = Adapter.identity(dimension: 4)
        #expect(throws: FederationError.empty(what: "training pairs")) {
            try LocalTraining(configuration: LocalTrainingConfiguration()).train(from: global, on: [])
        }
        let wrongSize = [LabelledPair(first: [1, 2, 3], second: [1, 2, 3, 4], isGenuine: true)]
        #expect(throws: FederationError.self) {
            try LocalTraining(configuration: LocalTrainingConfiguration()).train(from: global, on: wrongSize)
        }
    }
}
