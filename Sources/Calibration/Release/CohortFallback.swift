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

}

/// A threshold and the level whose statistics produced it.
public struct FallbackChoice: Sendable, Hashable, Codable {
    public var level: FallbackLevel
    public var choice: ThresholdChoice
}

/// The statistics of every level, pooled once: each cohort, each (model version, camera
/// model), each model version. Building the pools is one merge per cohort and level, so a
/// release over many cohorts does not re-merge the same statistics for every cohort.
///
/// ```swift
/// let pools = try CohortPools(statistics: table, layout: layout)
/// pools.statistics(for: key, at: .cameraModel).impostorCount
/// ```
public struct CohortPools: Sendable {
    public let layout: StatisticsLayout
    private let cohorts: [CohortKey: ScoreStatistics]
    private let cameraModels: [CohortKey: ScoreStatistics]
    private let modelVersions: [CohortKey: ScoreStatistics]

    /// - Throws: `.incompatibleStatistics` if any statistic has another layout.
    public init(statistics: [CohortKey: ScoreStatistics], layout: StatisticsLayout) throws {
        guard statistics.values.allSatisfy({ $0.layout == layout }) else { throw CalibrationError.incompatibleStatistics }
        var cameraModels: [CohortKey: ScoreStatistics] = [:]
        var modelVersions: [CohortKey: ScoreStatistics] = [:]
        for (key, part) in statistics {
            try cameraModels[Self.poolKey(key, .cameraModel), default: ScoreStatistics(layout: layout)].merge(part)
            try modelVersions[Self.poolKey(key, .modelVersion), default: ScoreStatistics(layout: layout)].merge(part)
        }
        self.layout = layout
        cohorts = statistics
        self.cameraModels = cameraModels
        self.modelVersions = modelVersions
    }

    /// The pooled statistics of `level` around `key` (empty when nothing was reported there).
    public func statistics(for key: CohortKey, at level: FallbackLevel) -> ScoreStatistics {
        let pool: ScoreStatistics?
        switch level {
        case .cohort: pool = cohorts[key]
        case .cameraModel: pool = cameraModels[Self.poolKey(key, .cameraModel)]
        case .modelVersion: pool = modelVersions[Self.poolKey(key, .modelVersion)]
        }
        return pool ?? ScoreStatistics(layout: layout)
    }

    /// The key that names a pool: the cohort's key with the finer parts blanked.
    static func poolKey(_ key: CohortKey, _ level: FallbackLevel) -> CohortKey {
        switch level {
        case .cohort: return key
        case .cameraModel: return CohortKey(modelVersion: key.modelVersion, cameraModel: key.cameraModel, cohort: "")
        case .modelVersion: return CohortKey(modelVersion: key.modelVersion, cameraModel: "", cohort: "")
        }
    }
}

/// The impostor subject groups of every level, pooled once like `CohortPools`: a subject seen
/// in several cohorts of a pool falls in the same group in each, so adding the groups keeps it
/// one subject there, with the attempts of all of them.
///
/// ```swift
/// let pools = try GroupPools(subjects: live.mapValues(\.impostorSubjects), layout: layout)
/// pools.subjects(for: key, at: .cameraModel).nonEmptyGroups
/// ```
public struct GroupPools: Sendable {
    public let layout: StatisticsLayout
    private let cohorts: [CohortKey: ImpostorSubjects]
    private let cameraModels: [CohortKey: ImpostorSubjects]
    private let modelVersions: [CohortKey: ImpostorSubjects]

    /// - Throws: `.incompatibleStatistics` if any part has another layout.
    public init(subjects: [CohortKey: ImpostorSubjects], layout: StatisticsLayout) throws {
        guard subjects.values.allSatisfy({ $0.layout == layout }) else { throw CalibrationError.incompatibleStatistics }
        var cameraModels: [CohortKey: ImpostorSubjects] = [:]
        var modelVersions: [CohortKey: ImpostorSubjects] = [:]
        for (key, part) in subjects {
            try cameraModels[CohortPools.poolKey(key, .cameraModel), default: ImpostorSubjects(layout: layout)].merge(part)
            try modelVersions[CohortPools.poolKey(key, .modelVersion), default: ImpostorSubjects(layout: layout)].merge(part)
        }
        self.layout = layout
        cohorts = subjects
        self.cameraModels = cameraModels
        self.modelVersions = modelVersions
    }

    /// The pooled groups of `level` around `key` (none when nothing was reported there).
    public func subjects(for key: CohortKey, at level: FallbackLevel) -> ImpostorSubjects {
        let pool: ImpostorSubjects?
        switch level {
        case .cohort: pool = cohorts[key]
        case .cameraModel: pool = cameraModels[CohortPools.poolKey(key, .cameraModel)]
        case .modelVersion: pool = modelVersions[CohortPools.poolKey(key, .modelVersion)]
        }
        return pool ?? ImpostorSubjects(layout: layout)
    }
}

/// Cohort → camera model → model version: use the narrowest pool with enough impostors.
///
/// Per-cohort thresholds equalise FMR across populations, but a small cohort cannot support
/// a small target (it needs about 3/target impostors). Then the parent pool's threshold is
/// used, and the release records which level that was.
///
/// ```swift
/// let pools = try CohortPools(statistics: table, layout: layout)
/// let pick = try CohortFallback.choose(for: key, in: pools, targetFMR: 1e-3, policy: ConservativeFMRPolicy())
/// pick.level   // .cameraModel when the site alone had too few impostors
/// ```
public enum CohortFallback {
    /// The first level, from the cohort up, where `policy` finds a threshold. Only a lack of
    /// impostors moves to the next level; if even the model-version pool is too small, its
    /// refusal (with the number still needed there) is thrown.
    public static func choose(
        for key: CohortKey,
        in pools: CohortPools,
        targetFMR: Double,
        policy: some ThresholdPolicy
    ) throws -> FallbackChoice {
        var lastRefusal: CalibrationError?
        for level in FallbackLevel.allCases {
            do {
                let choice = try policy.choose(from: pools.statistics(for: key, at: level), targetFMR: targetFMR)
                return FallbackChoice(level: level, choice: choice)
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
