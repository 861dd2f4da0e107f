import Federation
import FederationCore
import Testing

@Suite struct AccountantTests {
    let fixture: AccountingFixture

    init() throws {
        fixture = try loadFixture("dp_accounting.json", as: AccountingFixture.self)
    }

    @Test func defaultOrdersAreDPAccountingGrid() {
        #expect(RDPAccountant.defaultOrders == fixture.singleStepRDP.orders)
    }

    @Test func singleRoundRDPMatchesDPAccountingAtEveryOrder() {
        let step = fixture.singleStepRDP
        let ours = RDPAccountant(orders: step.orders).rdpPerRound(samplingRate: step.samplingRate, noiseMultiplier: step.noiseMultiplier)
        for (index, (mine, reference)) in zip(ours, step.rdp).enumerated() {
            #expect(abs(mine - reference) <= 1e-9 * max(1e-12, abs(reference)) + 1e-15,
                    "order \(step.orders[index]): \(mine) vs \(reference)")
        }
    }

    @Test func rdpEpsilonMatchesDPAccounting() throws {
        for reference in fixture.cases {
            let ledger = [PrivacyLedgerEntry(samplingRate: reference.samplingRate, noiseMultiplier: reference.noiseMultiplier,
                                             rounds: reference.rounds)]
            let (epsilon, order) = try RDPAccountant().epsilon(for: ledger, delta: reference.delta)
            #expect(abs(epsilon - reference.rdpEpsilon) <= 1e-6 * reference.rdpEpsilon,
                    "z=\(reference.noiseMultiplier) q=\(reference.samplingRate) T=\(reference.rounds): \(epsilon) vs \(reference.rdpEpsilon)")
            #expect(order == reference.rdpOptimalOrder)
        }
    }

    /// Connect-the-dots at Δ = 1e-4 is dp-accounting's own default, so the figures agree far
    /// below the discretisation: 1e-6 relative is the documented tolerance.
    @Test func pldEpsilonMatchesDPAccounting() throws {
        let accountant = PLDAccountant()
        for reference in fixture.cases {
            let ledger = [PrivacyLedgerEntry(samplingRate: reference.samplingRate, noiseMultiplier: reference.noiseMultiplier,
                                             rounds: reference.rounds)]
            let epsilon = try accountant.epsilon(for: ledger, delta: reference.delta)
            #expect(abs(epsilon - reference.pldEpsilon) <= 1e-6 * reference.pldEpsilon,
                    "z=\(reference.noiseMultiplier) q=\(reference.samplingRate) T=\(reference.rounds): \(epsilon) vs \(reference.pldEpsilon)")
        }
    }

    /// Rounding losses up is the looser pessimistic estimate: never below connect-the-dots,
    /// and above it by no more than T·Δ.
    @Test func roundedUpPLDIsLooserByAtMostRoundsTimesInterval() throws {
        let reference = try #require(fixture.cases.first { $0.rounds == 100 })
        let ledger = [PrivacyLedgerEntry(samplingRate: reference.samplingRate, noiseMultiplier: reference.noiseMultiplier,
                                         rounds: reference.rounds)]
        let tight = try PLDAccountant().epsilon(for: ledger, delta: reference.delta)
        let loose = try PLDAccountant(discretization: .roundUp).epsilon(for: ledger, delta: reference.delta)
        #expect(loose >= tight)
        #expect(loose - tight <= Double(reference.rounds) * 1e-4)
    }

    @Test func pldIsTighterThanRDP() throws {
        for reference in fixture.cases {
            #expect(reference.pldEpsilon < reference.rdpEpsilon)
        }
        let ledger = [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 1000)]
        let rdp = try RDPAccountant().epsilon(for: ledger, delta: 1e-6).epsilon
        let pld = try PLDAccountant().epsilon(for: ledger, delta: 1e-6)
        #expect(abs(rdp - 2.44) < 0.01)
        #expect(abs(pld - 2.12) < 0.01)
    }

    /// Splitting the same rounds over several ledger entries composes to the same ε.
    @Test func ledgerEntriesCompose() throws {
        let whole = [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 100)]
        let split = [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 60),
                     PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 40)]
        let rdpWhole = try RDPAccountant().epsilon(for: whole, delta: 1e-5).epsilon
        let rdpSplit = try RDPAccountant().epsilon(for: split, delta: 1e-5).epsilon
        #expect(abs(rdpWhole - rdpSplit) <= 1e-12 * rdpWhole)
        let pldWhole = try PLDAccountant().epsilon(for: whole, delta: 1e-5)
        let pldSplit = try PLDAccountant().epsilon(for: split, delta: 1e-5)
        #expect(abs(pldWhole - pldSplit) <= 1e-6 * pldWhole)
        // Mixing parameters lands between the two pure ledgers.
        let noisier = [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 2, rounds: 100)]
        let mixed = [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 50),
                     PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 2, rounds: 50)]
        let pldNoisier = try PLDAccountant().epsilon(for: noisier, delta: 1e-5)
        let pldMixed = try PLDAccountant().epsilon(for: mixed, delta: 1e-5)
        #expect(pldNoisier < pldMixed && pldMixed < pldWhole)
    }

    @Test func edgeCases() throws {
        #expect(try RDPAccountant().epsilon(for: [], delta: 1e-5).epsilon == 0)
        #expect(try PLDAccountant().epsilon(for: [], delta: 1e-5) == 0)
        let noNoise = [PrivacyLedgerEntry(samplingRate: 0.1, noiseMultiplier: 0, rounds: 1)]
        #expect(try RDPAccountant().epsilon(for: noNoise, delta: 1e-5).epsilon == .infinity)
        #expect(try PLDAccountant().epsilon(for: noNoise, delta: 1e-5) == .infinity)
        let notSampled = [PrivacyLedgerEntry(samplingRate: 0, noiseMultiplier: 0, rounds: 10)]
        #expect(try PLDAccountant().epsilon(for: notSampled, delta: 1e-5) == 0)
        #expect(throws: FederationError.self) {
            try RDPAccountant().epsilon(for: [PrivacyLedgerEntry(samplingRate: 1.5, noiseMultiplier: 1, rounds: 1)], delta: 1e-5)
        }
        #expect(throws: FederationError.self) { try PLDAccountant().epsilon(for: [], delta: 0) }
    }
}

@Suite struct PLDLimitTests {
    /// Tiny noise makes ε enormous and the grid unbounded: a clear error, not a crash.
    @Test func refusesGridsBeyondTheLimit() {
        let ledger = [PrivacyLedgerEntry(samplingRate: 1, noiseMultiplier: 0.05, rounds: 1000)]
        #expect(throws: FederationError.self) { try PLDAccountant().epsilon(for: ledger, delta: 1e-6) }
        #expect(throws: FederationError.self) {
            try PLDAccountant(maximumGridPoints: 1000).epsilon(
                for: [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 10)], delta: 1e-6)
        }
    }
}
