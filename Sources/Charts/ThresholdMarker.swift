/// A threshold drawn on a chart: the one kiosks use now, or the one awaiting approval.
public struct ThresholdMarker: Sendable, Equatable {
    public enum Kind: String, Sendable { case released, proposed }

    public var kind: Kind
    public var label: String
    public var threshold: Double
    public var falseMatchRate: Double
    public var falseNonMatchRate: Double
    /// The kind's colour, unless the marker belongs to one of several curves on a chart: then
    /// it takes that curve's colour, so that each threshold reads as its own model's.
    public var color: String

    public init(kind: Kind, label: String, threshold: Double, falseMatchRate: Double, falseNonMatchRate: Double, color: String? = nil) {
        self.kind = kind
        self.label = label
        self.threshold = threshold
        self.falseMatchRate = falseMatchRate
        self.falseNonMatchRate = falseNonMatchRate
        self.color = color ?? (kind == .released ? "#1b7a3a" : "#c2410c")
    }

    var dash: String { kind == .released ? "" : " stroke-dasharray=\"5 3\"" }
}
