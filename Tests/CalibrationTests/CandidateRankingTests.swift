import Foundation
import Testing
@testable import Calibration

/// Real `PairedComparison`s built from `pairedAttempts` (PairedComparisonTests.swift): 40
/// subjects, genuine attempts the candidate alone rejects (`worse`), alone accepts (`better`)
/// and both accept (`both`), 100 impostor attempts per subject.
private enum Sample {
    /// c = 10, b = 0 of 200: better (p = 0.002), candidate FNMR 0.
    static func betterAtZero() throws -> PairedComparison { try compare(pairedAttempts(worse: 0, better: 10, both: 190)) }
    /// c = 15, b = 1 of 200: better (p < 0.001), candidate FNMR 0.005.
    static func betterAtHalfPercent() throws -> PairedComparison { try compare(pairedAttempts(worse: 1, better: 15, both: 184)) }
    /// b = c = 0: not worse, difference 0 with upper bound 0, candidate FNMR 0.
    static func same() throws -> PairedComparison { try compare(pairedAttempts(worse: 0, better: 0, both: 200)) }
    /// c = 5, b = 0: p = 0.0625, not better; upper bound below 0: not worse, candidate FNMR 0.
    static func slightlyBetter() throws -> PairedComparison { try compare(pairedAttempts(worse: 0, better: 5, both: 195)) }
    /// b = 4, c = 2: p = 0.69, difference +1 point whose upper bound exceeds the margin: inconclusive.
    static func inconclusive() throws -> PairedComparison { try compare(pairedAttempts(worse: 4, better: 2, both: 194)) }
    /// b = 10, c = 0: worse.
    static func worse() throws -> PairedComparison { try compare(pairedAttempts(worse: 10, better: 0, both: 190)) }
    /// No impostor attempts: insufficient data.
    static func insufficient() throws -> PairedComparison {
        try compare(pairedAttempts(worse: 0, better: 10, both: 190, impostorsPerSubject: 0))
    }
}

@Suite("Ranking a cohort's candidates by their paired comparisons")
struct CandidateRankingTests {
    @Test("the samples have the decisions and figures the ranking tests rely on")
    func samples() throws {
        #expect(try Sample.betterAtZero().decision == .better)
        #expect(try Sample.betterAtZero().candidateFNMR == 0)
        #expect(try Sample.betterAtHalfPercent().decision == .better)
        #expect(try Sample.betterAtHalfPercent().candidateFNMR == 0.005)
        #expect(try Sample.same().decision == .notWorse)
        #expect(try Sample.same().fnmrDifferenceUpperBound == 0)
        #expect(try Sample.slightlyBetter().decision == .notWorse)
        #expect(try Sample.slightlyBetter().candidateFNMR == 0)
        #expect(try (Sample.slightlyBetter().fnmrDifferenceUpperBound ?? 0) < 0)
        #expect(try Sample.inconclusive().decision == .inconclusive)
        #expect(try Sample.worse().decision == .worse)
        #expect(try Sample.insufficient().decision == .insufficientData)
    }

