/// Genuine and impostor score histograms of one cohort on a shared score axis, each scaled
/// to its own total (impostors usually outnumber genuine attempts by far), with the
/// thresholds drawn as vertical lines.
public struct ScoreHistogramChart: Sendable {
    public struct Series: Sendable, Equatable {
        public var label: String
        public var color: String
        /// Count per bin, bins of equal width from `lowerBound` to `upperBound`.
        public var counts: [Int]

        public init(label: String, color: String, counts: [Int]) {
            self.label = label
            self.color = color
            self.counts = counts
        }
    }

    static let width = 600.0, height = 220.0
    static let left = 44.0, right = 180.0, top = 12.0, bottom = 40.0

    public var title: String
    public var lowerBound: Double
    public var upperBound: Double
    public var series: [Series]
    public var markers: [ThresholdMarker]

    public init(title: String, lowerBound: Double, upperBound: Double, series: [Series], markers: [ThresholdMarker]) {
        self.title = title
        self.lowerBound = lowerBound
        self.upperBound = upperBound
        self.series = series
        self.markers = markers
    }

    var plotWidth: Double { Self.width - Self.left - Self.right }
    var plotHeight: Double { Self.height - Self.top - Self.bottom }

    /// The x coordinate of a score; scores outside the axis are pinned to its ends.
    func x(_ score: Double) -> Double {
        let span = upperBound - lowerBound
        guard span > 0 else { return Self.left }
        return Self.left + min(1, max(0, (score - lowerBound) / span)) * plotWidth
    }

    /// The largest share of any bin in any series: the top of the y axis.
    var peakShare: Double {
        series.map { series -> Double in
            let total = series.counts.reduce(0, +)
            guard total > 0 else { return 0 }
            return Double(series.counts.max() ?? 0) / Double(total)
        }.max() ?? 0
    }

    public func svg() -> String {
        var out = SVGDocument(width: Self.width, height: Self.height, title: title)
        let n = SVGDocument.number
        let baseline = Self.top + plotHeight
        let peak = max(peakShare, 1e-9)
        for item in series {
            let total = item.counts.reduce(0, +)
            guard total > 0, !item.counts.isEmpty else { continue }
            let binWidth = plotWidth / Double(item.counts.count)
            // One closed step outline per series: the area under it is the series' share.
            var points = ["\(n(Self.left)),\(n(baseline))"]
            for (index, count) in item.counts.enumerated() {
                let y = baseline - Double(count) / Double(total) / peak * plotHeight
                let x0 = Self.left + Double(index) * binWidth
                points.append("\(n(x0)),\(n(y))")
                points.append("\(n(x0 + binWidth)),\(n(y))")
            }
            points.append("\(n(Self.left + plotWidth)),\(n(baseline))")
            out.add("<polygon class=\"series\" data-series=\"\(SVGDocument.escape(item.label))\" points=\"\(points.joined(separator: " "))\" "
                    + "fill=\"\(item.color)\" fill-opacity=\"0.35\" stroke=\"\(item.color)\" stroke-width=\"1\"/>")
        }
        out.add("<rect x=\"\(n(Self.left))\" y=\"\(n(Self.top))\" width=\"\(n(plotWidth))\" height=\"\(n(plotHeight))\" fill=\"none\" stroke=\"#555\"/>")
        for step in 0...4 {
            let score = lowerBound + (upperBound - lowerBound) * Double(step) / 4
            let x = x(score)
            out.add("<line x1=\"\(n(x))\" y1=\"\(n(baseline))\" x2=\"\(n(x))\" y2=\"\(n(baseline + 4))\" stroke=\"#555\"/>")
            out.add("<text x=\"\(n(x))\" y=\"\(n(baseline + 16))\" text-anchor=\"middle\">\(SVGDocument.escape(Format.axis(score)))</text>")
        }
        out.add("<text x=\"\(n(Self.left + plotWidth / 2))\" y=\"\(n(Self.height - 6))\" text-anchor=\"middle\">similarity score</text>")
        out.add("<text x=\"\(n(Self.left - 6))\" y=\"\(n(Self.top + 10))\" text-anchor=\"end\">\(SVGDocument.escape(Format.percent(peak)))</text>")
        out.add("<text x=\"\(n(Self.left - 6))\" y=\"\(n(baseline))\" text-anchor=\"end\">0</text>")
        for marker in markers {
            let x = x(marker.threshold)
            out.add("<line class=\"threshold\" data-kind=\"\(marker.kind.rawValue)\" x1=\"\(n(x))\" y1=\"\(n(Self.top))\" x2=\"\(n(x))\" y2=\"\(n(baseline))\" "
                    + "stroke=\"\(SVGDocument.escape(marker.color))\" stroke-width=\"2\"\(marker.dash)/>")
        }
        // The legend sits right of the plot, where it hides no bar.
        let legendX = Self.left + plotWidth + 12
        var legendY = Self.top + 14
        for item in series {
            out.add("<rect x=\"\(n(legendX))\" y=\"\(n(legendY - 8))\" width=\"10\" height=\"10\" fill=\"\(item.color)\" fill-opacity=\"0.5\"/>")
            out.add("<text x=\"\(n(legendX + 14))\" y=\"\(n(legendY + 1))\">\(SVGDocument.escape(item.label))</text>")
            legendY += 14
        }
        for marker in markers {
            out.add("<line x1=\"\(n(legendX))\" y1=\"\(n(legendY - 3))\" x2=\"\(n(legendX + 10))\" y2=\"\(n(legendY - 3))\" stroke=\"\(SVGDocument.escape(marker.color))\" stroke-width=\"2\"\(marker.dash)/>")
            out.add("<text x=\"\(n(legendX + 14))\" y=\"\(n(legendY + 1))\">\(SVGDocument.escape(marker.label))</text>")
            legendY += 14
        }
        return out.finished()
    }
}
