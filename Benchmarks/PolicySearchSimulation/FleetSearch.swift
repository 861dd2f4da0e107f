import Calibration
import Federation
import FederationCore
import Foundation
import SeededRandom

/// The fleet's side of one cohort's policy search: kiosks score consented verifications under
/// the round's candidates within their time budget, and the server ranks the candidates from
/// those shadow scores exactly as `GET /v1/policy-searches/{id}` does (`PairedComparison` of
/// each candidate against the model that decided, each at its own threshold for the target
/// FMR, then `CandidateRanking`), keeps the better half, refines around the leader and, after
/// the last round, proposes the leader, if it is `better`.
struct FleetSearch {
    struct Settings {
        var budgetMilliseconds: Double
        /// What one candidate costs the kiosk; nil: the median measured while computing the descriptors.
        var candidateMilliseconds: Double?
        /// What `mirror_average` adds to `candidateMilliseconds` (one more descriptor pass); a
        /// measured cost already holds it.
        var mirrorMilliseconds: Double
        /// Share of subjects with model-improvement consent in force; the others' attempts get no shadow score.
        var consentShare: Double
        var rounds: Int
        /// Candidates successive halving keeps for the next round.
        var keep: Int
        var targetFMR: Double
        var confidence: Double
        var margin: Double
        var seed: UInt64
    }

    /// What one round cost and found.
    struct Round: Codable {
        var candidates: Int
        /// Candidates a kiosk scores per verification within the budget.
        var candidatesPerVerification: Int
        /// Kiosk milliseconds per consented verification spent on shadow candidates.
        var kioskMilliseconds: Double
        /// Verifications the round takes for every candidate to be scored once on every
        /// consented attempt (the rotation needs ⌈candidates / per verification⌉ passes).
        var verifications: Int
        var genuinePerCandidate: Int
        var impostorPerCandidate: Int
        /// Decision counts over the candidates.
        var decisions: [String: Int]
        var leader: String?
        /// Genuine attempts the leader's comparison would still need (Connor), when not decided.
        var genuineStillNeeded: Int?
        /// The first-ranked candidate's comparison, in words.
        var topReason: String?
    }

    struct Outcome {
        /// The last round's leader, or the identity when no round had one.
        var chosen: NormalizationPolicy
        var rounds: [Round]
        /// Both models' thresholds at the target FMR on the consented search attempts: what the
        /// threshold release the canary stage runs on would publish.
        var currentThreshold: Double
        var chosenThreshold: Double
    }

    /// The canary stage's verdict on a proposed policy.
    struct Canary {
        var promoted: Bool
        var reason: String
    }

    let settings: Settings
    let scorer: Scorer

    /// The seed of the server's paired comparisons (`RolloutSettings.bootstrapSeed`): subjects are
    /// resampled as the server resamples them, so a round ranks here as it ranks there.
    static let serverBootstrapSeed: UInt64 = 0x5EED_F00D

    /// Subjects with model-improvement consent in force (a seeded share of all people).
    func consents(_ person: Int) -> Bool {
        var generator = SeededGenerator(seed: settings.seed ^ UInt64(person) &* 0x9E37_79B9_7F4A_7C15)
        return Double(generator.next() >> 11) / Double(1 << 53) < settings.consentShare
    }

    /// What the kiosks of one cohort send in the first round, and what the search made of it:
    /// `--export-round-one` writes it for `policy-search-over-http.py`, which uploads it to a
    /// real server and checks that the server ranks the candidates as the simulation did.
    struct RoundOne {
        var attempts: [AttemptSet.Attempt]
        /// Today's pipeline's score of each attempt.
        var currentScores: [Double]
        var candidates: [NormalizationPolicy]
        /// `candidateScores[c][j]`: candidate c's score of attempt j.
        var candidateScores: [[Double]]
        var perVerification: Int
        var passes: Int
        var currentThreshold: Double
        var ranking: CandidateRanking
    }

