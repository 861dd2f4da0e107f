#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One attempt scored by both models: the current model decided it, the candidate scored
/// it in shadow.
public struct PairedAttempt: Sendable, Hashable, Codable {
    /// The subject's pseudonym; for an impostor attempt, the subject it claimed to be.
    public var subject: String
    public var label: ScoreLabel
    public var currentScore: Double
    public var candidateScore: Double

    public init(subject: String, label: ScoreLabel, currentScore: Double, candidateScore: Double) {
        self.subject = subject
        self.label = label
        self.currentScore = currentScore
        self.candidateScore = candidateScore
    }
}

/// Is the candidate model at least as good as the current one on the same attempts, each at
/// its own threshold for the same target FMR?
///
/// - **FNMR, paired.** On genuine attempts, b counts those the current model accepts and the
///   candidate rejects, c the reverse; McNemar's exact test asks whether b and c differ by
///   more than chance. The FNMR difference (candidate − current = (b − c) / genuine) gets a
///   subject-bootstrap interval: a plain percentile interval (genuine attempts involve one
///   subject, and the question is the population's difference, not a fresh sample's).
/// - **FMR, paired too.** Each model's observed FMR at its threshold and its subject-level
///   prediction bound (`SubjectResampling.fmrUpperBound`, both on the same resamples) are
///   reported. The candidate breaks the FMR promise when, on the same impostor attempts, it
///   falsely matches significantly more of them than the current model (McNemar's exact test on
///   the impostors each model alone accepts). Comparing the two bounds instead decides by chance
///   on small cohorts: both sit far above the target there, and whichever is larger would win.
///
/// The decision, in this order (α = 1 − confidence):
/// 1. `insufficientData` — no genuine or no impostor attempts;
/// 2. `worse` — the candidate falsely matches significantly more impostor attempts, or b > c with p < α;
/// 3. `better` — c > b with p < α;
/// 4. `notWorse` — the FNMR difference's upper bound is at most `margin`;
/// 5. `inconclusive` — anything else: too little evidence either way.
///
/// A candidate significantly worse on FNMR is `worse` even when the difference lies within the
/// margin: promotion is offered only for `better` and `notWorse`.
///
/// ```swift
/// let comparison = try PairedComparison(
///     attempts: attempts, currentThreshold: 0.925, candidateThreshold: 0.918,
///     targetFMR: 1e-3, confidence: 0.95, margin: 0.01, bootstrap: SubjectBootstrap(seed: 7))
/// comparison.decision          // .notWorse
/// comparison.reason            // "not worse: FNMR 8.10 % → 8.30 % …"
/// ```
public struct PairedComparison: Sendable, Hashable, Codable {
    public enum Decision: String, Sendable, Hashable, Codable, CaseIterable {
        case better
        case notWorse = "not-worse"
        case worse
        case inconclusive
        case insufficientData = "insufficient-data"

        /// Whether the candidate may be promoted on this evidence.
        public var offersPromotion: Bool { self == .better || self == .notWorse }
    }

    public var targetFMR: Double
    /// Confidence of the McNemar decision (α = 1 − confidence) and of the FNMR interval.
    public var confidence: Double
    /// Non-inferiority margin on FNMR (an absolute rate, 0.01 = one percentage point).
    public var margin: Double
    public var currentThreshold: Double
    public var candidateThreshold: Double
    public var genuineAttempts: Int
    public var impostorAttempts: Int
    /// Subjects with at least one genuine or impostor attempt.
    public var subjects: Int
    /// nil without genuine attempts.
    public var currentFNMR: Double?
    public var candidateFNMR: Double?
    /// b: genuine attempts the current model accepts and the candidate rejects.
    public var candidateWorse: Int
    /// c: genuine attempts the candidate accepts and the current model rejects.
    public var candidateBetter: Int
    /// McNemar's exact two-sided p-value on b and c.
    public var mcnemarPValue: Double
    /// Impostor attempts only the candidate falsely matches, only the current model does, and
    /// McNemar's exact p-value on the two.
    public var candidateOnlyFalseMatches: Int
    public var currentOnlyFalseMatches: Int
    public var falseMatchPValue: Double
    /// Candidate FNMR − current FNMR; nil without genuine attempts.
    public var fnmrDifference: Double?
    /// The (1 − confidence)-quantile of the resampled difference.
    public var fnmrDifferenceLowerBound: Double?
    /// The confidence-quantile of the resampled difference (one-sided upper bound).
    public var fnmrDifferenceUpperBound: Double?
    /// nil without impostor attempts.
    public var currentFMR: Double?
    public var candidateFMR: Double?
    /// Subject-level prediction bounds (the bootstrap's confidence and spread).
    public var currentFMRUpperBound: Double?
    public var candidateFMRUpperBound: Double?
    public var decision: Decision
    /// One line with the figures behind the decision.
    public var reason: String

