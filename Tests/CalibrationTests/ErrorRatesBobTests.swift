import Testing
@testable import Calibration

/// The raw-score functions against bob.measure 6.1.1: thresholds bit-identical, rates equal,
/// and the same refusals where bob raises.
@Suite("ErrorRates equals bob.measure")
struct ErrorRatesBobTests {
    static let cases = Fixtures.bob.cases

    @Test("far_threshold", arguments: cases)
    func farThreshold(_ fixture: BobFixtures.Case) throws {
        for entry in fixture.far_threshold {
            let result = Result { try ErrorRates.farThreshold(impostors: fixture.impostors, target: entry.target) }
            try expectSame(result, entry.result, fixture.counts, "\(fixture.name) far_threshold(\(entry.target))")
        }
    }

    @Test("frr_threshold", arguments: cases)
    func frrThreshold(_ fixture: BobFixtures.Case) throws {
        for entry in fixture.frr_threshold {
            let result = Result { try ErrorRates.frrThreshold(genuine: fixture.genuine, target: entry.target) }
            try expectSame(result, entry.result, fixture.counts, "\(fixture.name) frr_threshold(\(entry.target))")
        }
    }

    @Test("farfrr at each far_threshold", arguments: cases)
    func farFRR(_ fixture: BobFixtures.Case) throws {
        let impostors = try SortedScores(fixture.impostors)
        let genuine = try SortedScores(fixture.genuine)
        for entry in fixture.farfrr_at_far_threshold {
            let result = Result {
                try ErrorRates.farFRR(impostors: impostors, genuine: genuine, threshold: entry.threshold.exact)
            }
            switch (result, entry.result) {
            case (.success(let rates), .value(let expected)):
                #expect(rates.falseMatchRate.bitPattern == expected[0].exact.bitPattern, "\(fixture.name)")
                #expect(rates.falseNonMatchRate.bitPattern == expected[1].exact.bitPattern, "\(fixture.name)")
            case (.failure(let error), .error(_, let message)):
                expectRefusal(error, bobMessage: message, fixture.counts, "\(fixture.name) farfrr")
            default:
                Issue.record("\(fixture.name) farfrr: got \(result), bob gave \(entry.result)")
            }
        }
    }

    @Test("eer_threshold, eer, min_hter_threshold", arguments: cases)
    func minimizing(_ fixture: BobFixtures.Case) throws {
        let impostors = try SortedScores(fixture.impostors)
        let genuine = try SortedScores(fixture.genuine)
        try expectSame(Result { try ErrorRates.eerThreshold(impostors: impostors, genuine: genuine) },
                       fixture.eer_threshold, fixture.counts, "\(fixture.name) eer_threshold")
        try expectSame(Result { try ErrorRates.eer(impostors: impostors, genuine: genuine) },
                       fixture.eer, fixture.counts, "\(fixture.name) eer")
        try expectSame(Result { try ErrorRates.minHTERThreshold(impostors: impostors, genuine: genuine) },
                       fixture.min_hter_threshold, fixture.counts, "\(fixture.name) min_hter_threshold")
    }

    @Test("roc and det with 20 points", arguments: cases)
    func curves(_ fixture: BobFixtures.Case) throws {
        let impostors = try SortedScores(fixture.impostors)
        let genuine = try SortedScores(fixture.genuine)
        let roc = Result { try ErrorRates.roc(impostors: impostors, genuine: genuine, pointCount: 20) }
        let det = Result { try ErrorRates.det(impostors: impostors, genuine: genuine, pointCount: 20) }
        switch (roc, fixture.roc, det, fixture.det) {
        case (.success(let points), .value(let rows), .success(let detPoints), .value(let detRows)):
            #expect(points.map(\.falseMatchRate.bitPattern) == rows[0].map(\.exact.bitPattern), "\(fixture.name)")
            #expect(points.map(\.falseNonMatchRate.bitPattern) == rows[1].map(\.exact.bitPattern), "\(fixture.name)")
            // The deviates go through `log`; numpy's vectorised log is not correctly rounded
            // and differs from the C library's by a few ulp, so DET is compared to 4 ulp.
            #expect(zip(detPoints, detRows[0]).allSatisfy { ulpDistance($0.falseMatchDeviate, $1.exact) <= 4 })
            #expect(zip(detPoints, detRows[1]).allSatisfy { ulpDistance($0.falseNonMatchDeviate, $1.exact) <= 4 })
            #expect(detPoints.map(\.threshold) == points.map(\.threshold))
        case (.failure(let rocError), .error(_, let rocMessage), .failure(let detError), .error(_, let detMessage)):
            expectRefusal(rocError, bobMessage: rocMessage, fixture.counts, "\(fixture.name) roc")
            expectRefusal(detError, bobMessage: detMessage, fixture.counts, "\(fixture.name) det")
        default:
            Issue.record("\(fixture.name) roc/det: got \(roc) / \(det), bob gave \(fixture.roc) / \(fixture.det)")
        }
    }

