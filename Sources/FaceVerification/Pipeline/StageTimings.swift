/// Wall-clock milliseconds spent in each stage of the pipeline for one frame.
public struct StageTimings: Sendable, Equatable, Codable {
    public var decodeMilliseconds: Double = 0
    /// `CaptureNormalization` (0 when the policy is the identity).
    public var normalizeMilliseconds: Double = 0
    public var detectMilliseconds: Double = 0
    public var landmarksMilliseconds: Double = 0
    public var chipMilliseconds: Double = 0
    public var descriptorMilliseconds: Double = 0

    public init() {}

    public var totalMilliseconds: Double {
        decodeMilliseconds + normalizeMilliseconds + detectMilliseconds + landmarksMilliseconds + chipMilliseconds + descriptorMilliseconds
    }
}

/// Runs `body` and adds its duration in milliseconds to `milliseconds`.
func measure<T>(_ milliseconds: inout Double, _ body: () throws -> T) rethrows -> T {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try body()
    let elapsed = clock.now - start
    milliseconds += Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    return result
}
