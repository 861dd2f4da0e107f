/// Identifies whose statistics these are: model version, camera model, and cohort (a site,
/// a lane, any grouping the deployment chooses within one camera model).
public struct CohortKey: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var modelVersion: String
    public var cameraModel: String
    public var cohort: String

    public init(modelVersion: String, cameraModel: String, cohort: String) {
        self.modelVersion = modelVersion
        self.cameraModel = cameraModel
        self.cohort = cohort
    }

    public static func < (lhs: CohortKey, rhs: CohortKey) -> Bool {
        (lhs.modelVersion, lhs.cameraModel, lhs.cohort) < (rhs.modelVersion, rhs.cameraModel, rhs.cohort)
    }

    public var description: String { "\(modelVersion)/\(cameraModel)/\(cohort)" }
}

/// Which pool of statistics a threshold came from.
public enum FallbackLevel: String, Sendable, Hashable, Codable, CaseIterable {
    /// The cohort's own outcomes.
    case cohort
    /// All cohorts with the same model version and camera model.
    case cameraModel
    /// All cohorts with the same model version.
    case modelVersion

    /// Whether statistics under `other` belong to this level's pool around `key`.
    func includes(_ other: CohortKey, around key: CohortKey) -> Bool {
        switch self {
        case .cohort: return other == key
        case .cameraModel: return other.modelVersion == key.modelVersion && other.cameraModel == key.cameraModel
        case .modelVersion: return other.modelVersion == key.modelVersion
        }
    }
}

/// A threshold and the level whose statistics produced it.
public struct FallbackChoice: Sendable, Hashable, Codable {
    public var level: FallbackLevel
    public var choice: ThresholdChoice
}

/// Cohort → camera model → model version: use the narrowest pool with enough impostors.
///
/// Per-cohort thresholds equalise FMR across populations, but a small cohort cannot support
/// a small target (it needs about 3/target impostors). Then the parent pool's threshold is
/// used, and the release records which level that was.
///
/// ```swift
/// let pick = try CohortFallback.choose(for: key, in: table, targetFMR: 1e-3,
///                                      policy: ConservativeFMRPolicy(), layout: layout)
/// pick.level   // .cameraModel when the site alone had too few impostors
/// ```
public enum CohortFallback {
    /// The statistics of one level's pool around `key` (merged).
    public static func statistics(
        for key: CohortKey, at level: FallbackLevel, in table: [CohortKey: ScoreStatistics], layout: StatisticsLayout
    ) throws -> ScoreStatistics {
        try ScoreStatistics.merged(table.filter { level.includes($0.key, around: key) }.values, layout: layout)
    }

    /// The first level, from the cohort up, where `policy` finds a threshold. Only a lack of
    /// impostors moves to the next level; if even the model-version pool is too small, its
    /// refusal (with the number still needed there) is thrown.
    public static func choose(
        for key: CohortKey,
        in table: [CohortKey: ScoreStatistics],
        targetFMR: Double,
        policy: some ThresholdPolicy,
        layout: StatisticsLayout
    ) throws -> FallbackChoice {
        var lastRefusal: CalibrationError?
        for level in FallbackLevel.allCases {
            let pool = try statistics(for: key, at: level, in: table, layout: layout)
            do {
                return FallbackChoice(level: level, choice: try policy.choose(from: pool, targetFMR: targetFMR))
            } catch let error as CalibrationError {
                switch error {
                case .insufficientImpostorsForConfidence, .tooFewImpostors:
                    lastRefusal = error
                default:
                    throw error
                }
            }
        }
        throw lastRefusal ?? CalibrationError.tooFewImpostors(count: 0, required: 2)
    }
}
