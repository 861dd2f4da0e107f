#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One point of a ROC curve: the rates at one threshold.
public struct CurvePoint: Sendable, Hashable, Codable {
    public var threshold: Double
    public var falseMatchRate: Double
    public var falseNonMatchRate: Double

    public init(threshold: Double, falseMatchRate: Double, falseNonMatchRate: Double) {
        self.threshold = threshold
        self.falseMatchRate = falseMatchRate
        self.falseNonMatchRate = falseNonMatchRate
    }
}

/// One point of a DET curve: the rates mapped to the normal deviate scale (bob `ppndf`).
public struct DETPoint: Sendable, Hashable, Codable {
    public var threshold: Double
    public var falseMatchDeviate: Double
    public var falseNonMatchDeviate: Double
}

extension ErrorRates {
    /// ROC points at bob.measure's "meaningful" thresholds (`roc(negatives, positives,
    /// n_points, min_far)`): half the points are `frrThreshold` at FNMR targets and half
    /// `farThreshold` at FMR targets, log-spaced from `10^minFARPower` to 1, sorted.
    ///
    /// ```swift
    /// let points = try ErrorRates.roc(impostors: imp, genuine: gen, pointCount: 100)
    /// ```
    /// - Throws: `.invalidParameter` unless `minFARPower < 0` and each half of the points
    ///   has at least `-minFARPower` of them (bob divides by zero otherwise); the errors of
    ///   `farThreshold` and `frrThreshold`.
    public static func roc(
        impostors: SortedScores, genuine: SortedScores, pointCount: Int, minFARPower: Int = -8
    ) throws -> [CurvePoint] {
        guard minFARPower < 0, pointCount / 2 >= -minFARPower else {
            throw CalibrationError.invalidParameter(
                "pointCount \(pointCount) must be at least \(-2 * minFARPower) for minFARPower \(minFARPower)")
        }
        let half = pointCount / 2
        var thresholds: [Double] = []
        thresholds.reserveCapacity(pointCount)
        for target in logSpacedRates(count: half, minPower: minFARPower) {
            thresholds.append(try frrThreshold(genuine: genuine, target: target))
        }
        for target in logSpacedRates(count: pointCount - half, minPower: minFARPower) {
            thresholds.append(try farThreshold(impostors: impostors, target: target))
        }
        thresholds.sort()
        return try thresholds.map { threshold in
            let rates = try farFRR(impostors: impostors, genuine: genuine, threshold: threshold)
            return CurvePoint(
                threshold: threshold,
                falseMatchRate: rates.falseMatchRate,
                falseNonMatchRate: rates.falseNonMatchRate
            )
        }
    }

    /// DET points: `roc` mapped through `normalDeviate` (bob.measure `det`).
    public static func det(
        impostors: SortedScores, genuine: SortedScores, pointCount: Int, minFARPower: Int = -8
    ) throws -> [DETPoint] {
        try roc(impostors: impostors, genuine: genuine, pointCount: pointCount, minFARPower: minFARPower).map {
            DETPoint(
                threshold: $0.threshold,
                falseMatchDeviate: normalDeviate($0.falseMatchRate),
                falseNonMatchDeviate: normalDeviate($0.falseNonMatchRate)
            )
        }
    }

    /// bob.measure `_log_values`: `10 ** (arange(1 - count, 1) / int(count / -minPower))`.
    static func logSpacedRates(count: Int, minPower: Int) -> [Double] {
        let divisor = Double(Int(Double(count) / Double(-minPower)))
        return (1 - count ..< 1).map { pow(10.0, Double($0) / divisor) }
    }

    /// The normal deviate of a rate (bob.measure `ppndf`, from NIST DETware): rates are
    /// clamped to [eps, 1 - eps] so 0 and 1 stay finite on a plot.
    public static func normalDeviate(_ rate: Double) -> Double {
        let epsilon = Double.ulpOfOne
        let p = rate >= 1 ? 1 - epsilon : (rate <= 0 ? epsilon : rate)
        let q = p - 0.5
        if abs(q) <= 0.42 {
            let r = q * q
            return q * (((-25.4410604963 * r + 41.3911977353) * r + -18.6150006252) * r + 2.5066282388)
                / ((((3.1308290983 * r + -21.0622410182) * r + 23.0833674374) * r + -8.4735109309) * r + 1.0)
        }
        let tail = q > 0 ? 1 - p : p
        let r = sqrt(-1 * log(tail))
        let deviate = (((2.3212127685 * r + 4.8501412713) * r + -2.2979647913) * r + -2.7871893113)
            / ((1.6370678189 * r + 3.5438892476) * r + 1.0)
        return q < 0 ? -deviate : deviate
    }
}
