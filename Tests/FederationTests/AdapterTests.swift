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
}
