/// Two face descriptors and the adjudicated truth about them: the same person (genuine) or
/// not (impostor). Kiosk-local training data; it never leaves the kiosk.
public struct LabelledPair: Sendable, Equatable {
    public var first: [Float]
    public var second: [Float]
    public var isGenuine: Bool

    public init(first: [Float], second: [Float], isGenuine: Bool) {
        self.first = first
        self.second = second
        self.isGenuine = isGenuine
    }
}
