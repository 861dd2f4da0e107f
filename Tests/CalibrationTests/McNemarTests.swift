import Foundation
import Testing
@testable import Calibration

/// `mcnemar.json`, written by scripts/fixtures/mcnemar.py.
struct McNemarFixtures: Decodable, Sendable {
    struct Row: Decodable, Sendable {
        let b: Int
        let c: Int
        let statsmodels: FixtureNumber
        let scipy_binomtest: FixtureNumber
        let exact: FixtureNumber
    }
    let cases: [Row]

    static let loaded: McNemarFixtures = {
        guard let url = Bundle.module.url(forResource: "mcnemar", withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url) else {
            fatalError("fixture mcnemar.json is missing from the test bundle")
        }
        do {
            return try JSONDecoder().decode(McNemarFixtures.self, from: data)
        } catch {
            fatalError("fixture mcnemar.json does not decode: \(error)")
        }
    }()
}

/// Relative 1e-9, or absolute 1e-300 where the reference underflows towards 0.
func agreesWithReference(_ value: Double, _ reference: Double, relative: Double = 1e-9) -> Bool {
    if abs(reference) < 1e-290 { return abs(value - reference) <= 1e-300 }
    return abs(value - reference) <= relative * abs(reference)
}

@Suite("McNemar's exact test against statsmodels and scipy")
struct McNemarTests {
    @Test("p-values equal statsmodels mcnemar(exact=True) to 1e-9 relative (1e-300 absolute near underflow)")
    func statsmodels() {
        #expect(McNemarFixtures.loaded.cases.count >= 40)
        for row in McNemarFixtures.loaded.cases {
            let p = McNemar.exactPValue(candidateWorse: row.b, candidateBetter: row.c)
            #expect(agreesWithReference(p, row.statsmodels.exact), "b \(row.b) c \(row.c): \(p) vs \(row.statsmodels.exact)")
            #expect(agreesWithReference(p, row.scipy_binomtest.exact), "scipy binomtest, b \(row.b) c \(row.c)")
        }
    }

    @Test("p-values equal the 60-digit reference to 1e-12 relative")
    func exactReference() {
        for row in McNemarFixtures.loaded.cases {
            let p = McNemar.exactPValue(candidateWorse: row.b, candidateBetter: row.c)
            #expect(agreesWithReference(p, row.exact.exact, relative: 1e-12), "b \(row.b) c \(row.c): \(p) vs \(row.exact.exact)")
        }
    }

    @Test("hand-checked values: no discordant pairs, 0 of n, ties, symmetry")
    func handChecked() {
        #expect(McNemar.exactPValue(candidateWorse: 0, candidateBetter: 0) == 1)
        // 2 · (1/2)^5
        #expect(agreesWithReference(McNemar.exactPValue(candidateWorse: 0, candidateBetter: 5), 0.0625, relative: 1e-14))
        // 2 · (1 + 10 + 45) / 1024
        #expect(agreesWithReference(McNemar.exactPValue(candidateWorse: 2, candidateBetter: 8), 0.109375, relative: 1e-14))
        #expect(McNemar.exactPValue(candidateWorse: 8, candidateBetter: 2) == McNemar.exactPValue(candidateWorse: 2, candidateBetter: 8))
        #expect(McNemar.exactPValue(candidateWorse: 7, candidateBetter: 7) == 1)
        #expect(McNemar.exactPValue(candidateWorse: 7, candidateBetter: 8) == 1)
        #expect(McNemar.exactPValue(candidateWorse: 3, candidateBetter: 1_000_000) == 0)
    }
}