    @Test("order: decision class first, then candidate FNMR, then the difference's upper bound, then the id")
    func order() throws {
        let ranking = try CandidateRanking([
            (candidate: "insufficient", comparison: Sample.insufficient()),
            (candidate: "worse", comparison: Sample.worse()),
            (candidate: "same-b", comparison: Sample.same()),
            (candidate: "inconclusive", comparison: Sample.inconclusive()),
            (candidate: "better-0.5", comparison: Sample.betterAtHalfPercent()),
            (candidate: "slightly-better", comparison: Sample.slightlyBetter()),
            (candidate: "same-a", comparison: Sample.same()),
            (candidate: "better-0", comparison: Sample.betterAtZero()),
        ])
        #expect(ranking.entries.map(\.candidate) == [
            "better-0", "better-0.5",                     // better, FNMR 0 before 0.005
            "slightly-better", "same-a", "same-b",        // not worse, FNMR 0: upper bound < 0 first, then by id
            "inconclusive", "worse", "insufficient",
        ])
        #expect(ranking.leader?.candidate == "better-0")
        #expect(ranking.leader?.comparison == (try Sample.betterAtZero()))
        // The order does not depend on the order of the input.
        let reversed = try CandidateRanking(ranking.entries.reversed().map { (candidate: $0.candidate, comparison: $0.comparison) })
        #expect(reversed == ranking)
    }

    @Test("a low FNMR without proof does not outrank a proved better candidate")
    func classBeforeFNMR() throws {
        // The better candidate has FNMR 0.005, the not-worse one 0: class wins.
        let ranking = try CandidateRanking([
            (candidate: "a-same", comparison: Sample.same()),
            (candidate: "z-better", comparison: Sample.betterAtHalfPercent()),
        ])
        #expect(ranking.entries.map(\.candidate) == ["z-better", "a-same"])
        #expect(ranking.leader?.candidate == "z-better")
    }

    @Test("the leader offers promotion and lowers FNMR: better, or not worse with a lower FNMR; never the same, inconclusive or worse")
    func leaderOnlyWhenPromotableAndLower() throws {
        let notWorse = try CandidateRanking([
            (candidate: "w", comparison: Sample.worse()),
            (candidate: "n", comparison: Sample.same()),
            (candidate: "i", comparison: Sample.inconclusive()),
        ])
        #expect(notWorse.entries.first?.candidate == "n")
        // Not worse but no lower FNMR (b = c = 0): nothing to gain, no leader.
        #expect(notWorse.leader == nil)
        let slightly = try CandidateRanking([
            (candidate: "n", comparison: Sample.same()),
            (candidate: "s", comparison: Sample.slightlyBetter()),
            (candidate: "i", comparison: Sample.inconclusive()),
        ])
        #expect(try Sample.slightlyBetter().decision == .notWorse)
        #expect(slightly.leader?.candidate == "s")
        #expect(try CandidateRanking([(candidate: "i", comparison: Sample.inconclusive()), (candidate: "w", comparison: Sample.worse())]).leader == nil)
        #expect(try CandidateRanking([(candidate: "x", comparison: Sample.insufficient())]).leader == nil)
        #expect(try CandidateRanking([]).leader == nil)
        #expect(try CandidateRanking([]).entries.isEmpty)
    }

    @Test("halving keeps the better half by default, never a worse candidate, and exactly `keep` otherwise")
    func halving() throws {
        let ranking = try CandidateRanking([
            (candidate: "b", comparison: Sample.betterAtZero()),
            (candidate: "n", comparison: Sample.same()),
            (candidate: "i", comparison: Sample.inconclusive()),
            (candidate: "w", comparison: Sample.worse()),
            (candidate: "d", comparison: Sample.insufficient()),
        ])
        #expect(try ranking.halving() == ["b", "n", "i"])  // ⌈5 / 2⌉
        #expect(try ranking.halving(keep: 1) == ["b"])
        #expect(try ranking.halving(keep: 4) == ["b", "n", "i", "d"])  // the worse one is skipped
        #expect(try ranking.halving(keep: 10) == ["b", "n", "i", "d"])
        #expect(try ranking.halving(keep: 0) == [])
        #expect(throws: CalibrationError.self) { try ranking.halving(keep: -1) }
        let four = try CandidateRanking(ranking.entries.prefix(4).map { (candidate: $0.candidate, comparison: $0.comparison) })
        #expect(try four.halving() == ["b", "n"])  // 4 / 2
    }

    @Test("bad input is refused: duplicate or empty ids, mixed target FMRs")
    func refusesBadInput() throws {
        let same = try Sample.same()
        #expect(throws: CalibrationError.self) {
            try CandidateRanking([(candidate: "a", comparison: same), (candidate: "a", comparison: same)])
        }
        #expect(throws: CalibrationError.self) { try CandidateRanking([(candidate: "", comparison: same)]) }
        let otherTarget = try PairedComparison(
            attempts: pairedAttempts(worse: 0, better: 0, both: 200), currentThreshold: 0.8, candidateThreshold: 0.8,
            targetFMR: 1e-2, confidence: 0.95, margin: 0.01, bootstrap: SubjectBootstrap(seed: 3))
        do {
            _ = try CandidateRanking([(candidate: "a", comparison: same), (candidate: "b", comparison: otherTarget)])
            Issue.record("mixed target FMRs were ranked")
        } catch let CalibrationError.invalidParameter(message) {
            #expect(message.contains("candidate b"))
        }
    }

    @Test("a ranking round-trips through JSON")
    func codable() throws {
        let ranking = try CandidateRanking([
            (candidate: "b", comparison: Sample.betterAtZero()), (candidate: "n", comparison: Sample.same()),
        ])
        let decoded = try JSONDecoder().decode(CandidateRanking.self, from: JSONEncoder().encode(ranking))
        #expect(decoded == ranking)
        #expect(decoded.leader?.candidate == "b")
        // JSON whose entries are out of order is ranked again; a duplicate id is refused.
        var object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(ranking)) as? [String: Any])
        let entries = try #require(object["entries"] as? [Any])
        object["entries"] = Array(entries.reversed())
        let reordered = try JSONDecoder().decode(CandidateRanking.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(reordered.entries.map(\.candidate) == ["b", "n"])
        object["entries"] = [entries[0], entries[0]]
        #expect(throws: CalibrationError.self) {
            try JSONDecoder().decode(CandidateRanking.self, from: JSONSerialization.data(withJSONObject: object))
        }
    }
}

@Suite("Outcomes a paired comparison needs: McNemar sample size (Connor 1987), Clopper–Pearson impostors")
struct OutcomesNeededTests {
    /// Φ⁻¹ against Python's `statistics.NormalDist().inv_cdf` (3.12).
    @Test("the normal quantile matches Python's NormalDist to 1e-13")
    func normalQuantile() {
        let reference: [(p: Double, z: Double)] = [
            (0.975, 1.9599639845400536), (0.8, 0.8416212335729144), (0.9, 1.2815515655446008),
            (0.5, 0), (1e-10, -6.361340902404056),
        ]
        for (p, z) in reference {
            #expect(abs(OutcomesNeeded.standardNormalQuantile(p) - z) <= 1e-13 * max(1, abs(z)), "Φ⁻¹(\(p))")
        }
        #expect(abs(OutcomesNeeded.standardNormalQuantile(0.025) + 1.9599639845400536) < 1e-13)
    }

