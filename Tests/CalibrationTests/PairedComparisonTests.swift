import Foundation
import Testing
@testable import Calibration

/// Paired attempts of `subjects` subjects. Genuine attempts: `worse` accepted by the current
/// model (score 0.9 ≥ 0.8) and rejected by the candidate (0.7 < 0.8), `better` the reverse,
/// `both` accepted by both, spread round-robin over the subjects. Impostor attempts:
/// `impostorsPerSubject` per subject at 0.1 for both models, except that the candidate scores
/// the first `candidateFalseMatches` subjects' first five impostors at 0.95.
func pairedAttempts(
    subjects: Int = 40, worse: Int, better: Int, both: Int, impostorsPerSubject: Int = 100, candidateFalseMatches: Int = 0
) -> [PairedAttempt] {
    var attempts: [PairedAttempt] = []
    var next = 0
    func subject() -> String {
        defer { next += 1 }
        return "s\(next % subjects)"
    }
    for _ in 0..<worse { attempts.append(PairedAttempt(subject: subject(), label: .genuine, currentScore: 0.9, candidateScore: 0.7)) }
    for _ in 0..<better { attempts.append(PairedAttempt(subject: subject(), label: .genuine, currentScore: 0.7, candidateScore: 0.9)) }
    for _ in 0..<both { attempts.append(PairedAttempt(subject: subject(), label: .genuine, currentScore: 0.9, candidateScore: 0.85)) }
    for index in 0..<subjects {
        for attempt in 0..<impostorsPerSubject {
            let candidate = index < candidateFalseMatches && attempt < 5 ? 0.95 : 0.1
            attempts.append(PairedAttempt(subject: "s\(index)", label: .impostor, currentScore: 0.1, candidateScore: candidate))
        }
    }
    attempts.append(PairedAttempt(subject: "s0", label: .unknown, currentScore: 0.99, candidateScore: 0.01))
    return attempts
}

func compare(_ attempts: [PairedAttempt], margin: Double = 0.01) throws -> PairedComparison {
    try PairedComparison(
        attempts: attempts, currentThreshold: 0.8, candidateThreshold: 0.8, targetFMR: 1e-3,
        confidence: 0.95, margin: margin, bootstrap: SubjectBootstrap(seed: 3))
}

