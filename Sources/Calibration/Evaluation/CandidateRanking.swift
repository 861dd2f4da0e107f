/// The candidates of one cohort's policy search, best first, each judged by a
/// `PairedComparison` with the model that decided the same attempts.
///
/// Order: by decision class — `better`, `not-worse`, `inconclusive`, `worse`,
/// `insufficient-data` — and within a class by the candidate's FNMR (ascending), then the
/// upper bound of its FNMR difference (ascending), then the candidate id; a missing figure
/// sorts after any present one. The class comes first because a low FNMR on a handful of
/// attempts is not evidence: a candidate proved `better` outranks one that merely looks good.
///
/// `leader` is the candidate a search proposes: the first entry that the rollout would let
/// through (`better`, or `not-worse`: its FNMR difference's upper bound within the margin,
/// and no significant rise in false matches) and whose FNMR is below the current model's.
/// A `not-worse` leader is a fair proposal because the staged rollout that follows judges it
/// again on fresh attempts, with the same rule, before it decides anything for the fleet; and
/// with a few hundred genuine attempts per cohort a real gain of 3–4 points rarely reaches
/// McNemar's p < 0.05 (see docs/benchmarks.md, "Capture-normalisation policies found by the fleet").
///
/// ```swift
/// let ranking = try CandidateRanking([(candidate: "3f9a…", comparison: a), (candidate: "81c0…", comparison: b)])
/// ranking.leader?.candidate          // "81c0…" when b is `better`, or not worse with a lower FNMR
/// try ranking.halving()              // ids of the better half, never a `worse` one
/// ```
public struct CandidateRanking: Sendable, Hashable, Codable {
    public struct Entry: Sendable, Hashable, Codable {
        /// The candidate's id (for a policy search, `PolicyCandidates.identifier`).
        public var candidate: String
        public var comparison: PairedComparison

        public init(candidate: String, comparison: PairedComparison) {
            self.candidate = candidate
            self.comparison = comparison
        }

        public var decision: PairedComparison.Decision { comparison.decision }
    }

    /// Best first.
    public var entries: [Entry]

    /// The first entry that offers promotion with a lower FNMR than the current model's.
    public var leader: Entry? {
        entries.first { entry in
            guard entry.comparison.offersPromotion, let candidate = entry.comparison.candidateFNMR,
                  let current = entry.comparison.currentFNMR else { return false }
            return candidate < current
        }
    }

    /// Ranks the comparisons of one cohort.
    /// - Throws: `.invalidParameter` when a candidate id is empty or appears twice, or when the
    ///   comparisons were made at different target FMRs (their FNMRs would not be comparable).
    public init(_ comparisons: [(candidate: String, comparison: PairedComparison)]) throws {
        var seen = Set<String>()
        for item in comparisons {
            guard !item.candidate.isEmpty else {
                throw CalibrationError.invalidParameter("a candidate id is empty")
            }
            guard seen.insert(item.candidate).inserted else {
                throw CalibrationError.invalidParameter("candidate \(item.candidate) is listed twice")
            }
        }
        if let first = comparisons.first?.comparison.targetFMR,
           let other = comparisons.first(where: { $0.comparison.targetFMR != first }) {
            throw CalibrationError.invalidParameter(
                "candidate \(other.candidate) was compared at target FMR \(other.comparison.targetFMR), the others at \(first)")
        }
        entries = comparisons.map { Entry(candidate: $0.candidate, comparison: $0.comparison) }.sorted(by: Self.precedes)
    }

    /// Decoding checks and orders the entries like `init(_:)`, so a decoded ranking keeps its
    /// promises (distinct ids, one target FMR, best first) whatever the JSON held.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let entries = try container.decode([Entry].self, forKey: .entries)
        try self.init(entries.map { (candidate: $0.candidate, comparison: $0.comparison) })
    }

    /// The ids successive halving keeps for the next round: the first `keep` entries
    /// (by default half of them, rounded up), leaving out every `worse` candidate — a
    /// candidate shown to reject more genuine attempts, or to falsely match more impostors,
    /// than today's model is not worth more attempts. `insufficient-data` candidates rank
    /// last, so they survive only when `keep` leaves room for them.
    /// - Throws: `.invalidParameter` for a negative `keep`.
    public func halving(keep: Int? = nil) throws -> [String] {
        let count = keep ?? (entries.count + 1) / 2
        guard count >= 0 else { throw CalibrationError.invalidParameter("keep \(count) must be >= 0") }
        return entries.lazy.filter { $0.decision != .worse }.prefix(count).map(\.candidate)
    }

    /// The decision classes in ranking order.
    static let classOrder: [PairedComparison.Decision] = [.better, .notWorse, .inconclusive, .worse, .insufficientData]

    static func precedes(_ left: Entry, _ right: Entry) -> Bool {
        let leftClass = classOrder.firstIndex(of: left.decision) ?? classOrder.count
        let rightClass = classOrder.firstIndex(of: right.decision) ?? classOrder.count
        if leftClass != rightClass { return leftClass < rightClass }
        if let order = ascending(left.comparison.candidateFNMR, right.comparison.candidateFNMR) { return order }
        if let order = ascending(left.comparison.fnmrDifferenceUpperBound, right.comparison.fnmrDifferenceUpperBound) { return order }
        return left.candidate < right.candidate
    }

    /// Whether `left` comes first, nil on a tie; nil values sort last.
    private static func ascending(_ left: Double?, _ right: Double?) -> Bool? {
        switch (left, right) {
        case let (l?, r?): l == r ? nil : l < r
        case (.some, nil): true
        case (nil, .some): false
        case (nil, nil): nil
        }
    }
}
