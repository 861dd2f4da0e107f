/// The time span of the outcomes behind a release, in Unix seconds (UTC), start inclusive,
/// end exclusive. The server passes it in; Calibration reads no clock.
public struct DataWindow: Sendable, Hashable, Codable {
    public var startUnixSeconds: Int64
    public var endUnixSeconds: Int64

    /// - Throws: `.invalidParameter` when the window ends before it starts.
    public init(startUnixSeconds: Int64, endUnixSeconds: Int64) throws {
        guard startUnixSeconds <= endUnixSeconds else {
            throw CalibrationError.invalidParameter("data window ends before it starts")
        }
        self.startUnixSeconds = startUnixSeconds
        self.endUnixSeconds = endUnixSeconds
    }

    private enum CodingKeys: String, CodingKey { case startUnixSeconds, endUnixSeconds }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            startUnixSeconds: try container.decode(Int64.self, forKey: .startUnixSeconds),
            endUnixSeconds: try container.decode(Int64.self, forKey: .endUnixSeconds)
        )
    }
}

/// One cohort's threshold in a release, with the evidence an engineer needs to approve it.
public struct CohortThreshold: Sendable, Hashable, Codable {
    public var cohort: CohortKey
    /// The pool the threshold was computed on.
    public var fallbackLevel: FallbackLevel
    public var targetFMR: Double
    /// Accept when `score >= threshold`.
    public var threshold: Double
    /// Observed FMR at the threshold on the pool (exact count / impostors).
    public var estimatedFMR: Double
    /// One-sided Clopper–Pearson upper bound on the FMR.
    public var fmrUpperBound: Double
    public var confidence: Double
    /// FNMR at the threshold (bounds when binned), nil without genuine outcomes.
    public var estimatedFNMR: RateBounds?
    public var impostorCount: Int
    public var falseMatchCount: Int
    public var genuineCount: Int
    public var unknownCount: Int
    /// Whether the threshold equals the raw-score answer or was decided on the grid.
    public var precision: Precision
    /// Subjects in the pool behind the subject-level bound — counted as the non-empty subject
    /// groups the bootstrap resampled (`ImpostorSubjects`), a lower bound on the distinct
    /// subjects; nil when the release was computed without subject data.
    public var subjectCount: Int?
    /// The subjects bootstrap's prediction bound on the FMR at `threshold` (over subject
    /// groups, `GroupResampling`); nil when the release was computed without subject data.
    public var subjectFMRUpperBound: Double?

    public init(cohort: CohortKey, fallback: FallbackChoice) {
        let choice = fallback.choice
        self.cohort = cohort
        fallbackLevel = fallback.level
        targetFMR = choice.targetFMR
        threshold = choice.estimate.threshold
        estimatedFMR = choice.estimate.falseMatchRate
        fmrUpperBound = choice.fmrUpperBound
        confidence = choice.confidence
        estimatedFNMR = choice.falseNonMatchRate
        impostorCount = choice.estimate.impostorCount
        falseMatchCount = choice.estimate.falseMatches
        genuineCount = choice.genuineCount
        unknownCount = choice.unknownCount
        precision = choice.estimate.precision
    }

    /// Every field as a signed release states it: how a release is read back from its wire form.
    public init(cohort: CohortKey, fallbackLevel: FallbackLevel, targetFMR: Double, threshold: Double, estimatedFMR: Double,
                fmrUpperBound: Double, confidence: Double, estimatedFNMR: RateBounds?, impostorCount: Int, falseMatchCount: Int,
                genuineCount: Int, unknownCount: Int, precision: Precision,
                subjectCount: Int? = nil, subjectFMRUpperBound: Double? = nil) {
        self.cohort = cohort
        self.fallbackLevel = fallbackLevel
        self.targetFMR = targetFMR
        self.threshold = threshold
        self.estimatedFMR = estimatedFMR
        self.fmrUpperBound = fmrUpperBound
        self.confidence = confidence
        self.estimatedFNMR = estimatedFNMR
        self.impostorCount = impostorCount
        self.falseMatchCount = falseMatchCount
        self.genuineCount = genuineCount
        self.unknownCount = unknownCount
        self.precision = precision
        self.subjectCount = subjectCount
        self.subjectFMRUpperBound = subjectFMRUpperBound
    }

