/// How a release picks a threshold for one cohort: the one seam for threshold algorithms.
///
/// Like a Flower strategy, a new way of choosing (another confidence method, a cost-based
/// rule) is a new type, not a branch in the server. Policies receive the cohort's statistics
/// and the target, and return the threshold with everything a release records about it. Both
/// built-in policies refuse, with the number of impostors still needed, when there are too
/// few impostors to claim the target at their confidence at all: a release never guesses.
///
/// ```swift
/// let policy = try ConservativeFMRPolicy(confidence: 0.95)
/// let choice = try policy.choose(from: statistics, targetFMR: 1e-3)
/// choice.fmrUpperBound <= 1e-3   // true
/// ```
public protocol ThresholdPolicy: Sendable {
    /// Stable identifier recorded in releases ("exact-at-target", "conservative").
    var name: String { get }
    /// The threshold for `targetFMR` on `statistics`.
    func choose(from statistics: ScoreStatistics, targetFMR: Double) throws -> ThresholdChoice
}

/// A threshold chosen by a policy, with its rates and evidence.
public struct ThresholdChoice: Sendable, Hashable, Codable {
    public var policy: String
    public var targetFMR: Double
    /// The threshold, its exact false-match count and whether it equals the raw-score answer.
    public var estimate: ThresholdEstimate
    /// Clopper–Pearson upper bound on the FMR at `estimate.threshold`.
    public var fmrUpperBound: Double
    /// Confidence of that bound (0.95).
    public var confidence: Double
    /// FNMR at the threshold (bounds where the genuine histogram is binned); nil without genuine outcomes.
    public var falseNonMatchRate: RateBounds?
    public var genuineCount: Int
    public var unknownCount: Int
}

extension ThresholdChoice {
    /// Records a threshold a policy has picked, filling in the Clopper–Pearson bound and
    /// the FNMR from the statistics (so a new policy only has to pick the estimate).
    public init(
        policy: String, estimate: ThresholdEstimate, statistics: ScoreStatistics, targetFMR: Double, bound: ClopperPearson
    ) throws {
        self.policy = policy
        self.targetFMR = targetFMR
        self.estimate = estimate
        fmrUpperBound = try bound.upperBound(falseMatches: estimate.falseMatches, comparisons: estimate.impostorCount)
        confidence = bound.confidence
        falseNonMatchRate = statistics.genuineCount > 0
            ? RateBounds(statistics.falseNonMatches(below: estimate.threshold), total: statistics.genuineCount)
            : nil
        genuineCount = statistics.genuineCount
        unknownCount = statistics.unknownCount
    }
}

extension ThresholdPolicy {
    /// The refusal for too few impostors to claim `targetFMR` at `bound`'s confidence, or
    /// nil when there are enough; policies throw it before choosing.
    public func refusalForSampleSize(statistics: ScoreStatistics, targetFMR: Double, bound: ClopperPearson) throws -> CalibrationError? {
        guard targetFMR > 0, targetFMR < 1 else { throw CalibrationError.targetOutOfRange(targetFMR) }
        let have = statistics.impostorCount
        guard try bound.largestFalseMatchCount(comparisons: have, targetFMR: targetFMR) == nil else { return nil }
        return .insufficientImpostorsForConfidence(
            have: have,
            required: max(try bound.impostorsNeeded(targetFMR: targetFMR), have + 1),
            targetFMR: targetFMR,
            confidence: bound.confidence
        )
    }
}

/// bob.measure's `far_threshold` at the target: the lowest threshold whose observed FMR is
/// at most the target. Its upper bound is reported and may exceed the target.
public struct ExactAtTargetPolicy: ThresholdPolicy {
    public let bound: ClopperPearson
    public var name: String { "exact-at-target" }

    public init(confidence: Double = 0.95) throws {
        bound = try ClopperPearson(confidence: confidence)
    }

    public func choose(from statistics: ScoreStatistics, targetFMR: Double) throws -> ThresholdChoice {
        if let refusal = try refusalForSampleSize(statistics: statistics, targetFMR: targetFMR, bound: bound) {
            throw refusal
        }
        let estimate = try statistics.falseMatchThreshold(target: targetFMR)
        return try ThresholdChoice(
            policy: name, estimate: estimate, statistics: statistics, targetFMR: targetFMR, bound: bound)
    }
}

/// The lowest threshold whose Clopper–Pearson upper bound on FMR is at most the target:
/// the most false matches k with U(k, n) <= target, then the lowest threshold (whole tie
/// groups) accepting at most k impostors.
public struct ConservativeFMRPolicy: ThresholdPolicy {
    public let bound: ClopperPearson
    public var name: String { "conservative" }

    public init(confidence: Double = 0.95) throws {
        bound = try ClopperPearson(confidence: confidence)
    }

    public func choose(from statistics: ScoreStatistics, targetFMR: Double) throws -> ThresholdChoice {
        if let refusal = try refusalForSampleSize(statistics: statistics, targetFMR: targetFMR, bound: bound) {
            throw refusal
        }
        let allowed = try bound.largestFalseMatchCount(comparisons: statistics.impostorCount, targetFMR: targetFMR) ?? 0
        let estimate = statistics.threshold(acceptingAtMost: allowed)
        return try ThresholdChoice(
            policy: name, estimate: estimate, statistics: statistics, targetFMR: targetFMR, bound: bound)
    }
}
