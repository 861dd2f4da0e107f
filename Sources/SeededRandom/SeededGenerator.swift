/// A small, fast, seedable random number generator (SplitMix64) so that local training,
/// client sampling, simulated fleets and synthetic test data are reproducible: the same seed
/// gives the same stream on every platform.
///
/// Not cryptographically secure: a production server that adds DP noise should inject a
/// generator seeded from the operating system's secure source.
///
/// ```swift
/// var rng = SeededGenerator(seed: 42)
/// let x = Double.random(in: 0..<1, using: &rng)
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    /// The generator's whole state; persisting it resumes the stream exactly.
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