    /// Raises the threshold to at least `subjectThreshold`, the subjects bootstrap's, and
    /// recomputes what depends on it from the pool's statistics so the entry stays consistent.
    ///
    /// The grouped bootstrap answers a tail score, the tail floor (a grid edge) or just above the
    /// top tail score, where the pool's false-match count is exact. Should a count there ever be
    /// only bounded (a threshold between grid edges below the tail), the threshold moves up to
    /// the next grid edge (an exact count; `.binned`), so the entry never states a guessed count.
    mutating func applySubjectLevel(
        subjectThreshold: Double, resampling: GroupResampling, statistics: ScoreStatistics
    ) throws {
        if subjectThreshold > threshold {
            var raised = subjectThreshold
            var falseMatches = statistics.falseMatches(atOrAbove: raised)
            precision = .exact
            if !falseMatches.isExact {
                let grid = statistics.layout.grid
                if case .bin(let index) = grid.placement(of: raised) {
                    raised = grid.edge(index + 1)
                } else {
                    raised = grid.lowerBound
                }
                falseMatches = statistics.falseMatches(atOrAbove: raised)
                precision = .binned(binWidth: grid.binWidth)
            }
            threshold = raised
            falseMatchCount = falseMatches.upper
            estimatedFMR = Double(falseMatchCount) / Double(impostorCount)
            fmrUpperBound = try ClopperPearson(confidence: confidence).upperBound(falseMatches: falseMatchCount, comparisons: impostorCount)
            estimatedFNMR = statistics.genuineCount > 0
                ? RateBounds(statistics.falseNonMatches(below: raised), total: statistics.genuineCount)
                : nil
        }
        subjectCount = resampling.nonEmptyGroups
        subjectFMRUpperBound = resampling.fmrUpperBound(at: threshold)
    }
}

extension RateBounds {
    /// The bounds as a signed release states them, for reading a release back from its wire form.
    public init(lower: Double, upper: Double) {
        self.lower = lower
        self.upper = upper
    }
}

/// A versioned set of per-cohort thresholds: the payload the server signs and kiosks apply.
///
/// Calibration builds the value; signing, approval and publication happen outside (the
/// Feedback module signs its canonical bytes). Entries are sorted by cohort so the encoding
/// is stable.
///
/// ```swift
/// let computed = try ThresholdRelease.compute(
///     version: 8, previousVersion: 7, cohorts: keys, statistics: live, targetFMR: 1e-3,
///     policy: ConservativeFMRPolicy(), layout: CohortStatistics.liveLayout, window: window,
///     subjectBootstrap: bootstrap)
/// computed.refused    // cohorts that not even the model-version pool could serve
/// computed.release.entry(for: key)?.threshold
/// ```
public struct ThresholdRelease: Sendable, Hashable, Codable {
    public var version: Int
    public var previousVersion: Int?
    /// The `ThresholdPolicy.name` that chose every threshold.
    public var policy: String
    public var window: DataWindow
    public private(set) var entries: [CohortThreshold]

    public init(version: Int, previousVersion: Int?, policy: String, window: DataWindow, entries: [CohortThreshold]) throws {
        guard version > 0, previousVersion.map({ $0 > 0 && $0 < version }) ?? true else {
            throw CalibrationError.invalidParameter("release versions must be positive and increase")
        }
        guard Set(entries.map(\.cohort)).count == entries.count else {
            throw CalibrationError.invalidParameter("a release lists each cohort once")
        }
        self.version = version
        self.previousVersion = previousVersion
        self.policy = policy
        self.window = window
        self.entries = entries.sorted { $0.cohort < $1.cohort }
    }

    private enum CodingKeys: String, CodingKey { case version, previousVersion, policy, window, entries }

