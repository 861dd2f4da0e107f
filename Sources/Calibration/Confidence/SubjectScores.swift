/// Scores grouped by subject: the unit a subjects bootstrap resamples.
///
/// Attempts of one subject are correlated (the same face, the same habits, the same
/// look-alikes), so confidence statements about error rates resample subjects, not attempts
/// (ISO/IEC 19795-1). A subject is whatever id names a person consistently — a pseudonym;
/// an impostor attempt belongs to the subject it claimed to be. Each subject's scores are
/// kept sorted, so counting the attempts at or above a threshold is a binary search.
///
/// ```swift
/// var scores = try SubjectScores(attempts: [
///     (subject: "p-17", score: 0.71, label: .impostor),
///     (subject: "p-17", score: 0.95, label: .genuine),
///     (subject: "p-42", score: 0.40, label: .unknown),   // ignored
/// ])
/// try scores.merge(otherCohort)                           // pooling cohorts
/// scores.subjectCount                                     // 1 (+ otherCohort's)
/// ```
public struct SubjectScores: Sendable, Hashable {
    /// One subject's scores, each sorted ascending.
    public struct Subject: Sendable, Hashable {
        public private(set) var impostorScores: SortedScores
        public private(set) var genuineScores: SortedScores

        init(impostorScores: SortedScores, genuineScores: SortedScores) {
            self.impostorScores = impostorScores
            self.genuineScores = genuineScores
        }

        mutating func merge(_ other: Subject) {
            impostorScores = impostorScores.merged(with: other.impostorScores)
            genuineScores = genuineScores.merged(with: other.genuineScores)
        }
    }

    /// Subjects by id; a subject appears once it has one genuine or impostor attempt.
    public private(set) var subjects: [String: Subject]

    /// No subjects.
    public init() {
        subjects = [:]
    }

    /// Groups attempts by subject; `unknown` attempts are ignored (they enter no error rate).
    /// - Throws: `.nanScore` / `.nonFiniteScore` for a score that is not finite, before keeping anything.
    public init(attempts: some Sequence<(subject: String, score: Double, label: ScoreLabel)>) throws {
        var impostors: [String: [Double]] = [:]
        var genuine: [String: [Double]] = [:]
        for attempt in attempts {
            switch attempt.label {
            case .impostor:
                try Self.check(attempt.score)
                impostors[attempt.subject, default: []].append(attempt.score)
            case .genuine:
                try Self.check(attempt.score)
                genuine[attempt.subject, default: []].append(attempt.score)
            case .unknown:
                continue
            }
        }
        var subjects: [String: Subject] = [:]
        for id in Set(impostors.keys).union(genuine.keys) {
            subjects[id] = Subject(
                impostorScores: try SortedScores(impostors[id] ?? []),
                genuineScores: try SortedScores(genuine[id] ?? []))
        }
        self.subjects = subjects
    }

    /// Subjects with at least one genuine or impostor attempt.
    public var subjectCount: Int { subjects.count }
    /// Impostor attempts over all subjects.
    public var impostorCount: Int { subjects.values.reduce(0) { $0 + $1.impostorScores.count } }
    /// Genuine attempts over all subjects.
    public var genuineCount: Int { subjects.values.reduce(0) { $0 + $1.genuineScores.count } }

    /// Adds another cohort's attempts; a subject seen in both keeps the attempts of both
    /// (the same person at two sites is still one subject).
    public mutating func merge(_ other: SubjectScores) {
        for (id, subject) in other.subjects {
            if var mine = subjects[id] {
                mine.merge(subject)
                subjects[id] = mine
            } else {
                subjects[id] = subject
            }
        }
    }

    /// The union of several cohorts' attempts.
    public static func merged(_ parts: some Sequence<SubjectScores>) -> SubjectScores {
        var total = SubjectScores()
        for part in parts { total.merge(part) }
        return total
    }

    /// The subjects in id order: a resample's subject indices refer to this order, so a
    /// seed gives the same resamples whatever order the attempts came in.
    var subjectsInIDOrder: [Subject] {
        subjects.keys.sorted().compactMap { subjects[$0] }
    }

    private static func check(_ score: Double) throws {
        guard !score.isNaN else { throw CalibrationError.nanScore }
        guard score.isFinite else { throw CalibrationError.nonFiniteScore(score) }
    }
}

extension SortedScores {
    /// Scores the caller has sorted ascending and checked free of NaN.
    init(uncheckedSorted scores: [Double]) {
        values = scores
    }

    /// Both score lists in one ascending list (a linear merge; no re-sort).
    func merged(with other: SortedScores) -> SortedScores {
        if other.isEmpty { return self }
        if isEmpty { return other }
        var result: [Double] = []
        result.reserveCapacity(count + other.count)
        var left = 0, right = 0
        let a = values, b = other.values
        while left < a.count && right < b.count {
            if b[right] < a[left] {
                result.append(b[right]); right += 1
            } else {
                result.append(a[left]); left += 1
            }
        }
        result.append(contentsOf: a[left...])
        result.append(contentsOf: b[right...])
        return SortedScores(uncheckedSorted: result)
    }
}
