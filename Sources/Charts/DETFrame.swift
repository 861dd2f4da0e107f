import Calibration

/// The square of a DET chart: false match rate across, false non-match rate up, both on the
/// normal-deviate (probit) scale of bob.measure's `ppndf`, as NIST DETware draws it, so that
/// normally distributed scores give straight lines. The pages' chart and `faceloop curves`
/// differ in size, ticks and what they do with rates beyond the axis; the scale is this one.
struct DETFrame: Sendable {
    let left: Double, top: Double, side: Double
    private let lowDeviate: Double, highDeviate: Double

    /// A square of `side` units at (`left`, `top`) whose axes run from `lowestRate` (left,
    /// bottom) to `highestRate` (right, top).
    init(left: Double, top: Double, side: Double, lowestRate: Double, highestRate: Double) {
        self.left = left
        self.top = top
        self.side = side
        lowDeviate = ErrorRates.normalDeviate(lowestRate)
        highDeviate = ErrorRates.normalDeviate(highestRate)
    }

    var right: Double { left + side }
    var bottom: Double { top + side }

    /// How far along an axis a normal deviate lies: 0 at the lowest rate, 1 at the highest,
    /// below 0 or above 1 beyond them.
    func share(ofDeviate deviate: Double) -> Double {
        (deviate - lowDeviate) / (highDeviate - lowDeviate)
    }

    func share(ofRate rate: Double) -> Double {
        share(ofDeviate: ErrorRates.normalDeviate(rate))
    }

    func x(share: Double) -> Double { left + share * side }

    func y(share: Double) -> Double { top + side - share * side }

    /// The dashed FMR = FNMR diagonal, where every curve's equal error rate lies, and the
    /// square's outline.
    func diagonalAndOutline(stroke: String) -> [String] {
        let n = SVGDocument.number
        return [
            "<line x1=\"\(n(left))\" y1=\"\(n(bottom))\" x2=\"\(n(right))\" y2=\"\(n(top))\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>",
            "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(side))\" height=\"\(n(side))\" fill=\"none\" stroke=\"\(stroke)\"/>",
        ]
    }
}
