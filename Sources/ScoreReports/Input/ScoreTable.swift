import Calibration

/// The scores of one score file, grouped by (model, cohort): what `ScoreFileReader` builds
/// and what the reports and curves read.
///
/// A file without a `model` column has one unnamed model (`nil`), and likewise for `cohort`.
///
/// ```swift
/// let table = try ScoreFileReader.read(path: "scores.csv.gz")
/// for key in table.keys { print(key, table[key]?.impostor.count ?? 0) }
/// ```
public struct ScoreTable: Sendable {
    /// Which model and cohort a group of scores belongs to; nil when the file has no such column.
    public struct Key: Sendable, Hashable, Comparable {
        public var model: String?
        public var cohort: String?

        public init(model: String?, cohort: String?) {
            self.model = model
            self.cohort = cohort
        }

        public static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.model ?? "", lhs.cohort ?? "") < (rhs.model ?? "", rhs.cohort ?? "")
        }
    }

    /// Raw scores of one group, split by label.
    public struct Scores: Sendable, Hashable {
        public var genuine: [Double] = []
        public var impostor: [Double] = []
        public var unknownCount = 0
        /// Who each genuine and impostor attempt claimed to be (indices into the table's
        /// `subjectNames`), parallel to `genuine` and `impostor`; empty without a subject column.
        public var genuineSubjects: [Int32] = []
        public var impostorSubjects: [Int32] = []

        public init() {}

        public var isEmpty: Bool { genuine.isEmpty && impostor.isEmpty && unknownCount == 0 }

        mutating func append(_ score: Double, _ label: ScoreLabel) {
            switch label {
            case .genuine: genuine.append(score)
            case .impostor: impostor.append(score)
            case .unknown: unknownCount += 1
            }
        }

        mutating func append(_ score: Double, _ label: ScoreLabel, subject: Int32) {
            switch label {
            case .genuine:
                genuine.append(score)
                genuineSubjects.append(subject)
            case .impostor:
                impostor.append(score)
                impostorSubjects.append(subject)
            case .unknown: unknownCount += 1
            }
        }

        mutating func merge(_ other: Scores) {
            genuine.append(contentsOf: other.genuine)
            impostor.append(contentsOf: other.impostor)
            genuineSubjects.append(contentsOf: other.genuineSubjects)
            impostorSubjects.append(contentsOf: other.impostorSubjects)
            unknownCount += other.unknownCount
        }

        /// The attempts grouped by subject, for subject-level bounds; nil without a subject column.
        public func subjectScores(names: [String]) throws -> SubjectScores? {
            guard genuineSubjects.count == genuine.count, impostorSubjects.count == impostor.count,
                  !(genuineSubjects.isEmpty && impostorSubjects.isEmpty) else { return nil }
            let attempts = zip(genuineSubjects, genuine).map { (subject: names[Int($0.0)], score: $0.1, label: ScoreLabel.genuine) }
                + zip(impostorSubjects, impostor).map { (subject: names[Int($0.0)], score: $0.1, label: ScoreLabel.impostor) }
            return try SubjectScores(attempts: attempts)
        }

        /// The Calibration input for these scores (finite, never NaN: the reader refused those).
        public func scoreSet() throws -> ScoreSet {
            try ScoreSet(genuine: genuine, impostor: impostor, unknownCount: unknownCount)
        }
    }

    public let hasModelColumn: Bool
    public let hasCohortColumn: Bool
    public let hasSubjectColumn: Bool
    /// The subjects named in the file, in order of first appearance.
    public internal(set) var subjectNames: [String] = []
    /// Groups at the finest level the file allows, one per distinct (model, cohort).
    public private(set) var groups: [Key: Scores] = [:]
    public private(set) var rowCount = 0

    public init(hasModelColumn: Bool, hasCohortColumn: Bool, hasSubjectColumn: Bool = false) {
        self.hasModelColumn = hasModelColumn
        self.hasCohortColumn = hasCohortColumn
        self.hasSubjectColumn = hasSubjectColumn
    }

    /// The group keys in report order: by model, then by cohort.
    public var keys: [Key] { groups.keys.sorted() }

    /// The distinct model names (empty without a model column), sorted.
    public var models: [String] { Array(Set(groups.keys.compactMap(\.model))).sorted() }

    public subscript(key: Key) -> Scores? { groups[key] }

    /// Adds a run of rows of one group (the parser collects consecutive rows of a group
    /// before handing them over, so the dictionary is not consulted for every row).
    mutating func append(_ scores: Scores, to key: Key) {
        rowCount += scores.genuine.count + scores.impostor.count + scores.unknownCount
        if groups[key] == nil {
            groups[key] = scores
        } else {
            groups[key]?.merge(scores)
        }
    }

    /// Every score of the file, all groups together.
    public func overall() -> Scores {
        merged { _ in true }
    }

    /// Every score of one model, all its cohorts together.
    public func model(_ name: String) -> Scores {
        merged { $0.model == name }
    }

    private func merged(where include: (Key) -> Bool) -> Scores {
        let included = keys.filter(include)
        // One group: share its arrays instead of copying them (a file of one cohort is common).
        if included.count == 1, let only = groups[included[0]] { return only }
        var result = Scores()
        for key in included {
            if let scores = groups[key] { result.merge(scores) }
        }
        return result
    }
}
