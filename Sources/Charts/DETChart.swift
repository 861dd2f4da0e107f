/// A DET curve of one cohort: false match rate across, false non-match rate up, both on
/// normal-deviate axes from 0.01 % to 50 % (as NIST DETware and bob.measure draw them), with
/// the released and the proposed threshold marked where they sit on the curve.
public struct DETChart: Sendable {
    public struct Point: Sendable, Equatable {
        public var falseMatchRate: Double
        public var falseNonMatchRate: Double

        public init(falseMatchRate: Double, falseNonMatchRate: Double) {
            self.falseMatchRate = falseMatchRate
            self.falseNonMatchRate = falseNonMatchRate
        }
    }

    static let ticks: [Double] = [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]
    static let tickLabels = ["0.01%", "0.1%", "1%", "5%", "20%", "50%"]
    static let width = 300.0, height = 300.0
    static let left = 50.0, top = 12.0, side = 236.0
    static let frame = DETFrame(left: left, top: top, side: side, lowestRate: ticks[0], highestRate: ticks[ticks.count - 1])

    public var title: String
    public var points: [Point]
    public var markers: [ThresholdMarker]

    public init(title: String, points: [Point], markers: [ThresholdMarker]) {
        self.title = title
        self.points = points
        self.markers = markers
    }

    /// Plot coordinates of a rate. Rates outside 0.01 %…50 % are pinned to the frame rather
    /// than cut off: with few attempts a rate of 0 is common, and the curve should still show.
    static func x(_ rate: Double) -> Double {
        frame.x(share: pinned(rate))
    }

    static func y(_ rate: Double) -> Double {
        frame.y(share: pinned(rate))
    }

    private static func pinned(_ rate: Double) -> Double {
        min(1, max(0, frame.share(ofRate: rate)))
    }

    func polylinePoints() -> [String] {
        SVGDocument.polylinePoints(points.lazy.map { (x: Self.x($0.falseMatchRate), y: Self.y($0.falseNonMatchRate)) })
    }

    public func svg() -> String {
        var out = SVGDocument(width: Self.width, height: Self.height + 40, title: title)
        let n = SVGDocument.number
        let bottom = Self.frame.bottom, right = Self.frame.right
        for (tick, label) in zip(Self.ticks, Self.tickLabels) {
            let x = Self.x(tick), y = Self.y(tick)
            out.add("<line x1=\"\(n(x))\" y1=\"\(n(Self.top))\" x2=\"\(n(x))\" y2=\"\(n(bottom))\" stroke=\"#e2e2e2\"/>")
            out.add("<line x1=\"\(n(Self.left))\" y1=\"\(n(y))\" x2=\"\(n(right))\" y2=\"\(n(y))\" stroke=\"#e2e2e2\"/>")
            out.add("<text x=\"\(n(x))\" y=\"\(n(bottom + 14))\" text-anchor=\"middle\">\(label)</text>")
            out.add("<text x=\"\(n(Self.left - 4))\" y=\"\(n(y + 4))\" text-anchor=\"end\">\(label)</text>")
        }
        Self.frame.diagonalAndOutline(stroke: "#555").forEach { out.add($0) }
        out.add("<polyline class=\"curve\" fill=\"none\" stroke=\"#1f4e99\" stroke-width=\"1.5\" points=\"\(polylinePoints().joined(separator: " "))\"/>")
        for marker in markers {
            out.add("<circle class=\"threshold\" data-kind=\"\(marker.kind.rawValue)\" cx=\"\(n(Self.x(marker.falseMatchRate)))\" "
                    + "cy=\"\(n(Self.y(marker.falseNonMatchRate)))\" r=\"5\" fill=\"\(marker.color)\" stroke=\"white\"/>")
        }
        out.add("<text x=\"\(n(Self.left + Self.side / 2))\" y=\"\(n(bottom + 30))\" text-anchor=\"middle\">false match rate</text>")
        let middle = Self.top + Self.side / 2
        out.add("<text x=\"12\" y=\"\(n(middle))\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(n(middle)))\">false non-match rate</text>")
        var legendY = bottom + 44
        for marker in markers {
            out.add("<circle cx=\"\(n(Self.left + 6))\" cy=\"\(n(legendY - 4))\" r=\"4\" fill=\"\(marker.color)\"/>")
            out.add("<text x=\"\(n(Self.left + 14))\" y=\"\(n(legendY))\">\(SVGDocument.escape(marker.label))</text>")
            legendY += 14
        }
        return out.finished()
    }
}
