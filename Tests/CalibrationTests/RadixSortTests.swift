import SeededRandom
import Testing
@testable import Calibration

@Suite("RadixSort")
struct RadixSortTests {
    @Test("sorts like the standard library: negatives, zeros, infinities, subnormals, ties")
    func matchesStandardSort() {
        var random = SeededGenerator(seed: 77)
        var values = (0..<50_000).map { _ in random.normal(mean: 0, deviation: 10) }
        values += [0.0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
                   .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1e17, 1e17, 3, 3, 3]
        values.shuffle(using: &random)
        let radix = RadixSort.ascending(values)
        #expect(radix.count == values.count)
        #expect(radix == values.sorted(), "equal as doubles (-0.0 == 0.0)")
        #expect(zip(radix, radix.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test("keys sharing digits skip passes without losing order")
    func sharedDigits() {
        let values = (0..<10_000).map { Double($0 % 97) * 0.25 }.reversed()
        #expect(RadixSort.ascending(Array(values)) == values.sorted())
    }
}
