import Calibration
import Foundation

/// The signed payload of a threshold release, spelled out field by field. Kiosks keep signed
/// releases for a long time, so these names and strings are frozen here rather than derived
/// from Calibration's types, where a rename would silently change the bytes kiosks read.
struct ThresholdReleasePayload: Sendable, Codable, Equatable {
    struct Window: Sendable, Codable, Equatable {
        var startUnixSeconds: Int64
        var endUnixSeconds: Int64

        enum CodingKeys: String, CodingKey { case startUnixSeconds = "start_unix_seconds", endUnixSeconds = "end_unix_seconds" }
    }

    struct Cohort: Sendable, Codable, Equatable {
        var modelVersion: String
        var cameraModel: String
        var site: String

        enum CodingKeys: String, CodingKey { case modelVersion = "model_version", cameraModel = "camera_model", site }
    }

    enum FallbackLevel: String, Sendable, Codable {
        case cohort
        case cameraModel = "camera_model"
        case modelVersion = "model_version"
    }

    enum Precision: String, Sendable, Codable {
        case exact
        case binned
    }

    struct Bounds: Sendable, Codable, Equatable {
        var lower: Double
        var upper: Double
    }

    struct Entry: Sendable, Codable, Equatable {
        var cohort: Cohort
        var fallbackLevel: FallbackLevel
        var targetFMR: Double
        var threshold: Double
        var estimatedFMR: Double
        var fmrUpperBound: Double
        var confidence: Double
        var estimatedFNMR: Bounds?
        var impostorCount: Int
        var falseMatchCount: Int
        var genuineCount: Int
        var unknownCount: Int
        var precision: Precision
        /// The grid's bin width; present exactly when `precision` is `binned`.
        var binWidth: Double?
        /// Present, with `subjectFMRUpperBound`, when the release was computed with subject data;
        /// releases signed before subject-level bounds have neither.
        var subjectCount: Int?
        var subjectFMRUpperBound: Double?

        enum CodingKeys: String, CodingKey {
            case cohort, fallbackLevel = "fallback_level", targetFMR = "target_fmr", threshold, estimatedFMR = "estimated_fmr"
            case fmrUpperBound = "fmr_upper_bound", confidence, estimatedFNMR = "estimated_fnmr", impostorCount = "impostor_count"
            case falseMatchCount = "false_match_count", genuineCount = "genuine_count", unknownCount = "unknown_count"
            case precision, binWidth = "bin_width"
            case subjectCount = "subject_count", subjectFMRUpperBound = "subject_fmr_upper_bound"
        }
    }

    var version: Int
    var previousVersion: Int?
    var policy: String
    var window: Window
    var entries: [Entry]

    enum CodingKeys: String, CodingKey { case version, previousVersion = "previous_version", policy, window, entries }
}

extension ThresholdReleasePayload {
    init(_ release: ThresholdRelease) {
        self.init(version: release.version, previousVersion: release.previousVersion, policy: release.policy,
                  window: Window(startUnixSeconds: release.window.startUnixSeconds, endUnixSeconds: release.window.endUnixSeconds),
                  entries: release.entries.map(Entry.init))
    }

    /// The release it carries, through Calibration's validating initialisers.
    func release() throws -> ThresholdRelease {
        try ThresholdRelease(version: version, previousVersion: previousVersion, policy: policy,
                             window: try DataWindow(startUnixSeconds: window.startUnixSeconds, endUnixSeconds: window.endUnixSeconds),
                             entries: try entries.map { try $0.cohortThreshold() })
    }
}

extension ThresholdReleasePayload.Entry {
    init(_ entry: CohortThreshold) {
        let level: ThresholdReleasePayload.FallbackLevel = switch entry.fallbackLevel {
        case .cohort: .cohort
        case .cameraModel: .cameraModel
        case .modelVersion: .modelVersion
        }
        let (precision, binWidth): (ThresholdReleasePayload.Precision, Double?) = switch entry.precision {
        case .exact: (.exact, nil)
        case let .binned(width): (.binned, width)
        }
        self.init(cohort: .init(modelVersion: entry.cohort.modelVersion, cameraModel: entry.cohort.cameraModel, site: entry.cohort.cohort),
                  fallbackLevel: level, targetFMR: entry.targetFMR, threshold: entry.threshold, estimatedFMR: entry.estimatedFMR,
                  fmrUpperBound: entry.fmrUpperBound, confidence: entry.confidence,
                  estimatedFNMR: entry.estimatedFNMR.map { .init(lower: $0.lower, upper: $0.upper) },
                  impostorCount: entry.impostorCount, falseMatchCount: entry.falseMatchCount, genuineCount: entry.genuineCount,
                  unknownCount: entry.unknownCount, precision: precision, binWidth: binWidth,
                  subjectCount: entry.subjectCount, subjectFMRUpperBound: entry.subjectFMRUpperBound)
    }

    func cohortThreshold() throws(ThresholdReleaseCoding.MalformedPayload) -> CohortThreshold {
        let level: Calibration.FallbackLevel = switch fallbackLevel {
        case .cohort: .cohort
        case .cameraModel: .cameraModel
        case .modelVersion: .modelVersion
        }
        let exactness: Calibration.Precision
        switch (precision, binWidth) {
        case (.exact, nil): exactness = .exact
        case let (.binned, width?): exactness = .binned(binWidth: width)
        default: throw ThresholdReleaseCoding.MalformedPayload("bin_width is given exactly when precision is binned")
        }
        guard (subjectCount == nil) == (subjectFMRUpperBound == nil) else {
            throw ThresholdReleaseCoding.MalformedPayload("subject_count and subject_fmr_upper_bound are given together or not at all")
        }
        return CohortThreshold(
            cohort: CohortKey(modelVersion: cohort.modelVersion, cameraModel: cohort.cameraModel, cohort: cohort.site),
            fallbackLevel: level, targetFMR: targetFMR, threshold: threshold, estimatedFMR: estimatedFMR,
            fmrUpperBound: fmrUpperBound, confidence: confidence,
            estimatedFNMR: estimatedFNMR.map { RateBounds(lower: $0.lower, upper: $0.upper) },
            impostorCount: impostorCount, falseMatchCount: falseMatchCount, genuineCount: genuineCount,
            unknownCount: unknownCount, precision: exactness,
            subjectCount: subjectCount, subjectFMRUpperBound: subjectFMRUpperBound)
    }
}