    public var offersPromotion: Bool { decision.offersPromotion }

    /// Compares the two models on `attempts` (unknown labels are ignored).
    /// - Throws: `.targetOutOfRange` unless 0 < targetFMR < 1; `.invalidParameter` for a
    ///   confidence outside (0, 1), a negative or non-finite margin, or a NaN threshold;
    ///   `.nanScore` / `.nonFiniteScore` for a score that is not finite.
    public init(
        attempts: some Sequence<PairedAttempt>,
        currentThreshold: Double,
        candidateThreshold: Double,
        targetFMR: Double,
        confidence: Double = 0.95,
        margin: Double = 0.01,
        bootstrap: SubjectBootstrap
    ) throws {
        guard targetFMR > 0, targetFMR < 1 else { throw CalibrationError.targetOutOfRange(targetFMR) }
        guard confidence > 0, confidence < 1 else {
            throw CalibrationError.invalidParameter("confidence \(confidence) must be in (0, 1)")
        }
        guard margin >= 0, margin.isFinite else {
            throw CalibrationError.invalidParameter("margin \(margin) must be a finite number >= 0")
        }
        guard !currentThreshold.isNaN, !candidateThreshold.isNaN else {
            throw CalibrationError.invalidParameter("thresholds must not be NaN")
        }
        let labelled = attempts.filter { $0.label != .unknown }
        let current = try SubjectScores(attempts: labelled.lazy.map { (subject: $0.subject, score: $0.currentScore, label: $0.label) })
        let candidate = try SubjectScores(attempts: labelled.lazy.map { (subject: $0.subject, score: $0.candidateScore, label: $0.label) })

        var candidateOnly = 0, currentOnly = 0
        for attempt in labelled where attempt.label == .impostor {
            let currentMatches = attempt.currentScore >= currentThreshold
            let candidateMatches = attempt.candidateScore >= candidateThreshold
            if candidateMatches && !currentMatches { candidateOnly += 1 }
            if currentMatches && !candidateMatches { currentOnly += 1 }
        }
        var b = 0, c = 0, currentRejects = 0, candidateRejects = 0
        for attempt in labelled where attempt.label == .genuine {
            let currentAccepts = attempt.currentScore >= currentThreshold
            let candidateAccepts = attempt.candidateScore >= candidateThreshold
            if !currentAccepts { currentRejects += 1 }
            if !candidateAccepts { candidateRejects += 1 }
            if currentAccepts && !candidateAccepts { b += 1 }
            if candidateAccepts && !currentAccepts { c += 1 }
        }

        self.targetFMR = targetFMR
        self.confidence = confidence
        self.margin = margin
        self.currentThreshold = currentThreshold
        self.candidateThreshold = candidateThreshold
        genuineAttempts = current.genuineCount
        impostorAttempts = current.impostorCount
        subjects = current.subjectCount
        candidateWorse = b
        candidateBetter = c
        mcnemarPValue = McNemar.exactPValue(candidateWorse: b, candidateBetter: c)
        candidateOnlyFalseMatches = candidateOnly
        currentOnlyFalseMatches = currentOnly
        falseMatchPValue = McNemar.exactPValue(candidateWorse: candidateOnly, candidateBetter: currentOnly)
        decision = .insufficientData
        reason = ""

        let currentResampling = bootstrap.resampling(of: current)
        let candidateResampling = currentResampling.sharingResamples(with: candidate) ?? bootstrap.resampling(of: candidate)
        if genuineAttempts > 0 {
            let genuine = Double(genuineAttempts)
            currentFNMR = Double(currentRejects) / genuine
            candidateFNMR = Double(candidateRejects) / genuine
            let difference = Double(candidateRejects - currentRejects) / genuine
            fnmrDifference = difference
            let interval = Self.differenceInterval(
                current: currentResampling, candidate: candidateResampling, observed: difference,
                currentThreshold: currentThreshold, candidateThreshold: candidateThreshold, confidence: confidence)
            fnmrDifferenceLowerBound = interval.lower
            fnmrDifferenceUpperBound = interval.upper
        }
        if impostorAttempts > 0 {
            currentFMR = currentResampling.observedFMR(at: currentThreshold)
            candidateFMR = candidateResampling.observedFMR(at: candidateThreshold)
            currentFMRUpperBound = currentResampling.fmrUpperBound(at: currentThreshold)
            candidateFMRUpperBound = candidateResampling.fmrUpperBound(at: candidateThreshold)
        }
        (decision, reason) = Self.decide(self)
    }

