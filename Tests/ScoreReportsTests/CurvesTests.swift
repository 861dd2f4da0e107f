import Calibration
@testable import Charts
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import ScoreReports

@Suite("faceloop curves: DET/ROC points and the DET plot")
struct CurvesTests {
    static func table() throws -> ScoreTable {
        try ScoreFileReader.read(path: try TestFiles.fixture("cohorts.csv"))
    }

    @Test("CSV rows are bob's ROC points of each cohort, with their normal deviates")
    func csvPoints() throws {
        let curves = try CurveSet(table: Self.table(), model: "m1", pointCount: 100)
        #expect(curves.series.map(\.label) == ["gate", "lobby"])
        let lines = curves.csv().split(separator: "\n").map(String.init)
        #expect(lines[0] == "model,cohort,threshold,fmr,fnmr,fmr_deviate,fnmr_deviate")
        #expect(lines.count == 1 + 200)
        let bob = BobCases.named("ties_across_target")
        let expected = try ErrorRates.roc(impostors: SortedScores(bob.impostors), genuine: SortedScores(bob.genuine), pointCount: 100)
        let lobby = lines.filter { $0.hasPrefix("m1,lobby,") }
        #expect(lobby.count == expected.count)
        for (line, point) in zip(lobby, expected) {
            let fields = line.split(separator: ",").dropFirst(2).compactMap { Double($0) }
            #expect(fields == [point.threshold, point.falseMatchRate, point.falseNonMatchRate,
                               ErrorRates.normalDeviate(point.falseMatchRate), ErrorRates.normalDeviate(point.falseNonMatchRate)])
        }
    }

    @Test("selection: unknown cohort, missing column, and cohorts without a curve")
    func selection() throws {
        let table = try Self.table()
        #expect(throws: CurveSelectionError.self) { try CurveSet(table: table, cohort: "roof") }
        let plain = try ScoreFileReader.parse(Array("score,label\n0.1,impostor\n0.2,impostor\n0.8,genuine\n0.9,genuine\n".utf8))
        #expect(throws: CurveSelectionError.noColumn("cohort")) { try CurveSet(table: plain, cohort: "lobby") }
        #expect(try CurveSet(table: plain, pointCount: 16).series.map(\.label) == ["all scores"])
        // m2 / desk has one genuine score: frr_threshold refuses, so it has no curve, and says so.
        let m2 = try CurveSet(table: table, model: "m2", pointCount: 100)
        #expect(m2.series.map(\.label) == ["lobby"])
        #expect(m2.skipped.map(\.label) == ["desk"])
        #expect(throws: CurveSelectionError.self) { try CurveSet(table: table, model: "m2", cohort: "desk") }
    }

    @Test("markers carry bob's farfrr at the marked threshold")
    func markers() throws {
        let curves = try CurveSet(table: Self.table(), cohort: "lobby", markedThresholds: [0.25], pointCount: 100)
        #expect(curves.series.map(\.label) == ["m1 / lobby", "m2 / lobby"])
        let bob = BobCases.named("ties_across_target")
        let rates = try ErrorRates.farFRR(impostors: SortedScores(bob.impostors), genuine: SortedScores(bob.genuine), threshold: 0.25)
        #expect(curves.series[0].markers == [CurveSet.Marker(threshold: 0.25, falseMatchRate: rates.falseMatchRate,
                                                             falseNonMatchRate: rates.falseNonMatchRate)])
    }

    @Test("the SVG is self-contained, deterministic, labelled from 0.01% to 50%, one line per cohort")
    func svg() throws {
        let table = try ScoreFileReader.parse(Array((BobCases.named("gaussian").csv(cohort: "lobby <east> & \"west\"")
            + BobCases.named("two_decimal").csv(cohort: "gate").split(separator: "\n").dropFirst().joined(separator: "\n")).utf8))
        let curves = try CurveSet(table: table, markedThresholds: [0.2, 0.3])
        let svg = DETPlot(curves: curves).svg()
        #expect(svg == DETPlot(curves: curves).svg())
        #expect(svg.hasPrefix("<?xml") && svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        for label in DETPlot.tickLabels { #expect(svg.contains(">\(label)</text>"), "tick \(label)") }
        #expect(svg.contains("lobby &lt;east&gt; &amp; &quot;west&quot;"))
        #expect(!svg.contains("lobby <east>"))
        #expect(!svg.contains("href") && !svg.contains("<image") && !svg.contains("<script") && !svg.contains("@import"))
        #expect(svg.components(separatedBy: "http").count - 1 == 1, "only the SVG namespace")
        #expect(svg.contains("threshold 0.2</text>") && svg.contains("threshold 0.3</text>"))
        // Parses as XML.
        let document = try XMLDocument(data: Data(svg.utf8))
        #expect(document.rootElement()?.name == "svg")
    }

    @Test("axes: 1e-4 and 0.5 are the frame's corners; a point at EER 10% lies on the diagonal")
    func axes() {
        #expect(abs(DETPlot.x(ErrorRates.normalDeviate(1e-4)) - DETPlot.left) < 1e-9)
        #expect(abs(DETPlot.x(ErrorRates.normalDeviate(0.5)) - (DETPlot.left + DETPlot.side)) < 1e-9)
        #expect(abs(DETPlot.y(ErrorRates.normalDeviate(0.5)) - DETPlot.top) < 1e-9)
        let d = ErrorRates.normalDeviate(0.1)
        #expect(abs((DETPlot.x(d) - DETPlot.left) - (DETPlot.top + DETPlot.side - DETPlot.y(d))) < 1e-9)
        #expect(SVGDocument.number(12.5) == "12.5" && SVGDocument.number(-3.071) == "-3.07"
                && SVGDocument.number(0.004) == "0" && SVGDocument.number(7.05) == "7.05")
    }
}
