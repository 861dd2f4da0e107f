/// DET curves on one pair of axes: false match rate across, false non-match rate up, both on
/// normal-deviate axes from 0.01 % to 50 % (as NIST DETware and bob.measure draw them), with
/// thresholds marked where they sit on the curves. One cohort's curve with its released and
/// proposed threshold, or several models on the same attempts, one labelled curve each.
public struct DETChart: Sendable {
    public struct Point: Sendable, Equatable {
        public var falseMatchRate: Double
        public var falseNonMatchRate: Double

        public init(falseMatchRate: Double, falseNonMatchRate: Double) {
            self.falseMatchRate = falseMatchRate
            self.falseNonMatchRate = falseNonMatchRate
        }
    }

    /// One curve. A series with a label gets a legend line; a chart of one curve needs none.
    public struct Series: Sendable, Equatable {
        public var label: String
        public var color: String
        /// Dashed as well as coloured, so that two curves stay apart where they overlap and
        /// for readers who cannot tell the colours apart.
        public var dashed: Bool
        public var points: [Point]

        public init(label: String, color: String, dashed: Bool = false, points: [Point]) {
            self.label = label
            self.color = color
            self.dashed = dashed
            self.points = points
        }
    }

    static let ticks: [Double] = [1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]
    static let tickLabels = ["0.01%", "0.1%", "1%", "5%", "20%", "50%"]
    static let width = 300.0, height = 300.0
    static let left = 50.0, top = 12.0, side = 236.0
    static let frame = DETFrame(left: left, top: top, side: side, lowestRate: ticks[0], highestRate: ticks[ticks.count - 1])
    static let legendLineHeight = 14.0
    /// Legend lines that fit below the axis label without making the chart taller.
    static let legendLinesWithin = 3
    static let curveColor = "#1f4e99"

    public var title: String
    public var series: [Series]
    public var markers: [ThresholdMarker]

    /// One unlabelled curve.
    public init(title: String, points: [Point], markers: [ThresholdMarker]) {
        self.init(title: title, series: [Series(label: "", color: Self.curveColor, points: points)], markers: markers)
    }

    public init(title: String, series: [Series], markers: [ThresholdMarker]) {
        self.title = title
        self.series = series
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

    static func polylinePoints(_ points: [Point]) -> [String] {
        SVGDocument.polylinePoints(points.lazy.map { (x: Self.x($0.falseMatchRate), y: Self.y($0.falseNonMatchRate)) })
    }

    private var labelledSeries: [Series] { series.filter { !$0.label.isEmpty } }

    /// The chart grows downwards by a line for every legend entry beyond the first three.
    var totalHeight: Double {
        let lines = labelledSeries.count + markers.count
        return Self.height + 40 + Double(max(0, lines - Self.legendLinesWithin)) * Self.legendLineHeight
    }

    public func svg() -> String {
        var out = SVGDocument(width: Self.width, height: totalHeight, title: title)
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
        for (index, curve) in series.enumerated() {
            out.add("<polyline class=\"curve\" data-series=\"\(index)\" fill=\"none\" stroke=\"\(SVGDocument.escape(curve.color))\" "
                    + "stroke-width=\"1.5\"\(Self.dash(curve)) points=\"\(Self.polylinePoints(curve.points).joined(separator: " "))\"/>")
        }
        for marker in markers {
            out.add("<circle class=\"threshold\" data-kind=\"\(marker.kind.rawValue)\" cx=\"\(n(Self.x(marker.falseMatchRate)))\" "
                    + "cy=\"\(n(Self.y(marker.falseNonMatchRate)))\" r=\"5\" fill=\"\(SVGDocument.escape(marker.color))\" stroke=\"white\"/>")
        }
        out.add("<text x=\"\(n(Self.left + Self.side / 2))\" y=\"\(n(bottom + 30))\" text-anchor=\"middle\">false match rate</text>")
        let middle = Self.top + Self.side / 2
        out.add("<text x=\"12\" y=\"\(n(middle))\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(n(middle)))\">false non-match rate</text>")
        var legendY = bottom + 44
        for curve in labelledSeries {
            out.add("<line class=\"legend\" x1=\"\(n(Self.left))\" y1=\"\(n(legendY - 4))\" x2=\"\(n(Self.left + 12))\" y2=\"\(n(legendY - 4))\" "
                    + "stroke=\"\(SVGDocument.escape(curve.color))\" stroke-width=\"2\"\(Self.dash(curve))/>")
            out.add("<text x=\"\(n(Self.left + 16))\" y=\"\(n(legendY))\">\(SVGDocument.escape(curve.label))</text>")
            legendY += Self.legendLineHeight
        }
        for marker in markers {
            out.add("<circle cx=\"\(n(Self.left + 6))\" cy=\"\(n(legendY - 4))\" r=\"4\" fill=\"\(SVGDocument.escape(marker.color))\"/>")
            out.add("<text x=\"\(n(Self.left + 16))\" y=\"\(n(legendY))\">\(SVGDocument.escape(marker.label))</text>")
            legendY += Self.legendLineHeight
        }
        return out.finished()
    }

    private static func dash(_ series: Series) -> String {
        series.dashed ? " stroke-dasharray=\"6 3\"" : ""
    }
}
