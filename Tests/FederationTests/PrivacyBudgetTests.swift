import Foundation
import Federation
import Testing

@Suite struct PrivacyBudgetTests {
    let round = PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 1)

    @Test func opensWhileTheBudgetHolds() throws {
        let budget = PrivacyBudget(epsilon: 3, delta: 1e-6, accountant: .rdp)
        let ledger = [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 999)]
        let admission = try budget.admit(nextRound: round, after: ledger)
        guard case let .open(after) = admission else {
            Issue.record("expected the round to open, got \(admission)")
            return
        }
        // The budget counts what the release will state: the grid's effective multiplier, not z.
        let stated = try PrivacyStatement(clippingNorm: 1, noiseMultiplier: 1, samplingRate: 0.01, releaseRounds: 1,
                                          ledger: ledger + [round], delta: 1e-6)
        #expect(after == stated.cumulativeEpsilonRDP)
        #expect(after > (try RDPAccountant().epsilon(for: ledger + [round], delta: 1e-6).epsilon))
        #expect(after < 3)
    }

    @Test func refusesTheRoundThatWouldExceedTheBudgetAndSaysWhy() throws {
        // ε after 1000 rounds is ≈ 2.12 (PLD): a budget of 2.1 admits fewer rounds.
        let budget = PrivacyBudget(epsilon: 2.1, delta: 1e-6, accountant: .pld)
        let ledger = [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 999)]
        let admission = try budget.admit(nextRound: round, after: ledger)
        guard case let .refused(reason, after) = admission else {
            Issue.record("expected a refusal, got \(admission)")
            return
        }
        #expect(after > 2.1)
        #expect(reason.contains("above the budget ε = 2.1"))
        #expect(reason.contains("after 999 rounds"))
        #expect(reason.contains("PLD"))
    }

    @Test func refusesARoundWithoutNoise() throws {
        let budget = PrivacyBudget(epsilon: 100, delta: 1e-6, accountant: .rdp)
        let admission = try budget.admit(nextRound: PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 0, rounds: 1), after: [])
        guard case let .refused(reason, after) = admission else {
            Issue.record("expected a refusal, got \(admission)")
            return
        }
        #expect(after == .infinity)
        #expect(reason.contains("z = 0"))
    }

    @Test func statementCarriesBothAccountantsAndCumulativeEpsilon() throws {
        let ledger = [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 900),
                      PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 100)]
        let statement = try PrivacyStatement(clippingNorm: 0.5, noiseMultiplier: 1, samplingRate: 0.01,
                                             releaseRounds: 100, ledger: ledger, delta: 1e-6)
        #expect(statement.cumulativeRounds == 1000)
        #expect(abs(statement.cumulativeEpsilonRDP - 2.4367) < 1e-3)
        #expect(abs(statement.cumulativeEpsilonPLD - 2.1245) < 1e-3)
        #expect(statement.epsilonPLD < statement.epsilonRDP)
        #expect(statement.epsilonRDP < statement.cumulativeEpsilonRDP)
        #expect(statement.privacyUnit == PrivacyStatement.kioskRoundPrivacyUnit)
        let decoded = try JSONDecoder().decode(PrivacyStatement.self, from: JSONEncoder().encode(statement))
        #expect(decoded == statement)
    }
}