    /// Compares the two models each at its exact threshold for `targetFMR` on these attempts'
    /// impostor scores (`ErrorRates.farThreshold`, bob.measure's `far_threshold`): the operating
    /// point a ranking of candidates is stated at. A published threshold release would put each
    /// model where the subjects bootstrap moves it, which with few subjects in a cohort sits far
    /// below the target FMR and ranks candidates by a different part of their curves.
    /// - Throws: `.tooFewImpostors` with fewer than two impostor attempts, and what `init` throws.
    public static func atTargetFMR(
        attempts: [PairedAttempt],
        targetFMR: Double,
        confidence: Double = 0.95,
        margin: Double = 0.01,
        bootstrap: SubjectBootstrap
    ) throws -> PairedComparison {
        let impostors = attempts.filter { $0.label == .impostor }
        return try PairedComparison(
            attempts: attempts,
            currentThreshold: try ErrorRates.farThreshold(impostors: impostors.map(\.currentScore), target: targetFMR),
            candidateThreshold: try ErrorRates.farThreshold(impostors: impostors.map(\.candidateScore), target: targetFMR),
            targetFMR: targetFMR, confidence: confidence, margin: margin, bootstrap: bootstrap)
    }

    /// Resampled candidate − current FNMR on the shared resamples: its (1 − c)- and c-quantiles.
    private static func differenceInterval(
        current: SubjectResampling, candidate: SubjectResampling, observed: Double,
        currentThreshold: Double, candidateThreshold: Double, confidence: Double
    ) -> (lower: Double, upper: Double) {
        // Both resamplings list the same subjects in the same order (same attempts).
        let genuine = current.subjectScores.map { Double($0.genuineScores.count) }
        let differences = zip(current.subjectScores, candidate.subjectScores).map { pair in
            Double(pair.1.genuineScores.count(below: candidateThreshold) - pair.0.genuineScores.count(below: currentThreshold))
        }
        let genuineSums = SubjectResampling.weightedSums(genuine, weights: current.weights, resamples: current.bootstrap.resamples)
        let resampled = current.resampledRatios(numerators: differences, denominatorSums: genuineSums, observed: observed)
        return (SubjectResampling.quantile(resampled, at: 1 - confidence), SubjectResampling.quantile(resampled, at: confidence))
    }

