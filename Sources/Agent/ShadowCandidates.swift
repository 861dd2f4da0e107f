import Compliance
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation

/// A candidate release of a policy search, ready to be scored on a probe: its kept envelope
/// verified again with the pinned key, its adapter, and its normalisation policy for the
/// kiosk's cohort.
public struct ShadowCandidate: Sendable, Equatable {
    public var model: AssignedModel
    public var adapter: Adapter
    public var policy: NormalizationPolicy

    public init(model: AssignedModel, adapter: Adapter, policy: NormalizationPolicy) {
        self.model = model
        self.adapter = adapter
        self.policy = policy
    }
}

/// What one verification did with the assigned shadow candidates: which were scored, in how
/// many milliseconds, or why none was. `verify --json` prints it.
public struct ShadowCandidateReport: Sendable, Equatable, Encodable {
    public struct Scored: Sendable, Equatable, Encodable {
        public var version: Int
        public var modelVersion: String
        /// Nil when the scoring function gave none; `verify` gives −1 when the candidate's policy
        /// loses the face (a failed attempt for that candidate, as the simulation counts it).
        public var score: Double?
        public var milliseconds: Double
    }

    /// Candidates in the applied assignment.
    public var assigned: Int
    /// Where this verification started in the rotation, when it scored any.
    public var startIndex: Int?
    public var scored: [Scored]
    /// Candidates whose kept release did not verify: never applied, never scored.
    public var refused: [String]
    public var millisecondsSpent: Double
    public var budgetMilliseconds: Double
    /// Why nothing was computed, when nothing was.
    public var skipped: String?

    /// The outcome's `shadow_scores`: one per candidate that found a face.
    public var shadowScores: [MatchOutcome.ShadowScore] {
        scored.compactMap { entry in entry.score.map { MatchOutcome.ShadowScore(modelVersion: entry.modelVersion, cosineSimilarity: $0) } }
    }

    /// A verification that computed no candidate, and why.
    public static func skipped(_ reason: String, assigned: Int, budget: Double) -> Self {
        ShadowCandidateReport(assigned: assigned, startIndex: nil, scored: [], refused: [], millisecondsSpent: 0, budgetMilliseconds: budget,
                              skipped: reason)
    }

    enum CodingKeys: String, CodingKey {
        case assigned, startIndex = "start_index", scored, refused, millisecondsSpent = "milliseconds_spent"
        case budgetMilliseconds = "budget_milliseconds", skipped
    }
}

extension ShadowCandidateReport.Scored {
    enum CodingKeys: String, CodingKey { case version, modelVersion = "model_version", score, milliseconds }
}

/// How many candidates fit one verification's budget.
public enum ShadowBudget {
    /// Scores `candidates` in rotation from `start`, each at most once, and stops before a
    /// candidate whose expected cost would take the time spent past `budgetMilliseconds`.
    /// The expected cost of a candidate is the measured cost of the one before it; for the
    /// first, `firstEstimateMilliseconds` (the probe's own pipeline time, which a candidate
    /// repeats with one more image step). `score` returns the candidate's score and what it
    /// cost; it is measured by the caller so that this rule is tested without a clock.
    public static func run<Candidate>(_ candidates: [Candidate], start: Int, budgetMilliseconds: Double, firstEstimateMilliseconds: Double,
                                      score: (Candidate) throws -> (score: Double?, milliseconds: Double)) rethrows
        -> [(index: Int, score: Double?, milliseconds: Double)] {
        guard !candidates.isEmpty, budgetMilliseconds > 0 else { return [] }
        var results: [(index: Int, score: Double?, milliseconds: Double)] = []
        var spent = 0.0
        var expected = max(0, firstEstimateMilliseconds)
        for offset in 0..<candidates.count {
            guard spent + expected <= budgetMilliseconds else { break }
            let index = (start + offset) % candidates.count
            let (value, cost) = try score(candidates[index])
            results.append((index, value, cost))
            spent += max(0, cost)
            expected = max(0, cost)
        }
        return results
    }
}

extension KioskAgent {
    /// The capture-normalisation policy for a probe scored by `model` in a cohort: the policy
    /// that the model's kept release names for the cohort, the release verified again with
    /// the pinned key first (an altered or foreign envelope throws and nothing is applied).
    /// The backbone has no release and gets the identity.
    public func probeNormalisation(for model: AssignedModel, cameraModel: String, site: String) throws -> NormalizationPolicy {
        try keptRelease(for: model)?.normalisation(cameraModel: cameraModel, site: site) ?? .identity
    }

    /// Whether the subject's model-improvement consent is in force at `moment` in this
    /// kiosk's ledger (the consent events it recorded). Shadow candidates exist to improve
    /// the model, so a subject without that consent is never scored by one.
    public func modelImprovementConsentInForce(pseudonym: String, at moment: Date) throws -> Bool {
        let records = try openQueue().consentRecords(pseudonym: pseudonym, purpose: Purpose.modelImprovement.rawValue)
        // Text versions are checked by the server when the events arrive; here only the decisions count.
        return ConsentLedger.decision(at: moment, records: records, texts: []) == nil
    }