    @Test("far_threshold on 2e6 heavy-tailed impostors, targets 1 down to 1e-6 and 0")
    func largeHeavyTail() throws {
        let large = Fixtures.bob.large
        let scores = Fixtures.heavyTailScores(
            count: large.generator.count, multiplier: large.generator.multiplier, modulus: large.generator.modulus)
        let sorted = try SortedScores(scores)
        for sample in large.sorted_samples {
            #expect(sorted.values[sample.index].bitPattern == sample.value.exact.bitPattern, "generator drifted")
        }
        for entry in large.far_threshold {
            try expectSame(Result { try ErrorRates.farThreshold(impostors: sorted, target: entry.target) },
                           entry.result, BobRefusal.Counts(impostors: sorted.count, genuine: 0), "far_threshold(\(entry.target))")
        }
    }

    @Test("NaN scores and NaN targets are refused with a typed error")
    func nanRefused() {
        #expect(throws: CalibrationError.nanScore) { try SortedScores([0.1, .nan]) }
        #expect(throws: CalibrationError.nanScore) { try ErrorRates.farThreshold(impostors: [0.1, .nan, 0.2], target: 0.1) }
        #expect(throws: CalibrationError.self) { try ErrorRates.farThreshold(impostors: [0.1, 0.2], target: .nan) }
        #expect(throws: CalibrationError.targetOutOfRange(1.5)) {
            try ErrorRates.farThreshold(impostors: [0.1, 0.2], target: 1.5)
        }
        #expect(throws: CalibrationError.nanScore) {
            try ErrorRates.farFRR(impostors: SortedScores([0.1]), genuine: SortedScores([0.2]), threshold: .nan)
        }
    }

    private func expectSame(
        _ result: Result<Double, any Error>, _ expected: FixtureOutcome<FixtureNumber>, _ counts: BobRefusal.Counts, _ what: String
    ) throws {
        switch (result, expected) {
        case (.success(let value), .value(let number)):
            #expect(value.bitPattern == number.exact.bitPattern, "\(what): \(value) != bob \(number.value)")
        case (.failure(let error), .error(_, let message)):
            expectRefusal(error, bobMessage: message, counts, what)
        default:
            Issue.record("\(what): got \(result), bob gave \(expected)")
        }
    }

    /// The refusal must be the one bob's message names, with the counts of this case.
    private func expectRefusal(_ error: any Error, bobMessage: String, _ counts: BobRefusal.Counts, _ what: String) {
        guard let expected = BobRefusal.expected(bobMessage, counts) else {
            Issue.record("\(what): bob's message \"\(bobMessage)\" has no known refusal")
            return
        }
        #expect(error as? CalibrationError == expected, "\(what): got \(error), bob said \"\(bobMessage)\"")
    }
}

/// How many representable doubles lie between two doubles of the same sign.
func ulpDistance(_ a: Double, _ b: Double) -> UInt64 {
    guard a.sign == b.sign else { return a == b ? 0 : .max }
    let (x, y) = (a.bitPattern, b.bitPattern)
    return x > y ? x - y : y - x
}

extension BobFixtures.Case: CustomTestStringConvertible {
    var testDescription: String { name }
}
