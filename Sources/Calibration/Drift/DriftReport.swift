/// What counts as drift: the PSI bands and the significance level of the tests.
public struct DriftLimits: Sendable, Hashable, Codable {
    /// PSI above this is a moderate shift (0.1).
    public var moderatePSI: Double
    /// PSI above this is a major shift (0.25).
    public var majorPSI: Double
    /// A test rejects when its p-value is below this (0.05).
    public var significance: Double

    public static let standard = DriftLimits(moderatePSI: 0.1, majorPSI: 0.25, significance: 0.05)

    public init(moderatePSI: Double, majorPSI: Double, significance: Double) {
        self.moderatePSI = moderatePSI
        self.majorPSI = majorPSI
        self.significance = significance
    }

    /// The tests each report runs: KS on both labels and the binomial false-match test.
    public static let testsPerReport = 3

    /// The same limits with the significance split evenly over `tests` tests (Bonferroni): a
    /// fleet of many stable cohorts then raises a test's flag somewhere in at most
    /// `significance` of checks, where uncorrected it would in most of them. PSI bands are
    /// not tests and stay as they are.
    public func familyWise(tests: Int) -> DriftLimits {
        var limits = self
        limits.significance = significance / Double(max(1, tests))
        return limits
    }
}

/// A reason a cohort needs an engineer's look.
public enum DriftFlag: String, Sendable, Hashable, Codable, CaseIterable {
    case impostorPSIModerate
    case impostorPSIMajor
    case impostorDistributionShift
    case genuinePSIModerate
    case genuinePSIMajor
    case genuineDistributionShift
    /// Significantly more impostors at or above the released threshold than the target allows.
    case falseMatchRateAboveTarget
}

/// How one label's scores moved between the reference window and the current one.
public struct LabelDrift: Sendable, Hashable, Codable {
    public var populationStabilityIndex: Double
    public var kolmogorovSmirnov: KolmogorovSmirnovResult
}

/// The released threshold tested on the current window's impostors.
public struct FalseMatchCheck: Sendable, Hashable, Codable {
    public var threshold: Double
    public var targetFMR: Double
    public var impostorCount: Int
    /// Impostors at or above the threshold; when the count is only bounded (threshold inside
    /// a binned region) this is the lower bound, so a flag is never raised on a guess.
    public var falseMatches: Int
    public var falseMatchesExact: Bool
    /// One-sided binomial p-value P(X >= falseMatches | impostorCount, targetFMR) (scipy
    /// `binomtest(..., alternative="greater")`).
    public var pValue: Double
}

/// Drift of one cohort between the window behind the last release and the current window.
///
/// ```swift
/// let report = try DriftReport(reference: released, current: recent,
///                              threshold: entry.threshold, targetFMR: entry.targetFMR)
/// if report.flags.contains(.falseMatchRateAboveTarget) { /* recalibrate */ }
/// ```
public struct DriftReport: Sendable, Hashable, Codable {
    /// Nil when either window has no impostor scores.
    public var impostor: LabelDrift?
    /// Nil when either window has no genuine scores.
    public var genuine: LabelDrift?
    /// Nil when the current window has no impostor scores.
    public var falseMatches: FalseMatchCheck?
    public var flags: Set<DriftFlag>
    public var limits: DriftLimits

    /// Compares two windows of statistics with the same layout.
    /// - Throws: `.incompatibleStatistics` for different layouts, `.targetOutOfRange`,
    ///   `.nanScore` for a NaN threshold.
    public init(
        reference: ScoreStatistics,
        current: ScoreStatistics,
        threshold: Double,
        targetFMR: Double,
        limits: DriftLimits = .standard
    ) throws {
        guard reference.layout == current.layout else { throw CalibrationError.incompatibleStatistics }
        guard !threshold.isNaN else { throw CalibrationError.nanScore }
        try ErrorRates.checkTarget(targetFMR)
        self.limits = limits
        flags = []
        impostor = try Self.labelDrift(reference.impostor, current.impostor)
        genuine = try Self.labelDrift(reference.genuine, current.genuine)
        if current.impostorCount > 0 {
            let count = current.falseMatches(atOrAbove: threshold)
            falseMatches = FalseMatchCheck(
                threshold: threshold,
                targetFMR: targetFMR,
                impostorCount: current.impostorCount,
                falseMatches: count.lower,
                falseMatchesExact: count.isExact,
                pValue: Binomial.probabilityAtLeast(count.lower, trials: current.impostorCount, probability: targetFMR)
            )
        }
        flags = raisedFlags()
    }

    private static func labelDrift(_ reference: ScoreHistogram, _ current: ScoreHistogram) throws -> LabelDrift? {
        guard reference.total > 0, current.total > 0 else { return nil }
        return LabelDrift(
            populationStabilityIndex: try PopulationStability.index(reference: reference, current: current),
            kolmogorovSmirnov: try KolmogorovSmirnov.twoSample(reference, current)
        )
    }

    private func raisedFlags() -> Set<DriftFlag> {
        var raised: Set<DriftFlag> = []
        if let impostor {
            if impostor.populationStabilityIndex > limits.moderatePSI { raised.insert(.impostorPSIModerate) }
            if impostor.populationStabilityIndex > limits.majorPSI { raised.insert(.impostorPSIMajor) }
            if impostor.kolmogorovSmirnov.pValue < limits.significance { raised.insert(.impostorDistributionShift) }
        }
        if let genuine {
            if genuine.populationStabilityIndex > limits.moderatePSI { raised.insert(.genuinePSIModerate) }
            if genuine.populationStabilityIndex > limits.majorPSI { raised.insert(.genuinePSIMajor) }
            if genuine.kolmogorovSmirnov.pValue < limits.significance { raised.insert(.genuineDistributionShift) }
        }
        if let falseMatches, falseMatches.pValue < limits.significance {
            raised.insert(.falseMatchRateAboveTarget)
        }
        return raised
    }
}