    /// Runs the rounds on the fleet's attempts of one cohort. `ensure` computes descriptors of
    /// refined candidates before they are scored; `roundOne` receives the first round's traffic.
    func search(_ fleet: AttemptSet, ensure: ([NormalizationPolicy]) throws -> Void,
                roundOne: ((RoundOne) throws -> Void)? = nil) throws -> Outcome {
        var candidates = PolicyCandidates.grid()
        var rounds: [Round] = []
        var chosen = NormalizationPolicy.identity
        var chosenThreshold: Double?
        let current = try scorer.scores(fleet.attempts, policy: .identity)
        let consented = fleet.attempts.indices.filter { consents(fleet.attempts[$0].claimed) }
        let consentedAttempts = consented.map { fleet.attempts[$0] }
        // Both models' thresholds come from the same attempts, those with shadow scores, as on the
        // server (`PairedComparison.atTargetFMR`): false matches cluster on a few claimed subjects,
        // so a threshold set on all attempts can sit far from FMR 1e-3 on the consented ones, and
        // the paired FMR test then blames the candidate.
        let consentedImpostors = consented.filter { fleet.attempts[$0].label == .impostor }
        let currentThreshold = try ErrorRates.farThreshold(impostors: consentedImpostors.map { current[$0] }, target: settings.targetFMR)
        let bootstrap = try SubjectBootstrap(resamples: 1_000, confidence: settings.confidence, seed: Self.serverBootstrapSeed)
        for step in 1...settings.rounds {
            try ensure(candidates)
            let costs = candidates.map { policy in
                settings.candidateMilliseconds.map { $0 + (policy.mirrorAverage ? settings.mirrorMilliseconds : 0) }
                    ?? scorer.medianMilliseconds(probes: fleet.probes, policy: policy)
            }
            let perCandidate = costs.max() ?? .infinity
            let perVerification = max(0, min(candidates.count, Int(settings.budgetMilliseconds / perCandidate)))
            guard perVerification > 0 else {
                throw SimulationError("a \(settings.budgetMilliseconds) ms budget fits no candidate (each costs about \(Int(perCandidate)) ms here)")
            }
            let passes = (candidates.count + perVerification - 1) / perVerification
            var comparisons: [(candidate: String, comparison: PairedComparison)] = []
            var thresholds: [String: Double] = [:]
            var byID: [String: NormalizationPolicy] = [:]
            var genuineCount = 0, impostorCount = 0
            var candidateScores: [[Double]] = []
            for policy in candidates {
                let id = PolicyCandidates.identifier(policy)
                byID[id] = policy
                // Over the round's passes the rotation scores each candidate once on every
                // consented attempt: pass p scores attempt j under candidates j + p·k … j + p·k + k − 1.
                var attempts: [PairedAttempt] = []
                let scores = try scorer.scores(consentedAttempts, policy: policy)
                if step == 1, roundOne != nil { candidateScores.append(scores) }
                for (position, index) in consented.enumerated() {
                    let attempt = fleet.attempts[index]
                    let score = scores[position]
                    attempts.append(PairedAttempt(subject: subjectID(attempt.claimed), label: attempt.label,
                                                  currentScore: current[index], candidateScore: score))
                }
                let comparison = try PairedComparison.atTargetFMR(attempts: attempts, targetFMR: settings.targetFMR,
                                                                  confidence: settings.confidence, margin: settings.margin,
                                                                  bootstrap: bootstrap)
                genuineCount = comparison.genuineAttempts
                impostorCount = comparison.impostorAttempts
                thresholds[id] = comparison.candidateThreshold
                comparisons.append((id, comparison))
            }
            let ranking = try CandidateRanking(comparisons)
            if step == 1, let roundOne {
                try roundOne(RoundOne(attempts: consentedAttempts, currentScores: consented.map { current[$0] }, candidates: candidates,
                                      candidateScores: candidateScores, perVerification: perVerification, passes: passes,
                                      currentThreshold: currentThreshold, ranking: ranking))
            }
            var decisions: [String: Int] = [:]
            for entry in ranking.entries { decisions[entry.decision.rawValue, default: 0] += 1 }
            let top = ranking.entries.first
            rounds.append(Round(
                candidates: candidates.count, candidatesPerVerification: perVerification,
                kioskMilliseconds: costs.prefix(perVerification).reduce(0, +), verifications: passes * consented.count,
                genuinePerCandidate: genuineCount, impostorPerCandidate: impostorCount, decisions: decisions,
                leader: ranking.leader.flatMap { byID[$0.candidate].map(FrameDescriptors.key) },
                genuineStillNeeded: ranking.leader == nil ? top.flatMap { try? OutcomesNeeded.remainingGenuineAttempts(for: $0.comparison) } : nil,
                topReason: top.map { "\(byID[$0.candidate].map(FrameDescriptors.key) ?? $0.candidate): \($0.comparison.reason)" }))
            if let leader = ranking.leader, let policy = byID[leader.candidate] {
                chosen = policy
                chosenThreshold = thresholds[leader.candidate]
            }
            guard step < settings.rounds, let centre = top.flatMap({ byID[$0.candidate] }) else { break }
            // Successive halving, then the evolution strategy's two moves around the leader:
            // its neighbours on the shrinking lattice, and its crossings with the kept candidates.
            let kept = try ranking.halving(keep: settings.keep).compactMap { byID[$0] }
            var next = kept
            for policy in try PolicyCandidates.refine(around: centre, step: step) + PolicyCandidates.combinations(of: centre, with: kept)
            where !next.contains(policy) {
                next.append(policy)
            }
            candidates = next
        }
        return Outcome(chosen: chosen, rounds: rounds, currentThreshold: currentThreshold, chosenThreshold: chosenThreshold ?? currentThreshold)
    }

    /// The canary stage: the proposed policy decides on the canary kiosks' verifications while
    /// today's pipeline is scored in shadow (under consent), both at the thresholds the search's
    /// attempts gave them, and the policy goes to the fleet only where the rollout's paired
    /// comparison offers promotion (`better`, or `not-worse`).
    func canary(_ outcome: Outcome, attempts canary: AttemptSet) throws -> Canary {
        guard outcome.chosen != .identity else { return Canary(promoted: false, reason: "nothing proposed") }
        let consented = canary.attempts.filter { consents($0.claimed) }
        let current = try scorer.scores(consented, policy: .identity)
        let candidate = try scorer.scores(consented, policy: outcome.chosen)
        let paired = consented.indices.map { index in
            PairedAttempt(subject: subjectID(consented[index].claimed), label: consented[index].label,
                          currentScore: current[index], candidateScore: candidate[index])
        }
        let comparison = try PairedComparison(
            attempts: paired, currentThreshold: outcome.currentThreshold, candidateThreshold: outcome.chosenThreshold,
            targetFMR: settings.targetFMR, confidence: settings.confidence, margin: settings.margin,
            bootstrap: try SubjectBootstrap(resamples: 1_000, confidence: settings.confidence, seed: Self.serverBootstrapSeed))
        let promoted = comparison.decision == .better || comparison.decision == .notWorse
        return Canary(promoted: promoted, reason: comparison.reason)
    }
}