    /// n = (z₀.₉₇₅·√ψ + z_power·√(ψ − δ²))² / δ², by hand (see OutcomesNeeded's documentation)
    /// and with Python's NormalDist:
    /// - ψ 0.10, δ 0.05, power 0.8: (1.959964·0.316228 + 0.841621·0.312250)² / 0.0025 = 311.587 → 312
    /// - ψ 0.20, δ 0.04, power 0.9: (1.959964·0.447214 + 1.281552·0.445421)² / 0.0016 = 1309.269 → 1310
    /// - ψ 0.06, δ 0.02, power 0.8: (1.959964·0.244949 + 0.841621·0.244131)² / 0.0004 = 1174.971 → 1175
    @Test("genuine attempts: Connor's formula, worked by hand")
    func genuineAttempts() throws {
        #expect(try OutcomesNeeded.genuineAttempts(discordantShare: 0.1, difference: 0.05) == 312)
        #expect(try OutcomesNeeded.genuineAttempts(discordantShare: 0.1, difference: -0.05) == 312)
        #expect(try OutcomesNeeded.genuineAttempts(discordantShare: 0.2, difference: 0.04, confidence: 0.95, power: 0.9) == 1310)
        #expect(try OutcomesNeeded.genuineAttempts(discordantShare: 0.06, difference: 0.02, confidence: 0.95, power: 0.8) == 1175)
        // Halving the difference to detect roughly quadruples the attempts; more power costs more.
        // (ψ 0.1, δ 0.025: 1253.46 → 1254.)
        #expect(try OutcomesNeeded.genuineAttempts(discordantShare: 0.1, difference: 0.025) == 1_254)
        #expect(try OutcomesNeeded.genuineAttempts(discordantShare: 0.1, difference: 0.05, power: 0.9) > 312)
        #expect(try OutcomesNeeded.genuineAttempts(discordantShare: 0.1, difference: 0.05, confidence: 0.99) > 312)
        // Every discordant attempt in one direction: ψ = δ, the smallest sample for that ψ.
        #expect(try OutcomesNeeded.genuineAttempts(discordantShare: 0.05, difference: 0.05) < 312)
    }

    @Test("the remaining genuine attempts of a real comparison, planned from its own b, c and n")
    func remaining() throws {
        // b = 4, c = 2 of 200: ψ = 0.03, δ = 0.01: n = 2352.3 → 2353, 2153 still needed (Python NormalDist).
        let comparison = try compare(pairedAttempts(worse: 4, better: 2, both: 194))
        #expect(try OutcomesNeeded.remainingGenuineAttempts(for: comparison) == 2_153)
        // A larger difference to detect needs fewer (ψ = δ = 0.03: 259.26 → 260, 60 more);
        // b = 0, c = 10 of 200 (ψ = 0.05, δ = −0.05: 154.6 → 155 < 200) needs none.
        #expect(try OutcomesNeeded.remainingGenuineAttempts(for: comparison, difference: 0.03) == 60)
        #expect(try OutcomesNeeded.remainingGenuineAttempts(for: Sample.betterAtZero()) == 0)
        #expect(try OutcomesNeeded.remainingGenuineAttempts(for: compare(pairedAttempts(worse: 0, better: 0, both: 200))) == nil)
        #expect(try OutcomesNeeded.remainingGenuineAttempts(for: compare(pairedAttempts(worse: 2, better: 2, both: 196))) == nil)
        #expect(throws: CalibrationError.self) { try OutcomesNeeded.remainingGenuineAttempts(for: comparison, difference: 0.05) }
    }

    @Test("impostor attempts: Clopper–Pearson's ⌈ln α / ln(1 − FMR)⌉ (ln 0.05 / ln 0.999 = 2994.23)")
    func impostorAttempts() throws {
        #expect(try OutcomesNeeded.impostorAttempts(targetFMR: 1e-3) == 2_995)
        #expect(throws: CalibrationError.self) { try OutcomesNeeded.impostorAttempts(targetFMR: 0) }
    }

    @Test("bad input is refused with a message naming the value")
    func refusesBadInput() {
        for (psi, delta, confidence, power) in [
            (0.0, 0.01, 0.95, 0.8), (1.5, 0.01, 0.95, 0.8), (Double.nan, 0.01, 0.95, 0.8),
            (0.1, 0.0, 0.95, 0.8), (0.1, 0.2, 0.95, 0.8), (0.1, .infinity, 0.95, 0.8),
            (0.1, 0.05, 1, 0.8), (0.1, 0.05, 0, 0.8), (0.1, 0.05, 0.95, 0.4), (0.1, 0.05, 0.95, 1),
        ] {
            #expect(throws: CalibrationError.self, "ψ \(psi) δ \(delta) confidence \(confidence) power \(power)") {
                try OutcomesNeeded.genuineAttempts(discordantShare: psi, difference: delta, confidence: confidence, power: power)
            }
        }
    }
}
