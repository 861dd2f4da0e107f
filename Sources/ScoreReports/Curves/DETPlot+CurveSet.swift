import Charts

extension DETPlot {
    /// The DET plot of `faceloop curves`: one line per (model, cohort) of the curve set.
    ///
    /// ```swift
    /// try DETPlot(curves: curves).svg().write(toFile: "det.svg", atomically: true, encoding: .utf8)
    /// ```
    public init(curves: CurveSet) {
        self.init(series: curves.series.map { Series(label: $0.label, points: $0.points, markers: $0.markers) })
    }
}
