import Calibration

/// A DET plot of several curves as a self-contained SVG document, for `faceloop curves`: FMR
/// across, FNMR up, both on normal-deviate axes from 0.01 % to 50 %, one line per series,
/// the FMR = FNMR diagonal dashed, and a marker per marked threshold. No scripts, fonts or
/// images are referenced, and the same curves always give the same bytes.
///
/// ```swift
/// let plot = DETPlot(series: [.init(label: "lobby", points: rocPoints, markers: [rocAt042])])
/// try plot.svg().write(toFile: "det.svg", atomically: true, encoding: .utf8)
/// ```
public struct DETPlot: Sendable {
    /// One curve.
    public struct Series: Sendable {
        /// The legend text.
        public var label: String
        /// ROC points in threshold order.
        public var points: [CurvePoint]
        /// The rates at each marked threshold; the n-th marker of every series has the same shape.
        public var markers: [CurvePoint]

        public init(label: String, points: [CurvePoint], markers: [CurvePoint]) {
            self.label = label
            self.points = points
            self.markers = markers
        }
    }

    /// Tick positions, as rates; the first and last are the ends of both axes.
    public static let ticks: [Double] = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5]
    static let tickLabels = ["0.01%", "0.02%", "0.05%", "0.1%", "0.2%", "0.5%", "1%", "2%", "5%", "10%", "20%", "50%"]
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    // Layout in SVG user units: a square plot with room for labels on the left and below,
    // and the legend on the right.
    static let width = 760.0, height = 530.0
    static let left = 80.0, top = 30.0, side = 420.0
    static let legendX = left + side + 30
    /// Rates beyond the axis ends land outside the square and are clipped there.
    static let frame = DETFrame(left: left, top: top, side: side, lowestRate: ticks[0], highestRate: ticks[ticks.count - 1])

    public var series: [Series]
    public var title: String

    public init(series: [Series], title: String = "DET curve") {
        self.series = series
        self.title = title
    }

    public func svg() -> String {
        var out = SVGDocument(width: Self.width, height: Self.height, title: title, placement: .file)
        out.add("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        out.add("<defs><clipPath id=\"plot-area\"><rect x=\"\(n(Self.left))\" y=\"\(n(Self.top))\" width=\"\(n(Self.side))\" height=\"\(n(Self.side))\"/></clipPath></defs>")
        drawGrid(into: &out)
        drawCurves(into: &out)
        drawMarkers(into: &out)
        drawLegend(into: &out)
        return out.finished()
    }

    private func drawGrid(into out: inout SVGDocument) {
        let bottom = Self.frame.bottom, right = Self.frame.right
        out.add("<g stroke=\"#dddddd\" stroke-width=\"1\">")
        for tick in Self.ticks.dropFirst().dropLast() {
            let x = Self.x(ErrorRates.normalDeviate(tick)), y = Self.y(ErrorRates.normalDeviate(tick))
            out.add("<line x1=\"\(n(x))\" y1=\"\(n(Self.top))\" x2=\"\(n(x))\" y2=\"\(n(bottom))\"/>")
            out.add("<line x1=\"\(n(Self.left))\" y1=\"\(n(y))\" x2=\"\(n(right))\" y2=\"\(n(y))\"/>")
        }
        out.add("</g>")
        Self.frame.diagonalAndOutline(stroke: "black").forEach { out.add($0) }
        out.add("<g font-size=\"11\" fill=\"black\">")
        for (tick, label) in zip(Self.ticks, Self.tickLabels) {
            let x = Self.x(ErrorRates.normalDeviate(tick)), y = Self.y(ErrorRates.normalDeviate(tick))
            out.add("<line x1=\"\(n(x))\" y1=\"\(n(bottom))\" x2=\"\(n(x))\" y2=\"\(n(bottom + 5))\" stroke=\"black\"/>")
            // Slanted: the low ticks are close together on a deviate scale.
            let labelY = bottom + 14
            out.add("<text x=\"\(n(x))\" y=\"\(n(labelY))\" text-anchor=\"end\" transform=\"rotate(-45 \(n(x)) \(n(labelY)))\">\(label)</text>")
            out.add("<line x1=\"\(n(Self.left - 5))\" y1=\"\(n(y))\" x2=\"\(n(Self.left))\" y2=\"\(n(y))\" stroke=\"black\"/>")
            out.add("<text x=\"\(n(Self.left - 8))\" y=\"\(n(y + 4))\" text-anchor=\"end\">\(label)</text>")
        }
        out.add("</g>")
        out.add("<text x=\"\(n(Self.left + Self.side / 2))\" y=\"\(n(bottom + 62))\" text-anchor=\"middle\" font-size=\"13\">False match rate (FMR)</text>")
        let middle = Self.top + Self.side / 2
        out.add("<text x=\"18\" y=\"\(n(middle))\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 \(n(middle)))\">False non-match rate (FNMR)</text>")
    }

    private func drawCurves(into out: inout SVGDocument) {
        out.add("<g clip-path=\"url(#plot-area)\" fill=\"none\" stroke-width=\"1.5\">")
        for (index, series) in series.enumerated() {
            let vertices = series.points.lazy.map {
                (x: Self.x(ErrorRates.normalDeviate($0.falseMatchRate)), y: Self.y(ErrorRates.normalDeviate($0.falseNonMatchRate)))
            }
            out.add("<polyline stroke=\"\(Self.color(index))\" points=\"\(SVGDocument.polylinePoints(vertices).joined(separator: " "))\"/>")
        }
        out.add("</g>")
    }

    private func drawMarkers(into out: inout SVGDocument) {
        guard series.contains(where: { !$0.markers.isEmpty }) else { return }
        out.add("<g clip-path=\"url(#plot-area)\" stroke=\"black\" stroke-width=\"1\">")
        for (index, series) in series.enumerated() {
            for (markerIndex, marker) in series.markers.enumerated() {
                let x = Self.x(ErrorRates.normalDeviate(marker.falseMatchRate))
                let y = Self.y(ErrorRates.normalDeviate(marker.falseNonMatchRate))
                out.add(Self.markerShape(markerIndex, x: x, y: y, fill: Self.color(index)))
            }
        }
        out.add("</g>")
    }

    private func drawLegend(into out: inout SVGDocument) {
        var y = Self.top + 10
        out.add("<g font-size=\"12\">")
        for (index, series) in series.enumerated() {
            out.add("<line x1=\"\(n(Self.legendX))\" y1=\"\(n(y))\" x2=\"\(n(Self.legendX + 24))\" y2=\"\(n(y))\" stroke=\"\(Self.color(index))\" stroke-width=\"2\"/>")
            out.add("<text x=\"\(n(Self.legendX + 30))\" y=\"\(n(y + 4))\">\(SVGDocument.escape(series.label))</text>")
            y += 18
        }
        if let markers = series.first?.markers, !markers.isEmpty {
            y += 8
            for (markerIndex, marker) in markers.enumerated() {
                out.add(Self.markerShape(markerIndex, x: Self.legendX + 12, y: y, fill: "white"))
                out.add("<text x=\"\(n(Self.legendX + 30))\" y=\"\(n(y + 4))\">threshold \(marker.threshold)</text>")
                y += 18
            }
        }
        out.add("</g>")
    }

    static func color(_ index: Int) -> String { palette[index % palette.count] }

    /// Circle, square, triangle, diamond, then again: one shape per marked threshold.
    static func markerShape(_ index: Int, x: Double, y: Double, fill: String) -> String {
        let r = 4.5
        switch index % 4 {
        case 0:
            return "<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"\(n(r))\" fill=\"\(fill)\" stroke=\"black\"/>"
        case 1:
            return "<rect x=\"\(n(x - r))\" y=\"\(n(y - r))\" width=\"\(n(2 * r))\" height=\"\(n(2 * r))\" fill=\"\(fill)\" stroke=\"black\"/>"
        case 2:
            return "<polygon points=\"\(n(x)),\(n(y - r)) \(n(x + r)),\(n(y + r)) \(n(x - r)),\(n(y + r))\" fill=\"\(fill)\" stroke=\"black\"/>"
        default:
            return "<polygon points=\"\(n(x)),\(n(y - r)) \(n(x + r)),\(n(y)) \(n(x)),\(n(y + r)) \(n(x - r)),\(n(y))\" fill=\"\(fill)\" stroke=\"black\"/>"
        }
    }

    static func x(_ deviate: Double) -> Double {
        frame.x(share: frame.share(ofDeviate: deviate))
    }

    static func y(_ deviate: Double) -> Double {
        frame.y(share: frame.share(ofDeviate: deviate))
    }
}

private func n(_ value: Double) -> String { SVGDocument.number(value) }
