import Calibration
import Federation
import FederationCore
import SeededRandom

/// The comparison the server makes before promoting a candidate model (issue 13), made here on
/// the held-out people with the identity adapter as the current model and the trained adapter
/// as the candidate.
///
/// The test people are split in two halves by person: each model's threshold at the target FMR
/// is computed on the calibration half as the server computes it (the larger of the
/// Clopper–Pearson threshold and the subjects bootstrap's), and the paired comparison runs on
/// the evaluation half, where both models score the same template–probe pairs. Thresholds and
/// comparison on different people keep the comparison from judging a threshold on the
/// impostors it was fitted to. A pair's subject is the template's person: the enrolled
/// identity the probe claims.
struct ShadowComparison {
    /// A model's threshold and the two it is the larger of.
    struct CalibratedThreshold: Codable {
        var clopperPearson: Double
        var subjectBootstrap: Double
        var threshold: Double
    }

    struct Figures: Codable {
        var seed: UInt64
        var calibrationPeople: Int
        var evaluationPeople: Int
        var calibrationGenuine: Int
        var calibrationImpostor: Int
        /// The subjects bootstrap of the thresholds and of the comparison.
        var bootstrap: SubjectBootstrap
        var currentThreshold: CalibratedThreshold
        var candidateThreshold: CalibratedThreshold
        /// On the evaluation half: FNMR of both at their own thresholds, McNemar's b
        /// (`candidateWorse`), c (`candidateBetter`) and p, the FNMR difference with its
        /// bootstrap bounds, both FMRs with their subject-level bounds, the decision and reason.
        var comparison: PairedComparison
    }

    struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    var targetFMR = 1e-3
    var confidence = 0.95
    var margin = 0.01
    var resamples = 1_000
    /// Seeds the split of the people and the subjects bootstrap.
    var seed: UInt64

    /// - Throws: `Refusal` when a threshold cannot be computed on the calibration half (too few
    ///   people or impostor pairs for the target); `CalibrationError` for invalid scores.
    func compare(people: [String: [PhotoDescriptor]], current: Adapter, candidate: Adapter) throws -> Figures {
        var generator = SeededGenerator(seed: seed)
        let shuffled = people.keys.sorted().shuffled(using: &generator)
        let calibrationPeople = Array(shuffled.prefix(shuffled.count / 2)).sorted()
        let evaluationPeople = Array(shuffled.dropFirst(shuffled.count / 2)).sorted()
        let calibration = KioskPopulation.attributedPairs(calibrationPeople.map { people[$0] ?? [] })
        let evaluation = KioskPopulation.attributedPairs(evaluationPeople.map { people[$0] ?? [] })
        let bootstrap = try SubjectBootstrap(resamples: resamples, confidence: confidence, seed: seed)

        let currentThreshold = try threshold(of: "current", calibration.map { try attempt($0, current) }, bootstrap: bootstrap)
        let candidateThreshold = try threshold(of: "candidate", calibration.map { try attempt($0, candidate) }, bootstrap: bootstrap)
        let attempts = try evaluation.map { pair in
            PairedAttempt(subject: pair.subject, label: pair.pair.isGenuine ? .genuine : .impostor,
                          currentScore: try Self.score(pair.pair, adapter: current),
                          candidateScore: try Self.score(pair.pair, adapter: candidate))
        }
        let comparison = try PairedComparison(
            attempts: attempts, currentThreshold: currentThreshold.threshold, candidateThreshold: candidateThreshold.threshold,
            targetFMR: targetFMR, confidence: confidence, margin: margin, bootstrap: bootstrap)
        return Figures(
            seed: seed, calibrationPeople: calibrationPeople.count, evaluationPeople: evaluationPeople.count,
            calibrationGenuine: calibration.count { $0.pair.isGenuine }, calibrationImpostor: calibration.count { !$0.pair.isGenuine },
            bootstrap: bootstrap,
            currentThreshold: currentThreshold, candidateThreshold: candidateThreshold, comparison: comparison)
    }

    private func attempt(_ pair: (subject: String, pair: LabelledPair), _ adapter: Adapter) throws -> (subject: String, score: Double, label: ScoreLabel) {
        (pair.subject, try Self.score(pair.pair, adapter: adapter), pair.pair.isGenuine ? .genuine : .impostor)
    }

    private func threshold(of model: String, _ attempts: [(subject: String, score: Double, label: ScoreLabel)],
                           bootstrap: SubjectBootstrap) throws -> CalibratedThreshold {
        let impostors = try SortedScores(attempts.filter { $0.label == .impostor }.map(\.score))
        do {
            let clopperPearson = try ClopperPearson(confidence: confidence).conservativeThreshold(impostors: impostors, targetFMR: targetFMR)
            let subjects = try bootstrap.threshold(targetFMR: targetFMR, in: SubjectScores(attempts: attempts))
            return CalibratedThreshold(clopperPearson: clopperPearson.threshold, subjectBootstrap: subjects,
                                       threshold: max(clopperPearson.threshold, subjects))
        } catch let error as CalibrationError {
            throw Refusal(description: "no \(model) threshold at FMR \(targetFMR) on the calibration half: \(error)")
        }
    }

    /// The cosine between adapted template and adapted probe (the adapter normalises).
    static func score(_ pair: LabelledPair, adapter: Adapter) throws -> Double {
        let a = try adapter.transform(pair.first), b = try adapter.transform(pair.second)
        return Double(zip(a, b).reduce(Float(0)) { $0 + $1.0 * $1.1 })
    }
}
