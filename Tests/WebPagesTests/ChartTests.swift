import Charts
@testable import Charts
import Foundation
import Testing
@testable import WebPages

@Suite("SVG charts")
struct ChartTests {
    /// The numbers of one attribute of every element that carries `marker` in its tag.
    static func attribute(_ name: String, of marker: String, in svg: String) -> [Double] {
        svg.components(separatedBy: "<").filter { $0.contains(marker) }.compactMap { element in
            guard let range = element.range(of: " \(name)=\"") else { return nil }
            return Double(element[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    @Test("a DET point with equal rates lies on the diagonal, and rates of 0 or 1 are pinned to the frame")
    func detGeometry() {
        for rate in [1e-3, 0.01, 0.2] {
            let fromLeft = DETChart.x(rate) - DETChart.left
            let fromBottom = DETChart.top + DETChart.side - DETChart.y(rate)
            #expect(abs(fromLeft - fromBottom) < 1e-9)
        }
        #expect(DETChart.x(0) == DETChart.left)
        #expect(DETChart.y(0) == DETChart.top + DETChart.side)
        #expect(DETChart.x(1) == DETChart.left + DETChart.side)
        #expect(DETChart.x(1e-3) < DETChart.x(1e-2))
    }

    @Test("the curve's vertices are merged where they coincide, and each threshold is marked where its rates are")
    func detMarkers() {
        let points = (0...1000).map { DETChart.Point(falseMatchRate: 1 - Double($0) / 1000, falseNonMatchRate: 0) }
            + [DETChart.Point(falseMatchRate: 0.01, falseNonMatchRate: 0.05)]
        let released = ThresholdMarker(kind: .released, label: "released v1", threshold: 0.4, falseMatchRate: 0.01, falseNonMatchRate: 0.05)
        let chart = DETChart(title: "DET", points: points, markers: [released])
        // Every FMR above 50 % lands on the right edge with FNMR 0 at the bottom: one vertex.
        #expect(DETChart.polylinePoints(points).count < 600)
        let svg = chart.svg()
        #expect(Self.attribute("cx", of: "data-kind=\"released\"", in: svg) == [(DETChart.x(0.01) * 100).rounded() / 100])
        #expect(Self.attribute("cy", of: "data-kind=\"released\"", in: svg) == [(DETChart.y(0.05) * 100).rounded() / 100])
        #expect(svg.contains("released v1"))
    }

    @Test("several curves share the probit axes, each in its own colour with a legend line, and each threshold in its curve's colour")
    func detSeries() throws {
        let current = DETChart.Series(label: "current: release 2", color: "#1f4e99",
                                      points: [.init(falseMatchRate: 0.5, falseNonMatchRate: 0.001), .init(falseMatchRate: 0.001, falseNonMatchRate: 0.2)])
        let candidate = DETChart.Series(label: "candidate: release 3", color: "#c2410c", dashed: true,
                                        points: [.init(falseMatchRate: 0.5, falseNonMatchRate: 0.0005), .init(falseMatchRate: 0.001, falseNonMatchRate: 0.1)])
        let marker = ThresholdMarker(kind: .released, label: "candidate threshold v4: 0.5", threshold: 0.5,
                                     falseMatchRate: 0.001, falseNonMatchRate: 0.1, color: "#c2410c")
        let chart = DETChart(title: "DET curves", series: [current, candidate], markers: [marker])
        let svg = chart.svg()
        let curves = svg.components(separatedBy: "<polyline").dropFirst()
        #expect(curves.count == 2)
        #expect(curves.first?.contains("stroke=\"#1f4e99\"") == true && curves.first?.contains("stroke-dasharray") == false)
        #expect(curves.last?.contains("stroke=\"#c2410c\"") == true && curves.last?.contains("stroke-dasharray") == true)
        // The same rates land on the same spot whichever curve they belong to: one pair of axes.
        let secondVertex = try #require(curves.last?.components(separatedBy: "points=\"").last?.prefix { $0 != "\"" }.split(separator: " ").last)
        #expect(secondVertex == "\(SVGDocument.number(DETChart.x(0.001))),\(SVGDocument.number(DETChart.y(0.1)))")
        #expect(Self.attribute("cx", of: "class=\"threshold\"", in: svg) == [(DETChart.x(0.001) * 100).rounded() / 100])
        #expect(svg.contains("class=\"threshold\" data-kind=\"released\" cx=") && svg.contains("fill=\"#c2410c\" stroke=\"white\""))
        #expect(svg.contains(">current: release 2</text>") && svg.contains(">candidate: release 3</text>"))
        #expect(Self.attribute("y1", of: "class=\"legend\"", in: svg).count == 2)
        // Two curves and a threshold fit in the legend's three lines; a fourth line makes the chart taller.
        #expect(chart.totalHeight == DETChart.height + 40)
        let taller = DETChart(title: "DET curves", series: [current, candidate], markers: [marker, marker])
        #expect(taller.totalHeight == DETChart.height + 40 + DETChart.legendLineHeight)
        #expect(taller.svg().contains("height=\"\(SVGDocument.number(taller.totalHeight))\""))
        // One unlabelled curve draws no legend line for itself.
        #expect(!DETChart(title: "DET", points: current.points, markers: []).svg().contains("class=\"legend\""))
    }

    @Test("histograms are scaled per series, and thresholds are drawn at their score")
    func histogram() {
        let chart = ScoreHistogramChart(
            title: "Scores", lowerBound: -1, upperBound: 1,
            series: [.init(label: "genuine", color: "#00f", counts: [0, 0, 1, 3]), .init(label: "impostor", color: "#f00", counts: [300, 100, 0, 0])],
            markers: [ThresholdMarker(kind: .proposed, label: "proposed v2", threshold: 0.5, falseMatchRate: 0, falseNonMatchRate: 0.25)])
        // Both series peak at 75 % of their own total: both reach the top of the plot.
        #expect(chart.peakShare == 0.75)
        let svg = chart.svg()
        let tops = svg.components(separatedBy: "<polygon").dropFirst().map { polygon -> Double in
            let points = polygon.components(separatedBy: "points=\"")[1].prefix { $0 != "\"" }
            return points.split(separator: " ").compactMap { Double($0.split(separator: ",")[1]) }.min() ?? 0
        }
        #expect(tops == [ScoreHistogramChart.top, ScoreHistogramChart.top])
        #expect(Self.attribute("x1", of: "class=\"threshold\"", in: svg) == [chart.x(0.5)])
        #expect(chart.x(0.5) == ScoreHistogramChart.left + 0.75 * chart.plotWidth)
        #expect(chart.x(7) == ScoreHistogramChart.left + chart.plotWidth, "scores beyond the axis are pinned to its end")
    }

    @Test("text in charts is escaped")
    func escaping() {
        let det = DETChart(title: "x", series: [.init(label: "<b>model</b>", color: "\"><script>", points: [])], markers: []).svg()
        #expect(!det.contains("<b>") && !det.contains("<script>"))
        #expect(det.contains("&lt;b&gt;model&lt;/b&gt;"))
        let svg = ScoreHistogramChart(title: "a<b", lowerBound: 0, upperBound: 1,
                                      series: [.init(label: "<script>alert(1)</script>", color: "#000", counts: [1])], markers: []).svg()
        #expect(!svg.contains("<script>"))
        #expect(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(svg.contains("<title>a&lt;b</title>"))
    }

    @Test("the ε bar fills the spent share and turns red once the budget is gone")
    func budget() {
        #expect(BudgetBar(spent: 2, budget: 8).share == 0.25)
        #expect(BudgetBar(spent: 9, budget: 8).share == 1)
        #expect(Self.attribute("width", of: "class=\"spent\"", in: BudgetBar(spent: 2, budget: 8).svg()) == [BudgetBar.width / 4])
        #expect(BudgetBar(spent: 9, budget: 8).svg().contains("#b91c1c"))
    }

    @Test("numbers, rates and times read the same on every machine")
    func formats() {
        #expect(Format.score(0.4209550000001) == "0.420955")
        #expect(Format.score(-0.25) == "-0.25")
        #expect(Format.percent(0.0137) == "1.37 %")
        #expect(Format.percent(0.000512) == "0.0512 %")
        #expect(Format.percent(0) == "0 %")
        #expect(Format.decimal(3.14159265) == "3.1416")
        #expect(Format.probability(0.0412) == "0.0412")
        #expect(Format.probability(1e-9) == "< 0.0001")
        #expect(Format.signedPercent(0.012) == "+1.2 %")
        #expect(Format.signedPercent(-0.0005) == "-0.05 %")
        #expect(Format.signedPercent(0) == "0 %")
        #expect(Format.axis(-0.001) == "0.00")
        #expect(Format.time(Date(timeIntervalSince1970: 1_790_000_000)) == "2026-09-21 14:13:20 UTC")
        #expect(Format.duration(milliseconds: 850) == "850 ms")
        #expect(Format.duration(milliseconds: 90_000) == "1.5 min")
    }
}
