/// Everything an engineer asks of a score file, computed on raw scores: counts, EER and
/// its threshold, the min-HTER threshold, and per target FMR the bob.measure threshold with
/// its FMR, FNMR and Clopper–Pearson upper bound, plus the conservative threshold.
///
/// This is the value behind `faceloop scores evaluate`; it never refuses as a whole. A
/// question that cannot be answered (no genuine scores for an EER, too few impostors for a
/// target) has a nil answer and a `refusal` saying why, so one bad cohort does not hide the
/// others.
///
/// ```swift
/// let set = try ScoreSet(outcomes: rows)
/// let report = try ScoreEvaluation(scores: set, targetFMRs: [1e-2, 1e-3, 1e-4])
/// report.targets[0].threshold      // bit-identical to bob.measure far_threshold
/// ```
public struct ScoreEvaluation: Sendable, Hashable, Codable {
    public var genuineCount: Int
    public var impostorCount: Int
    public var unknownCount: Int
    /// bob.measure `eer`; nil without both genuine and impostor scores.
    public var equalErrorRate: Double?
    /// bob.measure `eer_threshold`.
    public var equalErrorRateThreshold: Double?
    /// bob.measure `min_hter_threshold`.
    public var minHTERThreshold: Double?
    public var confidence: Double
    public var targets: [TargetEvaluation]

    /// The answers at one target FMR.
    public struct TargetEvaluation: Sendable, Hashable, Codable {
        public var targetFMR: Double
        /// bob.measure `far_threshold` (nil with fewer than 2 impostors).
        public var threshold: Double?
        public var falseMatchRate: Double?
        /// FNMR at `threshold`; nil without genuine scores.
        public var falseNonMatchRate: Double?
        /// Clopper–Pearson upper bound on the FMR at `threshold`.
        public var fmrUpperBound: Double?
        /// Lowest threshold whose upper bound is <= target; nil when there are too few impostors.
        public var conservativeThreshold: Double?
        public var conservativeFalseMatchRate: Double?
        /// Impostors still needed before the target can be claimed at this confidence.
        public var impostorsStillNeeded: Int?
        /// Why something above is nil.
        public var refusal: String?
    }

    /// - Throws: `.invalidParameter` for a confidence outside (0, 1); `.targetOutOfRange`
    ///   for a target outside (0, 1).
    public init(scores: ScoreSet, targetFMRs: [Double], confidence: Double = 0.95) throws {
        let bound = try ClopperPearson(confidence: confidence)
        for target in targetFMRs where !(target > 0 && target < 1) {
            throw CalibrationError.targetOutOfRange(target)
        }
        let impostors = try SortedScores(scores.impostor)
        let genuine = try SortedScores(scores.genuine)
        genuineCount = genuine.count
        impostorCount = impostors.count
        unknownCount = scores.unknownCount
        self.confidence = confidence
        if !impostors.isEmpty && !genuine.isEmpty {
            equalErrorRateThreshold = try ErrorRates.eerThreshold(impostors: impostors, genuine: genuine)
            equalErrorRate = try ErrorRates.eer(impostors: impostors, genuine: genuine)
            minHTERThreshold = try ErrorRates.minHTERThreshold(impostors: impostors, genuine: genuine)
        }
        targets = try targetFMRs.map { target in
            try Self.evaluate(target: target, impostors: impostors, genuine: genuine, bound: bound)
        }
    }

    private static func evaluate(
        target: Double, impostors: SortedScores, genuine: SortedScores, bound: ClopperPearson
    ) throws -> TargetEvaluation {
        var result = TargetEvaluation(targetFMR: target)
        var refusals: [String] = []
        if impostors.count >= 2 {
            let threshold = try ErrorRates.farThreshold(impostors: impostors, target: target)
            let falseMatches = impostors.count(atLeast: threshold)
            result.threshold = threshold
            result.falseMatchRate = Double(falseMatches) / Double(impostors.count)
            result.fmrUpperBound = try bound.upperBound(falseMatches: falseMatches, comparisons: impostors.count)
            if !genuine.isEmpty {
                result.falseNonMatchRate = Double(genuine.count(below: threshold)) / Double(genuine.count)
            } else {
                refusals.append("no genuine scores, so no FNMR")
            }
        } else {
            refusals.append(CalibrationError.tooFewImpostors(count: impostors.count, required: 2).description)
        }
        do {
            let conservative = try bound.conservativeThreshold(impostors: impostors, targetFMR: target)
            result.conservativeThreshold = conservative.threshold
            result.conservativeFalseMatchRate = conservative.falseMatchRate
        } catch let error as CalibrationError {
            guard case .insufficientImpostorsForConfidence(let have, let required, _, _) = error else { throw error }
            result.impostorsStillNeeded = required - have
            refusals.append(error.description)
        }
        result.refusal = refusals.isEmpty ? nil : refusals.joined(separator: "; ")
        return result
    }
}

extension ScoreEvaluation.TargetEvaluation {
    init(targetFMR: Double) {
        self.targetFMR = targetFMR
    }
}
