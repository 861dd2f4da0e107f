import Calibration

/// The `faceloop scores evaluate` report: a `ScoreEvaluation` for the whole file, for each
/// model, and for each cohort within its model, computed by Calibration on the raw scores.
///
/// Groups come in a fixed order — overall, then each model (when the file has a `model`
/// column) followed by its cohorts (when it has a `cohort` column) — so two runs on the same
/// file print the same report.
///
/// ```swift
/// let table = try ScoreFileReader.read(path: "scores.csv")
/// let report = try ScoreFileReport(table: table, targetFMRs: [1e-2, 1e-3, 1e-4])
/// report.groups[0].evaluation.targets[0].threshold   // bob.measure far_threshold, overall
/// ```
public struct ScoreFileReport: Sendable, Hashable {
    /// How much of the file a group covers.
    public enum Level: String, Sendable, Hashable {
        case overall
        case model
        case cohort
    }

    /// The evaluation of one group of scores.
    public struct Group: Sendable, Hashable {
        public var level: Level
        /// Nil for `overall`, and for every group when the file has no model column.
        public var model: String?
        /// Set for `cohort` groups only.
        public var cohort: String?
        public var evaluation: ScoreEvaluation
        /// FNMR at each target's conservative threshold (nil where that threshold is refused
        /// or there are no genuine scores), in the order of `evaluation.targets`.
        public var conservativeFalseNonMatchRates: [Double?]
        /// Subjects with a genuine or impostor attempt; nil when the file has no subject column.
        public var subjectCount: Int?
        /// One per target when the file has a subject column, else empty.
        public var subjectTargets: [SubjectTarget] = []
    }

    /// A target's conservative threshold when attempts name their subject: the larger of the
    /// Clopper–Pearson threshold and the subjects bootstrap's, whose prediction bound covers the
    /// correlation between one subject's attempts that Clopper–Pearson ignores.
    public struct SubjectTarget: Sendable, Hashable {
        public var threshold: Double?
        /// The subjects bootstrap's prediction bound on the FMR at `threshold`.
        public var fmrUpperBound: Double?
        public var falseMatchRate: Double?
        public var falseNonMatchRate: Double?
        public var refusal: String?
    }

    public var targetFMRs: [Double]
    public var confidence: Double
    public var groups: [Group]

    /// - Throws: `CalibrationError` for a target outside (0, 1) or a confidence outside (0, 1).
    public init(table: ScoreTable, targetFMRs: [Double], confidence: Double = 0.95, resamples: Int = 1_000) throws {
        self.targetFMRs = targetFMRs
        self.confidence = confidence
        let bootstrap = try SubjectBootstrap(resamples: resamples, confidence: confidence)
        func group(_ level: Level, model: String?, cohort: String?, _ scores: ScoreTable.Scores) throws -> Group {
            let evaluation = try ScoreEvaluation(scores: scores.scoreSet(), targetFMRs: targetFMRs, confidence: confidence)
            let genuine = try SortedScores(scores.genuine)
            let conservativeFNMR = evaluation.targets.map { target -> Double? in
                guard let threshold = target.conservativeThreshold, !genuine.isEmpty else { return nil }
                return Double(genuine.count(below: threshold)) / Double(genuine.count)
            }
            var result = Group(level: level, model: model, cohort: cohort, evaluation: evaluation,
                               conservativeFalseNonMatchRates: conservativeFNMR)
            if table.hasSubjectColumn, let subjects = try scores.subjectScores(names: table.subjectNames) {
                result.subjectCount = subjects.subjectCount
                result.subjectTargets = Self.subjectTargets(evaluation, subjects: subjects, genuine: genuine, bootstrap: bootstrap)
            } else if table.hasSubjectColumn {
                result.subjectCount = 0
                result.subjectTargets = evaluation.targets.map { _ in SubjectTarget(refusal: "no genuine or impostor attempts") }
            }
            return result
        }

        var groups = [try group(.overall, model: nil, cohort: nil, table.overall())]
        if table.hasModelColumn {
            for model in table.models {
                groups.append(try group(.model, model: model, cohort: nil, table.model(model)))
                if table.hasCohortColumn {
                    for key in table.keys where key.model == model {
                        if let scores = table[key] { groups.append(try group(.cohort, model: model, cohort: key.cohort, scores)) }
                    }
                }
            }
        } else if table.hasCohortColumn {
            for key in table.keys {
                if let scores = table[key] { groups.append(try group(.cohort, model: nil, cohort: key.cohort, scores)) }
            }
        }
        self.groups = groups
    }

    static func subjectTargets(_ evaluation: ScoreEvaluation, subjects: SubjectScores, genuine: SortedScores,
                               bootstrap: SubjectBootstrap) -> [SubjectTarget] {
        let resampling = bootstrap.resampling(of: subjects)
        return evaluation.targets.map { target in
            guard let conservative = target.conservativeThreshold else {
                return SubjectTarget(refusal: target.refusal ?? "no conservative threshold")
            }
            let bootstrapThreshold: Double
            do {
                bootstrapThreshold = try resampling.threshold(targetFMR: target.targetFMR)
            } catch {
                return SubjectTarget(refusal: "subjects bootstrap: \(error)")
            }
            let threshold = max(conservative, bootstrapThreshold)
            return SubjectTarget(
                threshold: threshold, fmrUpperBound: resampling.fmrUpperBound(at: threshold),
                falseMatchRate: resampling.observedFMR(at: threshold),
                falseNonMatchRate: genuine.isEmpty ? nil : Double(genuine.count(below: threshold)) / Double(genuine.count))
        }
    }
}
