import Testing
@testable import Calibration

/// Against scikit-learn `roc_curve`: at each target the same FMR as sklearn's operating point,
/// and an FNMR no lower (sklearn may pick a lower threshold inside a tie-free stretch).
@Suite("ErrorRates against scikit-learn roc_curve")
struct ErrorRatesSklearnTests {
    /// Above 2^53, `x + 1 == x` and bob's `nextafter(x, x + 1)` returns `x` itself, so its
    /// "FMR 0" threshold accepts the top impostors: the one place bob and sklearn part ways
    /// (`huge_magnitude`, pinned against bob in `ErrorRatesBobTests`).
    static let cases = Fixtures.sklearn.cases.filter { $0.name != "huge_magnitude" }

    @Test("FMR at far_threshold equals sklearn's FPR; FNMR is >= sklearn's", arguments: cases)
    func againstRocCurve(_ fixture: SklearnFixtures.Case) throws {
        let bobCase = try #require(Fixtures.bob.cases.first { $0.name == fixture.name })
        let impostors = try SortedScores(bobCase.impostors)
        let genuine = try SortedScores(bobCase.genuine)
        for row in fixture.at_targets {
            let threshold = try ErrorRates.farThreshold(impostors: impostors, target: row.target)
            let rates = try ErrorRates.farFRR(impostors: impostors, genuine: genuine, threshold: threshold)
            #expect(rates.falseMatchRate == row.fpr.exact, "\(fixture.name) at \(row.target)")
            #expect(rates.falseNonMatchRate >= row.fnr.exact - 1e-15, "\(fixture.name) at \(row.target)")
            // And farfrr at sklearn's own threshold reproduces sklearn's point.
            let atSklearn = try ErrorRates.farFRR(impostors: impostors, genuine: genuine, threshold: row.threshold.exact)
            #expect(atSklearn.falseMatchRate == row.fpr.exact)
            #expect(abs(atSklearn.falseNonMatchRate - row.fnr.exact) <= 1e-15)
        }
    }
}

extension SklearnFixtures.Case: CustomTestStringConvertible {
    var testDescription: String { name }
}