    /// The candidates of the last sync, each with its kept release verified again. One that
    /// does not verify is left out (and named in `refused`): a policy that is not in a
    /// verified release is never applied, and a shadow must not stop the verification.
    public func shadowCandidates(cameraModel: String, site: String) throws -> (usable: [ShadowCandidate], refused: [String]) {
        var usable: [ShadowCandidate] = []
        var refused: [String] = []
        for model in try appliedModels()?.shadowCandidates ?? [] {
            do {
                guard let release = try keptRelease(for: model) else { continue }
                usable.append(ShadowCandidate(model: model, adapter: release.adapter,
                                              policy: release.normalisation(cameraModel: cameraModel, site: site)))
            } catch {
                logger.warning("shadow candidate \(model.name) refused: \(error)")
                refused.append(model.modelVersion)
            }
        }
        return (usable, refused)
    }

    /// Scores the applied shadow candidates for one verification of a subject, within the
    /// budget, starting where the previous verification's rotation stopped. Nothing is
    /// computed (and `score` is never called) without candidates, without the subject's
    /// pseudonym or without model-improvement consent in force for it at `moment`.
    public func scoreShadowCandidates(subjectPseudonym: String?, cameraModel: String, site: String, budgetMilliseconds: Double,
                                      firstEstimateMilliseconds: Double, at moment: Date,
                                      score: (ShadowCandidate) throws -> (score: Double?, milliseconds: Double)) throws -> ShadowCandidateReport {
        let assigned = try appliedModels()?.shadowCandidates.count ?? 0
        guard assigned > 0 else { return .skipped("no shadow candidates are assigned", assigned: 0, budget: budgetMilliseconds) }
        guard budgetMilliseconds > 0 else { return .skipped("the shadow budget is 0 ms", assigned: assigned, budget: budgetMilliseconds) }
        guard let subjectPseudonym else {
            return .skipped("no subject pseudonym, so no consent to check", assigned: assigned, budget: budgetMilliseconds)
        }
        guard try modelImprovementConsentInForce(pseudonym: subjectPseudonym, at: moment) else {
            return .skipped("the subject has no model-improvement consent in force", assigned: assigned, budget: budgetMilliseconds)
        }
        let (candidates, refused) = try shadowCandidates(cameraModel: cameraModel, site: site)
        guard !candidates.isEmpty else {
            var report = ShadowCandidateReport.skipped("no assigned candidate verified", assigned: assigned, budget: budgetMilliseconds)
            report.refused = refused
            return report
        }
        let start = try shadowRotation() % candidates.count
        let results = try ShadowBudget.run(candidates, start: start, budgetMilliseconds: budgetMilliseconds,
                                           firstEstimateMilliseconds: firstEstimateMilliseconds, score: score)
        guard !results.isEmpty else {
            var report = ShadowCandidateReport.skipped(
                "one candidate is expected to cost \(firstEstimateMilliseconds.rounded()) ms, more than the budget",
                assigned: assigned, budget: budgetMilliseconds)
            report.refused = refused
            return report
        }
        // The next verification starts after the last candidate scored here, so that every
        // candidate is scored once in each ceil(candidates / fitting) verifications.
        try setShadowRotation((start + results.count) % candidates.count)
        let scored = results.map {
            ShadowCandidateReport.Scored(version: candidates[$0.index].model.version, modelVersion: candidates[$0.index].model.modelVersion,
                                         score: $0.score, milliseconds: $0.milliseconds)
        }
        return ShadowCandidateReport(assigned: assigned, startIndex: start, scored: scored, refused: refused,
                                     millisecondsSpent: results.reduce(0) { $0 + $1.milliseconds }, budgetMilliseconds: budgetMilliseconds,
                                     skipped: nil)
    }

    /// The rotation counter kept in the data directory (0 before the first verification).
    /// Two verifications at once may read the same value; they then score the same
    /// candidates, which costs coverage for one attempt and nothing else.
    public func shadowRotation() throws -> Int {
        guard let data = FileManager.default.contents(atPath: files.shadowRotation) else { return 0 }
        do {
            let state = try WireJSON.decoder().decode(ShadowRotation.self, from: data)
            return max(0, state.next)
        } catch {
            throw AgentError.unreadable(files.shadowRotation, "\(error)")
        }
    }

    func setShadowRotation(_ next: Int) throws {
        try files.ensureDirectory()
        try files.write(try WireJSON.encoder().encode(ShadowRotation(next: next)), to: files.shadowRotation, mode: 0o600)
    }
}

struct ShadowRotation: Codable {
    var next: Int
}