    /// Decodes through the validating initializer (versions, one entry per cohort, order).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            version: try container.decode(Int.self, forKey: .version),
            previousVersion: try container.decodeIfPresent(Int.self, forKey: .previousVersion),
            policy: try container.decode(String.self, forKey: .policy),
            window: try container.decode(DataWindow.self, forKey: .window),
            entries: try container.decode([CohortThreshold].self, forKey: .entries)
        )
    }

    /// The threshold a kiosk of `cohort` applies.
    public func entry(for cohort: CohortKey) -> CohortThreshold? {
        entries.first { $0.cohort == cohort }
    }

    /// A cohort left out of a computed release, and why.
    public struct Refusal: Sendable, Hashable {
        public var cohort: CohortKey
        public var reason: CalibrationError
    }

    /// A computed release and the cohorts it could not serve.
    public struct Computation: Sendable, Hashable {
        public var release: ThresholdRelease
        public var refused: [Refusal]
    }

    /// Chooses every cohort's threshold with `policy` and the cohort fallback, from score
    /// statistics alone (no subject-level bound). Cohorts with too little data at every level
    /// are listed in `refused`, not guessed.
    /// - Throws: any error other than a lack of data.
    public static func compute(
        version: Int,
        previousVersion: Int?,
        cohorts: [CohortKey],
        statistics table: [CohortKey: ScoreStatistics],
        targetFMR: Double,
        policy: some ThresholdPolicy,
        layout: StatisticsLayout,
        window: DataWindow
    ) throws -> Computation {
        let pools = try CohortPools(statistics: table, layout: layout)
        return try compute(version: version, previousVersion: previousVersion, cohorts: cohorts, pools: pools,
                           targetFMR: targetFMR, policy: policy, window: window)
    }

    /// Chooses every cohort's threshold from live statistics (pooled per fallback level by
    /// adding them). With a `subjectBootstrap`, each entry's threshold is the larger of the
    /// policy's and the subjects bootstrap's over subject groups (`GroupResampling`) on the same
    /// pool, and the entry records the pool's non-empty groups and the subject-level bound.
    /// When that pool has too few groups or impostors for the bootstrap, the entry moves up a
    /// level as it would for too few impostors, and is refused when no level has enough.
    /// Computed as `ThresholdReleasePlan` steps, in order on the calling thread (a server runs
    /// the same steps on several cores).
    /// - Throws: any error other than a lack of data.
    public static func compute(
        version: Int,
        previousVersion: Int?,
        cohorts: [CohortKey],
        statistics table: [CohortKey: CohortStatistics],
        targetFMR: Double,
        policy: some ThresholdPolicy,
        layout: StatisticsLayout,
        window: DataWindow,
        subjectBootstrap: SubjectBootstrap? = nil
    ) throws -> Computation {
        try ThresholdReleasePlan(cohorts: cohorts, statistics: table.mapValues(PackedCohortStatistics.init), targetFMR: targetFMR,
                                 policy: policy, layout: layout, subjectBootstrap: subjectBootstrap)
            .computeSerially(version: version, previousVersion: previousVersion, window: window)
    }

    private static func compute(
        version: Int, previousVersion: Int?, cohorts: [CohortKey], pools: CohortPools,
        targetFMR: Double, policy: some ThresholdPolicy, window: DataWindow
    ) throws -> Computation {
        var entries: [CohortThreshold] = []
        var refused: [Refusal] = []
        for cohort in Set(cohorts).sorted() {
            do {
                let fallback = try CohortFallback.choose(for: cohort, in: pools, targetFMR: targetFMR, policy: policy)
                guard fallback.choice.estimate.threshold.isFinite else {
                    refused.append(Refusal(cohort: cohort, reason: .invalidParameter("threshold is not finite")))
                    continue
                }
                entries.append(CohortThreshold(cohort: cohort, fallback: fallback))
            } catch let error as CalibrationError {
                switch error {
                case .insufficientImpostorsForConfidence, .tooFewImpostors, .tooFewSubjects:
                    refused.append(Refusal(cohort: cohort, reason: error))
                default:
                    throw error
                }
            }
        }
        let release = try ThresholdRelease(
            version: version, previousVersion: previousVersion, policy: policy.name, window: window, entries: entries)
        return Computation(release: release, refused: refused)
    }

    /// Per-cohort threshold moves since `previous`, largest first: the input of the
    /// guardrail on how far a release may move without a second approval.
    public func changes(since previous: ThresholdRelease) -> [ThresholdChange] {
        // By key, not `entry(for:)`: a scan per entry is quadratic, seconds for a large fleet.
        let earlier = Dictionary(previous.entries.map { ($0.cohort, $0) }, uniquingKeysWith: { first, _ in first })
        return entries.compactMap { entry in
            guard let before = earlier[entry.cohort] else { return nil }
            return ThresholdChange(
                cohort: entry.cohort, previousThreshold: before.threshold, threshold: entry.threshold,
                previousEstimatedFMR: before.estimatedFMR, estimatedFMR: entry.estimatedFMR)
        }
        .sorted { abs($0.threshold - $0.previousThreshold) > abs($1.threshold - $1.previousThreshold) }
    }
}

/// How one cohort's threshold moved between two releases.
public struct ThresholdChange: Sendable, Hashable, Codable {
    public var cohort: CohortKey
    public var previousThreshold: Double
    public var threshold: Double
    public var previousEstimatedFMR: Double
    public var estimatedFMR: Double
}