    private static func decide(_ comparison: PairedComparison) -> (Decision, String) {
        let alpha = 1 - comparison.confidence
        let b = comparison.candidateWorse, c = comparison.candidateBetter, p = comparison.mcnemarPValue
        guard comparison.genuineAttempts > 0, comparison.impostorAttempts > 0,
              let currentFNMR = comparison.currentFNMR, let candidateFNMR = comparison.candidateFNMR,
              let upper = comparison.fnmrDifferenceUpperBound, let difference = comparison.fnmrDifference,
              let currentBound = comparison.currentFMRUpperBound, let candidateBound = comparison.candidateFMRUpperBound
        else {
            return (.insufficientData, "insufficient data: \(comparison.genuineAttempts) genuine and "
                + "\(comparison.impostorAttempts) impostor attempts; the comparison needs both")
        }
        let fnmr = "FNMR \(Text.percent(currentFNMR)) → \(Text.percent(candidateFNMR))"
        let mcnemar = "McNemar b = \(b), c = \(c), p = \(Text.pValue(p))"
        let fmr = "FMR bound \(Text.scientific(candidateBound)) (current \(Text.scientific(currentBound)), "
            + "target \(Text.scientific(comparison.targetFMR)))"
        let (d, e, pFMR) = (comparison.candidateOnlyFalseMatches, comparison.currentOnlyFalseMatches, comparison.falseMatchPValue)
        if d > e && pFMR < alpha {
            return (.worse, "worse: the candidate falsely matches more impostor attempts (\(d) only by the candidate, \(e) only by "
                + "the current model, p = \(Text.pValue(pFMR)) < \(Text.plain(alpha))); \(fmr); \(fnmr)")
        }
        if b > c && p < alpha {
            return (.worse, "worse: the candidate rejects more genuine attempts (\(fnmr), \(mcnemar) < \(Text.plain(alpha))); \(fmr)")
        }
        if c > b && p < alpha {
            return (.better, "better: the candidate rejects fewer genuine attempts (\(fnmr), \(mcnemar) < \(Text.plain(alpha))); \(fmr)")
        }
        let differenceText = "difference \(Text.points(difference)) points, upper bound \(Text.points(upper))"
        if upper <= comparison.margin {
            return (.notWorse, "not worse: \(fnmr), \(differenceText) <= margin \(Text.fixed(comparison.margin * 100, decimals: 2)); \(mcnemar); \(fmr)")
        }
        return (.inconclusive, "inconclusive: \(fnmr), \(differenceText) > margin \(Text.fixed(comparison.margin * 100, decimals: 2)) "
            + "and \(mcnemar) not below \(Text.plain(alpha)); more attempts are needed; \(fmr)")
    }
}

/// Numbers for the one-line reasons, without Foundation's formatter (Calibration has no I/O
/// and no Foundation).
enum Text {
    /// A rate as a percentage with two decimals: "8.13 %".
    static func percent(_ rate: Double) -> String { fixed(rate * 100, decimals: 2) + " %" }

    /// A rate difference in percentage points with a sign: "+0.25".
    static func points(_ rate: Double) -> String {
        let text = fixed(rate * 100, decimals: 2)
        return rate >= 0 ? "+" + text : text
    }

    /// A p-value: three decimals down to 0.001, then scientific.
    static func pValue(_ p: Double) -> String { p >= 0.001 ? fixed(p, decimals: 3) : scientific(p) }

    /// Up to four decimals, trailing zeros dropped: "0.05".
    static func plain(_ value: Double) -> String {
        var text = fixed(value, decimals: 4)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// Two significant digits in scientific notation: "9.1e-04".
    static func scientific(_ value: Double) -> String {
        guard value != 0, value.isFinite else { return value == 0 ? "0" : "\(value)" }
        var exponent = Int(floor(log10(abs(value))))
        var mantissa = (value / pow(10, Double(exponent)) * 10).rounded() / 10
        if abs(mantissa) >= 10 {
            mantissa /= 10
            exponent += 1
        }
        let sign = exponent < 0 ? "-" : "+"
        let digits = String(abs(exponent))
        return fixed(mantissa, decimals: 1) + "e" + sign + (digits.count < 2 ? "0" + digits : digits)
    }

    /// `value` rounded to `decimals` places.
    static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        let scale = pow(10, Double(decimals))
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return "\(value)" }
        let whole = Int(scaled) / Int(scale)
        var fraction = String(Int(scaled) % Int(scale))
        while fraction.count < decimals { fraction = "0" + fraction }
        let sign = value < 0 && scaled > 0 ? "-" : ""
        return decimals > 0 ? "\(sign)\(whole).\(fraction)" : "\(sign)\(whole)"
    }
}