@Suite("Paired comparison of a candidate model with the current one")
struct PairedComparisonTests {
    @Test("at the target FMR: each model at bob's far_threshold of its own scores of the impostor attempts (unknown labels left out)")
    func atTargetFMR() throws {
        // 3,000 impostor attempts over 30 subjects, the candidate's scores spread higher, so the two thresholds differ.
        var attempts: [PairedAttempt] = []
        for index in 0..<3_000 {
            let spread = Double((index * 7_919) % 10_007) / 10_007
            attempts.append(PairedAttempt(subject: "s\(index % 30)", label: .impostor, currentScore: 0.6 * spread,
                                          candidateScore: 0.2 + 0.7 * spread * spread))
        }
        for index in 0..<300 {
            let spread = Double((index * 104_729) % 1_009) / 1_009
            attempts.append(PairedAttempt(subject: "s\(index % 30)", label: .genuine, currentScore: 0.45 + 0.5 * spread,
                                          candidateScore: 0.55 + 0.45 * spread))
        }
        attempts.append(PairedAttempt(subject: "s0", label: .unknown, currentScore: 0.99, candidateScore: 0.99))
        let impostors = attempts.filter { $0.label == .impostor }
        let bootstrap = try SubjectBootstrap(seed: 3)
        let comparison = try PairedComparison.atTargetFMR(attempts: attempts, targetFMR: 1e-3, bootstrap: bootstrap)
        let current = try ErrorRates.farThreshold(impostors: impostors.map(\.currentScore), target: 1e-3)
        let candidate = try ErrorRates.farThreshold(impostors: impostors.map(\.candidateScore), target: 1e-3)
        #expect(comparison.currentThreshold == current && comparison.candidateThreshold == candidate)
        #expect(current != candidate)
        #expect(try #require(comparison.currentFMR) <= 1e-3 && (try #require(comparison.candidateFMR)) <= 1e-3)
        #expect(comparison == (try PairedComparison(attempts: attempts, currentThreshold: current, candidateThreshold: candidate,
                                                    targetFMR: 1e-3, bootstrap: bootstrap)))
        #expect(throws: CalibrationError.self, "one impostor attempt gives no threshold") {
            try PairedComparison.atTargetFMR(attempts: Array(attempts.suffix(302)), targetFMR: 1e-3, bootstrap: bootstrap)
        }
    }

    @Test("c > b with p < α and the FMR kept: better, with every figure")
    func better() throws {
        let comparison = try compare(pairedAttempts(worse: 0, better: 10, both: 190))
        #expect(comparison.decision == .better)
        #expect(comparison.offersPromotion)
        #expect(comparison.genuineAttempts == 200)
        #expect(comparison.impostorAttempts == 4_000)
        #expect(comparison.subjects == 40)
        #expect(comparison.candidateWorse == 0)
        #expect(comparison.candidateBetter == 10)
        #expect(comparison.mcnemarPValue == McNemar.exactPValue(candidateWorse: 0, candidateBetter: 10))
        #expect(abs(comparison.mcnemarPValue - 2.0 / 1_024) < 1e-15)
        #expect(comparison.currentFNMR == 0.05)
        #expect(comparison.candidateFNMR == 0)
        #expect(comparison.fnmrDifference == -0.05)
        #expect(comparison.currentFMR == 0)
        #expect(comparison.candidateFMRUpperBound == 0)
        #expect(comparison.reason.hasPrefix("better: "))
        #expect(comparison.reason.contains("FNMR 5.00 % → 0.00 %"))
        #expect(comparison.reason.contains("b = 0, c = 10, p = 0.002"))
    }

    @Test("b > c with p < α: worse")
    func worseOnFNMR() throws {
        let comparison = try compare(pairedAttempts(worse: 10, better: 0, both: 190))
        #expect(comparison.decision == .worse)
        #expect(!comparison.offersPromotion)
        #expect(comparison.fnmrDifference == 0.05)
        #expect(comparison.reason.hasPrefix("worse: the candidate rejects more genuine attempts"))
    }

    @Test("a candidate that falsely matches significantly more of the same impostor attempts is worse, whatever its FNMR")
    func worseOnFMR() throws {
        // 5 false matches in each of 4 subjects: observed FMR 20 / 4,000 = 5e-3, all by the candidate alone.
        let comparison = try compare(pairedAttempts(worse: 0, better: 10, both: 190, candidateFalseMatches: 4))
        #expect(comparison.candidateFMR == 0.005)
        #expect(comparison.currentFMRUpperBound == 0)
        #expect((comparison.candidateFMRUpperBound ?? 0) > 1e-3)
        #expect(comparison.candidateOnlyFalseMatches == 20 && comparison.currentOnlyFalseMatches == 0)
        #expect(comparison.falseMatchPValue == McNemar.exactPValue(candidateWorse: 20, candidateBetter: 0))
        #expect(comparison.decision == .worse)
        #expect(comparison.reason.hasPrefix("worse: the candidate falsely matches more impostor attempts (20 only by the candidate"))
    }

    @Test("a higher FMR bound without a significant excess of false matches does not decide: the FNMR test does")
    func fmrBoundAloneDoesNotDecide() throws {
        // 5 false matches of one subject, by the candidate alone: p = 2/32 is not below 0.05,
        // although the candidate's bound is far above the target and the current model's.
        let comparison = try compare(pairedAttempts(worse: 0, better: 10, both: 190, candidateFalseMatches: 1))
        #expect((comparison.candidateFMRUpperBound ?? 0) > max(1e-3, comparison.currentFMRUpperBound ?? 1))
        #expect(comparison.falseMatchPValue == 0.0625)
        #expect(comparison.decision == .better, "\(comparison.reason)")
    }

    @Test("no discordant pairs among many genuine attempts: not worse (difference 0, bound 0)")
    func notWorseWhenIdentical() throws {
        let comparison = try compare(pairedAttempts(worse: 0, better: 0, both: 2_000))
        #expect(comparison.mcnemarPValue == 1)
        #expect(comparison.fnmrDifference == 0)
        #expect(comparison.fnmrDifferenceUpperBound == 0)
        #expect(comparison.fnmrDifferenceLowerBound == 0)
        #expect(comparison.decision == .notWorse)
        #expect(comparison.offersPromotion)
    }

    @Test("a few discordant pairs among many attempts: not worse within the margin, inconclusive with none")
    func marginDecides() throws {
        let attempts = pairedAttempts(worse: 3, better: 2, both: 1_995)
        let comparison = try compare(attempts)
        #expect(comparison.candidateWorse == 3 && comparison.candidateBetter == 2)
        #expect(comparison.mcnemarPValue == 1)
        #expect(comparison.fnmrDifference == 0.0005)
        let lower = try #require(comparison.fnmrDifferenceLowerBound)
        let upper = try #require(comparison.fnmrDifferenceUpperBound)
        #expect(lower <= 0.0005 && 0.0005 <= upper)
        #expect(upper < 0.01)
        #expect(comparison.decision == .notWorse)
        #expect(comparison.reason.hasPrefix("not worse: "))
        let strict = try compare(attempts, margin: 0)
        #expect(strict.decision == .inconclusive)
        #expect(strict.reason.hasPrefix("inconclusive: "))
    }

    @Test("few genuine attempts and no clear winner: inconclusive")
    func inconclusive() throws {
        let comparison = try compare(pairedAttempts(worse: 3, better: 1, both: 36))
        #expect(abs(comparison.mcnemarPValue - 0.625) < 1e-15)
        #expect((comparison.fnmrDifferenceUpperBound ?? 0) > 0.01)
        #expect(comparison.decision == .inconclusive)
        #expect(!comparison.offersPromotion)
    }

    @Test("no genuine or no impostor attempts: insufficient data")
    func insufficientData() throws {
        let noImpostors = try compare(pairedAttempts(worse: 0, better: 10, both: 10, impostorsPerSubject: 0))
        #expect(noImpostors.decision == .insufficientData)
        #expect(noImpostors.currentFMR == nil && noImpostors.candidateFMRUpperBound == nil)
        #expect(noImpostors.currentFNMR == 0.5)
        let noGenuine = try compare(pairedAttempts(worse: 0, better: 0, both: 0))
        #expect(noGenuine.decision == .insufficientData)
        #expect(noGenuine.currentFNMR == nil && noGenuine.fnmrDifferenceUpperBound == nil)
        #expect(noGenuine.mcnemarPValue == 1)
        #expect(noGenuine.reason == "insufficient data: 0 genuine and 4000 impostor attempts; the comparison needs both")
    }

    @Test("b, c and the p-value through the comparison equal the statsmodels fixtures")
    func againstStatsmodels() throws {
        for row in McNemarFixtures.loaded.cases where row.b + row.c <= 3_000 {
            let comparison = try compare(pairedAttempts(worse: row.b, better: row.c, both: 100, impostorsPerSubject: 10))
            #expect(comparison.candidateWorse == row.b)
            #expect(comparison.candidateBetter == row.c)
            #expect(agreesWithReference(comparison.mcnemarPValue, row.statsmodels.exact), "b \(row.b) c \(row.c)")
        }
    }

    @Test("JSON round trip keeps every field; decisions are spelled in kebab case")
    func codable() throws {
        let comparison = try compare(pairedAttempts(worse: 3, better: 2, both: 1_995))
        let data = try JSONEncoder().encode(comparison)
        #expect(try JSONDecoder().decode(PairedComparison.self, from: data) == comparison)
        #expect(String(decoding: data, as: UTF8.self).contains("\"decision\":\"not-worse\""))
        #expect(PairedComparison.Decision.insufficientData.rawValue == "insufficient-data")
    }

    @Test("refuses a bad target, confidence, margin, NaN thresholds and NaN scores")
    func refusals() throws {
        let attempts = pairedAttempts(worse: 1, better: 1, both: 10)
        let bootstrap = try SubjectBootstrap()
        #expect(throws: CalibrationError.targetOutOfRange(0)) {
            try PairedComparison(attempts: attempts, currentThreshold: 0.8, candidateThreshold: 0.8, targetFMR: 0, bootstrap: bootstrap)
        }
        #expect(throws: CalibrationError.self) {
            try PairedComparison(attempts: attempts, currentThreshold: 0.8, candidateThreshold: 0.8, targetFMR: 1e-3,
                                 confidence: 1.5, bootstrap: bootstrap)
        }
        #expect(throws: CalibrationError.self) {
            try PairedComparison(attempts: attempts, currentThreshold: 0.8, candidateThreshold: 0.8, targetFMR: 1e-3,
                                 margin: -0.1, bootstrap: bootstrap)
        }
        #expect(throws: CalibrationError.self) {
            try PairedComparison(attempts: attempts, currentThreshold: .nan, candidateThreshold: 0.8, targetFMR: 1e-3, bootstrap: bootstrap)
        }
        #expect(throws: CalibrationError.nanScore) {
            try PairedComparison(
                attempts: [PairedAttempt(subject: "a", label: .genuine, currentScore: 0.9, candidateScore: .nan)],
                currentThreshold: 0.8, candidateThreshold: 0.8, targetFMR: 1e-3, bootstrap: bootstrap)
        }
    }

    @Test("reason numbers: percentages, points, p-values and scientific bounds")
    func text() {
        #expect(Text.percent(0.081) == "8.10 %")
        #expect(Text.points(0.0025) == "+0.25")
        #expect(Text.points(-0.05) == "-5.00")
        #expect(Text.pValue(0.6875) == "0.688")
        #expect(Text.pValue(1.9e-6) == "1.9e-06")
        #expect(Text.scientific(9.14e-4) == "9.1e-04")
        #expect(Text.scientific(9.96e-4) == "1.0e-03")
        #expect(Text.scientific(0.5) == "5.0e-01")
        #expect(Text.plain(0.05) == "0.05")
        #expect(Text.fixed(-0.0001, decimals: 2) == "0.00")
    }
}
