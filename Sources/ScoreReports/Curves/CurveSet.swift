import Calibration

/// ROC/DET points of the selected groups of a score file, one series per (model, cohort),
/// at bob.measure's "meaningful" thresholds (`ErrorRates.roc`), plus the rates at any
/// thresholds the engineer wants marked.
///
/// ```swift
/// let curves = try CurveSet(table: table, cohort: "lobby", markedThresholds: [0.42])
/// let csv = curves.csv()
/// let svg = DETPlot(curves: curves).svg()
/// ```
public struct CurveSet: Sendable {
    /// The rates at one marked threshold.
    public typealias Marker = CurvePoint

    /// The curve of one (model, cohort).
    public struct Series: Sendable, Hashable {
        public var key: ScoreTable.Key
        /// The legend text: the cohort, prefixed by the model when several models are shown.
        public var label: String
        /// ROC points, sorted by threshold (so FMR falls and FNMR rises along the series).
        public var points: [CurvePoint]
        /// One per marked threshold, in the order given.
        public var markers: [Marker]
    }

    /// A group that has no curve, and why (e.g. fewer than two impostor scores).
    public struct Skipped: Sendable, Hashable {
        public var label: String
        public var reason: String
    }

    public var series: [Series]
    public var skipped: [Skipped]

    /// - Parameters:
    ///   - model, cohort: keep only that model / cohort (nil: all of them).
    ///   - pointCount, minFARPower: as bob.measure `roc(…, n_points, min_far)`.
    /// - Throws: `CurveSelectionError` when the selection is empty or no group has enough
    ///   scores for a curve.
    public init(
        table: ScoreTable, model: String? = nil, cohort: String? = nil, markedThresholds: [Double] = [],
        pointCount: Int = 2000, minFARPower: Int = -8
    ) throws {
        if model != nil, !table.hasModelColumn { throw CurveSelectionError.noColumn("model") }
        if cohort != nil, !table.hasCohortColumn { throw CurveSelectionError.noColumn("cohort") }
        let keys = table.keys.filter { key in
            (model == nil || key.model == model) && (cohort == nil || key.cohort == cohort)
        }
        guard !keys.isEmpty else {
            throw CurveSelectionError.nothingSelected(
                model: model, cohort: cohort, available: table.keys.map { Self.label(of: $0, withModel: table.hasModelColumn) })
        }
        let showModel = Set(keys.map(\.model)).count > 1
        var series: [Series] = []
        var skipped: [Skipped] = []
        for key in keys {
            let label = Self.label(of: key, withModel: showModel)
            guard let scores = table[key] else { continue }
            do {
                let impostors = try SortedScores(scores.impostor)
                let genuine = try SortedScores(scores.genuine)
                let points = try ErrorRates.roc(
                    impostors: impostors, genuine: genuine, pointCount: pointCount, minFARPower: minFARPower)
                let markers = try markedThresholds.map { threshold in
                    let rates = try ErrorRates.farFRR(impostors: impostors, genuine: genuine, threshold: threshold)
                    return Marker(threshold: threshold, falseMatchRate: rates.falseMatchRate,
                                  falseNonMatchRate: rates.falseNonMatchRate)
                }
                series.append(Series(key: key, label: label, points: points, markers: markers))
            } catch let error as CalibrationError {
                if case .invalidParameter = error { throw error }
                skipped.append(Skipped(label: label, reason: error.description))
            }
        }
        guard !series.isEmpty else { throw CurveSelectionError.noCurve(skipped.map { "\($0.label): \($0.reason)" }) }
        self.series = series
        self.skipped = skipped
    }

    static func label(of key: ScoreTable.Key, withModel: Bool) -> String {
        switch (withModel ? key.model : nil, key.cohort) {
        case let (model?, cohort?): return "\(model) / \(cohort)"
        case let (model?, nil): return model
        case let (nil, cohort?): return cohort
        case (nil, nil): return key.model ?? "all scores"
        }
    }
}

/// Why `faceloop curves` has nothing to draw.
public enum CurveSelectionError: Error, Sendable, Hashable, CustomStringConvertible {
    case noColumn(String)
    case nothingSelected(model: String?, cohort: String?, available: [String])
    case noCurve([String])

    public var description: String {
        switch self {
        case .noColumn(let name):
            return "the file has no \(name) column to select by"
        case .nothingSelected(let model, let cohort, let available):
            let wanted = [model.map { "model \($0)" }, cohort.map { "cohort \($0)" }].compactMap { $0 }.joined(separator: ", ")
            return "no scores for \(wanted) (the file has: \(available.joined(separator: "; ")))"
        case .noCurve(let reasons):
            return "no curve can be drawn: \(reasons.joined(separator: "; "))"
        }
    }
}
