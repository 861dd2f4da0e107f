import Calibration

/// A DET plot of a `CurveSet` as a self-contained SVG document: FMR across, FNMR up, both on
/// normal-deviate axes (bob.measure `ppndf`, as NIST DETware and bob draw them) from 0.01 %
/// to 50 %, one line per series, the FMR = FNMR diagonal dashed, and a marker per marked
/// threshold. No scripts, fonts or images are referenced, and the same curves always give
/// the same bytes.
///
/// ```swift
/// try DETPlot(curves: curves).svg().write(toFile: "det.svg", atomically: true, encoding: .utf8)
/// ```
public struct DETPlot: Sendable {
    /// Tick positions, as rates; the first and last are the ends of both axes.
    public static let ticks: [Double] = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5]
    static let tickLabels = ["0.01%", "0.02%", "0.05%", "0.1%", "0.2%", "0.5%", "1%", "2%", "5%", "10%", "20%", "50%"]
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    // Layout in SVG user units: a square plot with room for labels on the left and below,
    // and the legend on the right.
    static let width = 760.0, height = 530.0
    static let left = 80.0, top = 30.0, side = 420.0
    static let legendX = left + side + 30

    public let curves: CurveSet
    public var title: String

    public init(curves: CurveSet, title: String = "DET curve") {
        self.curves = curves
        self.title = title
    }

    public func svg() -> String {
        var out = SVGDocument(width: Self.width, height: Self.height)
        out.line("<title>\(SVGDocument.escape(title))</title>")
        out.line("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>")
        out.line("<defs><clipPath id=\"plot-area\"><rect x=\"\(n(Self.left))\" y=\"\(n(Self.top))\" width=\"\(n(Self.side))\" height=\"\(n(Self.side))\"/></clipPath></defs>")
        drawGrid(into: &out)
        drawCurves(into: &out)
        drawMarkers(into: &out)
        drawLegend(into: &out)
        return out.finished()
    }

    private func drawGrid(into out: inout SVGDocument) {
        let bottom = Self.top + Self.side, right = Self.left + Self.side
        out.line("<g stroke=\"#dddddd\" stroke-width=\"1\">")
        for tick in Self.ticks.dropFirst().dropLast() {
            let x = Self.x(ErrorRates.normalDeviate(tick)), y = Self.y(ErrorRates.normalDeviate(tick))
            out.line("<line x1=\"\(n(x))\" y1=\"\(n(Self.top))\" x2=\"\(n(x))\" y2=\"\(n(bottom))\"/>")
            out.line("<line x1=\"\(n(Self.left))\" y1=\"\(n(y))\" x2=\"\(n(right))\" y2=\"\(n(y))\"/>")
        }
        out.line("</g>")
        // FMR = FNMR: where the EER lies on every curve.
        out.line("<line x1=\"\(n(Self.left))\" y1=\"\(n(bottom))\" x2=\"\(n(right))\" y2=\"\(n(Self.top))\" stroke=\"#999999\" stroke-dasharray=\"4 4\"/>")
        out.line("<rect x=\"\(n(Self.left))\" y=\"\(n(Self.top))\" width=\"\(n(Self.side))\" height=\"\(n(Self.side))\" fill=\"none\" stroke=\"black\"/>")
        out.line("<g font-size=\"11\" fill=\"black\">")
        for (tick, label) in zip(Self.ticks, Self.tickLabels) {
            let x = Self.x(ErrorRates.normalDeviate(tick)), y = Self.y(ErrorRates.normalDeviate(tick))
            out.line("<line x1=\"\(n(x))\" y1=\"\(n(bottom))\" x2=\"\(n(x))\" y2=\"\(n(bottom + 5))\" stroke=\"black\"/>")
            // Slanted: the low ticks are close together on a deviate scale.
            let labelY = bottom + 14
            out.line("<text x=\"\(n(x))\" y=\"\(n(labelY))\" text-anchor=\"end\" transform=\"rotate(-45 \(n(x)) \(n(labelY)))\">\(label)</text>")
            out.line("<line x1=\"\(n(Self.left - 5))\" y1=\"\(n(y))\" x2=\"\(n(Self.left))\" y2=\"\(n(y))\" stroke=\"black\"/>")
            out.line("<text x=\"\(n(Self.left - 8))\" y=\"\(n(y + 4))\" text-anchor=\"end\">\(label)</text>")
        }
        out.line("</g>")
        out.line("<text x=\"\(n(Self.left + Self.side / 2))\" y=\"\(n(bottom + 62))\" text-anchor=\"middle\" font-size=\"13\">False match rate (FMR)</text>")
        let middle = Self.top + Self.side / 2
        out.line("<text x=\"18\" y=\"\(n(middle))\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 18 \(n(middle)))\">False non-match rate (FNMR)</text>")
    }

    private func drawCurves(into out: inout SVGDocument) {
        out.line("<g clip-path=\"url(#plot-area)\" fill=\"none\" stroke-width=\"1.5\">")
        for (index, series) in curves.series.enumerated() {
            var coordinates: [String] = []
            for point in series.points {
                let pair = "\(n(Self.x(ErrorRates.normalDeviate(point.falseMatchRate)))),\(n(Self.y(ErrorRates.normalDeviate(point.falseNonMatchRate))))"
                if coordinates.last != pair { coordinates.append(pair) }
            }
            out.line("<polyline stroke=\"\(Self.color(index))\" points=\"\(coordinates.joined(separator: " "))\"/>")
        }
        out.line("</g>")
    }

    private func drawMarkers(into out: inout SVGDocument) {
        guard curves.series.contains(where: { !$0.markers.isEmpty }) else { return }
        out.line("<g clip-path=\"url(#plot-area)\" stroke=\"black\" stroke-width=\"1\">")
        for (index, series) in curves.series.enumerated() {
            for (markerIndex, marker) in series.markers.enumerated() {
                let x = Self.x(ErrorRates.normalDeviate(marker.falseMatchRate))
                let y = Self.y(ErrorRates.normalDeviate(marker.falseNonMatchRate))
                out.line(Self.markerShape(markerIndex, x: x, y: y, fill: Self.color(index)))
            }
        }
        out.line("</g>")
    }

    private func drawLegend(into out: inout SVGDocument) {
        var y = Self.top + 10
        out.line("<g font-size=\"12\">")
        for (index, series) in curves.series.enumerated() {
            out.line("<line x1=\"\(n(Self.legendX))\" y1=\"\(n(y))\" x2=\"\(n(Self.legendX + 24))\" y2=\"\(n(y))\" stroke=\"\(Self.color(index))\" stroke-width=\"2\"/>")
            out.line("<text x=\"\(n(Self.legendX + 30))\" y=\"\(n(y + 4))\">\(SVGDocument.escape(series.label))</text>")
            y += 18
        }
        if let markers = curves.series.first?.markers, !markers.isEmpty {
            y += 8
            for (markerIndex, marker) in markers.enumerated() {
                out.line(Self.markerShape(markerIndex, x: Self.legendX + 12, y: y, fill: "white"))
                out.line("<text x=\"\(n(Self.legendX + 30))\" y=\"\(n(y + 4))\">threshold \(marker.threshold)</text>")
                y += 18
            }
        }
        out.line("</g>")
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

    static let lowDeviate = ErrorRates.normalDeviate(ticks[0])
    static let highDeviate = ErrorRates.normalDeviate(ticks[ticks.count - 1])

    /// Plot coordinates of a normal deviate: rates outside 0.01 %…50 % land outside the
    /// frame and are clipped there.
    static func x(_ deviate: Double) -> Double {
        left + (deviate - lowDeviate) / (highDeviate - lowDeviate) * side
    }

    static func y(_ deviate: Double) -> Double {
        top + side - (deviate - lowDeviate) / (highDeviate - lowDeviate) * side
    }
}

private func n(_ value: Double) -> String { SVGDocument.number(value) }
