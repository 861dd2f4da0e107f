extension ErrorRates {
    /// The threshold where FMR and FNMR are closest (bob.measure `eer_threshold`).
    ///
    /// Scans the midpoints between consecutive distinct pooled scores from the lowest up,
    /// updating the rates by repeated `far -= 1/N_I` and `frr += 1/N_G` exactly as bob does
    /// (so the float rounding matches); on equal criteria the later, higher threshold wins.
    ///
    /// - Throws: `.tooFewImpostors` / `.tooFewGenuine` when a side is empty.
    public static func eerThreshold(impostors: SortedScores, genuine: SortedScores) throws -> Double {
        try minimizingThreshold(impostors: impostors, genuine: genuine) { far, frr in abs(far - frr) }
    }

    /// The equal error rate, `(FMR + FNMR) / 2` at `eerThreshold` (bob.measure `eer`).
    public static func eer(impostors: SortedScores, genuine: SortedScores) throws -> Double {
        let threshold = try eerThreshold(impostors: impostors, genuine: genuine)
        let rates = try farFRR(impostors: impostors, genuine: genuine, threshold: threshold)
        return (rates.falseMatchRate + rates.falseNonMatchRate) / 2
    }

    /// The threshold minimising the half total error rate (bob.measure `min_hter_threshold`).
    public static func minHTERThreshold(impostors: SortedScores, genuine: SortedScores) throws -> Double {
        try minWeightedErrorRateThreshold(impostors: impostors, genuine: genuine, cost: 0.5)
    }

    /// The threshold minimising `cost * FMR + (1 - cost) * FNMR`, with `cost` clipped to
    /// [0, 1] (bob.measure `min_weighted_error_rate_threshold`).
    public static func minWeightedErrorRateThreshold(
        impostors: SortedScores, genuine: SortedScores, cost: Double
    ) throws -> Double {
        guard !cost.isNaN else { throw CalibrationError.invalidParameter("cost is NaN") }
        let clipped = min(max(cost, 0), 1)
        return try minimizingThreshold(impostors: impostors, genuine: genuine) { far, frr in
            (clipped * far) + ((1.0 - clipped) * frr)
        }
    }

    /// bob.measure's `_minimizing_threshold`, step for step.
    static func minimizingThreshold(
        impostors: SortedScores,
        genuine: SortedScores,
        criterion: (_ far: Double, _ frr: Double) -> Double
    ) throws -> Double {
        guard !impostors.isEmpty else { throw CalibrationError.tooFewImpostors(count: 0, required: 1) }
        guard !genuine.isEmpty else { throw CalibrationError.tooFewGenuine(count: 0, required: 1) }
        let negatives = impostors.values
        let positives = genuine.values
        let negativeCount = negatives.count
        let positiveCount = positives.count
        let farDecrease = 1.0 / Double(negativeCount)
        let frrIncrease = 1.0 / Double(positiveCount)

        var far = 1.0
        var frr = 0.0
        var minimum = 1e8
        var best = 1e8
        var negative = 0
        var positive = 0
        var current = min(negatives[0], positives[0])

        while positive < positiveCount && negative < negativeCount {
            let value = criterion(far, frr)
            if value <= minimum {
                minimum = value
                best = current
            }
            if positives[positive] >= negatives[negative] {
                current = negatives[negative]
                negative += 1
                far -= farDecrease
            } else {
                current = positives[positive]
                positive += 1
                frr += frrIncrease
            }
            while negative < negativeCount && current == negatives[negative] {
                negative += 1
                far -= farDecrease
            }
            while positive < positiveCount && current == positives[positive] {
                positive += 1
                frr += frrIncrease
            }
            if negative < negativeCount && positive < positiveCount {
                current = (current + min(negatives[negative], positives[positive])) / 2
            } else if negative < negativeCount {
                current = (current + negatives[negative]) / 2
            } else if positive < positiveCount {
                current = (current + positives[positive]) / 2
            }
        }

        if criterion(far, frr) < minimum {
            minimum = criterion(far, frr)
            best = current
        }
        if negative < negativeCount || positive < positiveCount {
            let beyondAll: Double
            if negative < negativeCount {
                let top = negatives[negativeCount - 1]
                beyondAll = numpyNextAfter(top, towards: top + 1)
            } else {
                let top = positives[positiveCount - 1]
                beyondAll = numpyNextAfter(top, towards: top + 1)
            }
            if criterion(0.0, 1.0) < minimum {
                best = beyondAll
            }
        }
        return best
    }
}
