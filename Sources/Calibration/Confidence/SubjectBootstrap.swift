/// Subject-level bounds on the false match rate: resample subjects, not attempts.
///
/// A Clopper–Pearson bound treats every impostor comparison as independent. They are not:
/// one subject's attempts share a face, and a subject who resembles others gathers many
/// false matches at once. Resampling subjects with replacement (the subjects bootstrap of
/// ISO/IEC 19795-1) keeps each subject's attempts together, so the spread of the resampled
/// FMR is the spread a population of subjects really has.
///
/// **The bound is a prediction bound.** A threshold is applied to the subjects who come
/// next, not to the ones it was computed on, so the question is not "where is the true FMR"
/// but "what FMR will a fresh population see". With F̂ the observed FMR and q the
/// `confidence`-quantile of the resampled FMR, the bound is
///
///     U = F̂ + spread · (q − F̂)
///
/// and `spread` widens the bootstrap's one-sided deviation for three reasons:
/// - a fresh sample has its own variance besides the estimate's: × √2 for as many subjects
///   (a plain quantile, spread 1, covers a fresh sample of the same size only ~88 % of the
///   time at 95 %);
/// - an impostor comparison involves two people, the claimed subject and the impostor, and
///   only the claimed subject is known and resampled. For a statistic over pairs of people,
///   resampling one side sees about a quarter of the subject-level variance (Hoeffding
///   decomposition: 4σ²/S for the pair statistic against σ²/S seen): × 2;
/// - at small FMR the false matches come from clusters of look-alike subjects, and the number
///   of look-alike pairs grows with the square of a cluster's size in the population, so the
///   FMR of a fresh population is skewed to the right of what the normal approximation of the
///   first two reasons (2√2 ≈ 2.8) allows.
///
/// The default spread, 6, was measured, not derived: on 310 LFW people scored with dlib's
/// descriptor, thresholds at FMR 1e-3 computed on one half of the people kept the FMR of
/// subject resamples of the other half at or below 1e-3 in 96.4 % and 96.8 % of cases (two
/// sets of 200 random splits; spread 5 gave 94.4–94.9 %, 4 gave 91.6–92.2 %, Clopper–Pearson
/// 55–56 %), at the price of a higher FNMR (0.155 against Clopper–Pearson's 0.084 there).
/// `subject-holdout` in `Benchmarks/SubjectHoldout` repeats the measurement
/// (docs/benchmarks.md); a deployment that accepts a lower coverage can pass a smaller spread.
///
/// Accept when `score >= threshold`, like the rest of Calibration. Resamples are drawn once
/// per `SubjectScores` (`resampling(of:)`) from a SplitMix64 stream seeded with `seed`, over
/// the subjects in id order, so a seed gives the same answer on every machine.
///
/// ```swift
/// let bootstrap = try SubjectBootstrap(resamples: 1_000, confidence: 0.95, seed: 7)
/// let threshold = try bootstrap.threshold(targetFMR: 1e-3, in: scores)
/// bootstrap.fmrUpperBound(at: threshold, in: scores) <= 1e-3   // true
/// ```
public struct SubjectBootstrap: Sendable, Hashable, Codable {
    /// The spread measured on LFW (see above).
    public static let defaultSpread = 6.0

    /// Number of resamples B.
    public let resamples: Int
    /// One-sided confidence c of the quantile, e.g. 0.95.
    public let confidence: Double
    public let seed: UInt64
    /// How far beyond the bootstrap quantile the bound reaches, in units of q − F̂; 1 is the
    /// plain percentile bound.
    public let spread: Double
    /// Fewer subjects with impostor attempts than this and no threshold is computed: a handful
    /// of subjects says nothing about the next ones.
    public let minimumSubjects: Int

    /// - Throws: `.invalidParameter` unless resamples >= 100, 0 < confidence < 1,
    ///   spread >= 1 and minimumSubjects >= 2.
    public init(
        resamples: Int = 1_000, confidence: Double = 0.95, seed: UInt64 = 0,
        spread: Double = SubjectBootstrap.defaultSpread, minimumSubjects: Int = 20
    ) throws {
        guard resamples >= 100 else {
            throw CalibrationError.invalidParameter("resamples \(resamples) must be at least 100")
        }
        guard confidence > 0, confidence < 1 else {
            throw CalibrationError.invalidParameter("confidence \(confidence) must be in (0, 1)")
        }
        guard spread >= 1, spread.isFinite else {
            throw CalibrationError.invalidParameter("spread \(spread) must be a finite number >= 1")
        }
        guard minimumSubjects >= 2 else {
            throw CalibrationError.invalidParameter("minimumSubjects \(minimumSubjects) must be at least 2")
        }
        self.resamples = resamples
        self.confidence = confidence
        self.seed = seed
        self.spread = spread
        self.minimumSubjects = minimumSubjects
    }

    private enum CodingKeys: String, CodingKey { case resamples, confidence, seed, spread, minimumSubjects }

    /// Decodes through the validating initializer.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            resamples: try container.decode(Int.self, forKey: .resamples),
            confidence: try container.decode(Double.self, forKey: .confidence),
            seed: try container.decode(UInt64.self, forKey: .seed),
            spread: try container.decode(Double.self, forKey: .spread),
            minimumSubjects: try container.decode(Int.self, forKey: .minimumSubjects))
    }

    /// Draws the resamples of `scores` once, for several questions about the same subjects.
    public func resampling(of scores: SubjectScores) -> SubjectResampling {
        SubjectResampling(scores: scores, bootstrap: self)
    }

    /// The subject-level prediction bound on the FMR at `threshold`; 1 when there are no
    /// impostor attempts or the threshold is NaN (nothing can be claimed).
    public func fmrUpperBound(at threshold: Double, in scores: SubjectScores) -> Double {
        resampling(of: scores).fmrUpperBound(at: threshold)
    }

    /// The lowest threshold whose bound is at most `targetFMR`.
    /// - Throws: `.targetOutOfRange` unless 0 < target < 1; `.tooFewSubjects` below
    ///   `minimumSubjects` subjects with impostor attempts; `.insufficientImpostorsForConfidence`
    ///   when there are fewer impostor attempts than Clopper–Pearson needs to claim the target
    ///   at `confidence` even with no false match.
    public func threshold(targetFMR: Double, in scores: SubjectScores) throws -> Double {
        try resampling(of: scores).threshold(targetFMR: targetFMR)
    }
}

/// The resamples of one `SubjectScores`, drawn once: a B × S matrix of multinomial counts
/// (how often each subject was drawn in each resample) and each subject's sorted scores.
///
/// The FMR of resample b at threshold t is Σ_s w_bs · k_s(t) / Σ_s w_bs · n_s, with k_s(t)
/// the subject's impostor attempts at or above t (a binary search) and n_s all of them; a
/// threshold costs S binary searches and one B × S product.
public struct SubjectResampling: Sendable {
    public let bootstrap: SubjectBootstrap
    /// Subject ids in the order of the weight matrix's columns.
    let subjectIDs: [String]
    /// The subjects' scores, in `subjectIDs` order.
    let subjectScores: [SubjectScores.Subject]
    let impostorScores: [SortedScores]
    let impostorCounts: [Double]
    /// Row-major B × S counts; exact in Float below 2^24 draws per resample.
    let weights: [Float]
    /// Σ_s w_bs · n_s for each resample.
    let impostorTotals: [Double]
    public let impostorCount: Int
    /// Subjects with at least one impostor attempt.
    public let subjectsWithImpostors: Int

    init(scores: SubjectScores, bootstrap: SubjectBootstrap) {
        let weights = Self.multinomialCounts(resamples: bootstrap.resamples, subjects: scores.subjectCount, seed: bootstrap.seed)
        self.init(scores: scores, bootstrap: bootstrap, weights: weights)
    }

    /// The same resamples over other scores of the same subjects (the candidate model's scores
    /// of the same attempts), so that both models are judged on the same draws.
    func sharingResamples(with scores: SubjectScores) -> SubjectResampling? {
        guard scores.subjects.keys.sorted() == subjectIDs else { return nil }
        return SubjectResampling(scores: scores, bootstrap: bootstrap, weights: weights)
    }

    private init(scores: SubjectScores, bootstrap: SubjectBootstrap, weights: [Float]) {
        self.bootstrap = bootstrap
        let ids = scores.subjects.keys.sorted()
        let subjects = ids.compactMap { scores.subjects[$0] }
        subjectIDs = ids
        subjectScores = subjects
        impostorScores = subjects.map(\.impostorScores)
        impostorCounts = subjects.map { Double($0.impostorScores.count) }
        impostorCount = subjects.reduce(0) { $0 + $1.impostorScores.count }
        subjectsWithImpostors = subjects.count { !$0.impostorScores.isEmpty }
        self.weights = weights
        impostorTotals = Self.weightedSums(impostorCounts, weights: weights, resamples: bootstrap.resamples)
    }

    /// Each row: `subjects` draws with replacement, counted per subject.
    static func multinomialCounts(resamples: Int, subjects: Int, seed: UInt64) -> [Float] {
        guard subjects > 0 else { return [] }
        var generator = SplitMix64(seed: seed)
        var counts = [Float](repeating: 0, count: resamples * subjects)
        counts.withUnsafeMutableBufferPointer { counts in
            for row in 0..<resamples {
                let base = row * subjects
                for _ in 0..<subjects {
                    counts[base + generator.index(below: subjects)] += 1
                }
            }
        }
        return counts
    }

    /// Σ_s w_bs · x_s for every resample b, visiting only the subjects with x_s ≠ 0 (at a
    /// threshold near a small FMR, most subjects have no false match).
    static func weightedSums(_ perSubject: [Double], weights: [Float], resamples: Int) -> [Double] {
        let subjects = perSubject.count
        let nonzero = perSubject.indices.filter { perSubject[$0] != 0 }
        var sums = [Double](repeating: 0, count: resamples)
        guard !nonzero.isEmpty else { return sums }
        perSubject.withUnsafeBufferPointer { values in
            weights.withUnsafeBufferPointer { weights in
                for row in 0..<resamples {
                    let base = row * subjects
                    var sum = 0.0
                    for column in nonzero {
                        sum += Double(weights[base + column]) * values[column]
                    }
                    sums[row] = sum
                }
            }
        }
        return sums
    }

    /// Σ_s w_bs · x_s / Σ_s w_bs · y_s for every resample, given the denominators' sums; a
    /// resample that drew no subject with y > 0 carries no information about the ratio and
    /// takes the observed one.
    func resampledRatios(numerators: [Double], denominatorSums: [Double], observed: Double) -> [Double] {
        let top = Self.weightedSums(numerators, weights: weights, resamples: bootstrap.resamples)
        return zip(top, denominatorSums).map { $1 > 0 ? $0 / $1 : observed }
    }

    /// The observed FMR at `threshold` on all subjects (0 without impostor attempts).
    public func observedFMR(at threshold: Double) -> Double {
        impostorCount > 0 ? Double(falseMatchCounts(at: threshold).reduce(0, +)) / Double(impostorCount) : 0
    }

    /// The FMR at `threshold` of every resample, in resample order.
    public func resampledFMRs(at threshold: Double) -> [Double] {
        let counts = falseMatchCounts(at: threshold)
        return resampledRatios(numerators: counts, denominatorSums: impostorTotals, observed: observedFMR(at: threshold))
    }

    /// The prediction bound F̂ + spread · (q − F̂), clamped to [0, 1]; 1 without impostor
    /// attempts or for a NaN threshold.
    public func fmrUpperBound(at threshold: Double) -> Double {
        guard impostorCount > 0, !threshold.isNaN else { return 1 }
        let counts = falseMatchCounts(at: threshold)
        let observed = counts.reduce(0, +) / Double(impostorCount)
        let resampled = resampledRatios(numerators: counts, denominatorSums: impostorTotals, observed: observed)
        return bootstrap.predictionBound(observed: observed, resampled: resampled)
    }

    /// The lowest impostor score (or the value just above the highest) whose bound is at most
    /// `targetFMR`, by bisection over the pooled sorted impostor scores.
    ///
    /// Every resample's FMR falls as the threshold rises, and so does its quantile; the bound
    /// F̂ + spread · (q − F̂) can rise by (spread − 1)/N where one false match leaves F̂ while
    /// the quantile holds, so the bisection's answer is the lowest passing threshold up to such
    /// single-comparison steps. Its bound is always at most the target.
    /// - Throws: see `SubjectBootstrap.threshold(targetFMR:in:)`.
    public func threshold(targetFMR: Double) throws -> Double {
        let needed = try bootstrap.impostorsNeeded(targetFMR: targetFMR, subjects: subjectsWithImpostors, impostors: impostorCount)
        let candidates = pooledDistinctScores()
        guard let highest = candidates.last else {
            throw CalibrationError.tooFewImpostors(count: 0, required: needed)
        }
        // Index candidates.count stands for "above every impostor", where every count is 0.
        var low = 0
        var high = candidates.count
        while low < high {
            let middle = low + (high - low) / 2
            if fmrUpperBound(at: candidates[middle]) <= targetFMR {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return low < candidates.count ? candidates[low] : highest.nextUp
    }

    /// Each subject's impostor attempts with `score >= threshold`.
    func falseMatchCounts(at threshold: Double) -> [Double] {
        impostorScores.map { Double($0.count(atLeast: threshold)) }
    }

    /// Every impostor score once, ascending.
    private func pooledDistinctScores() -> [Double] {
        var pooled: [Double] = []
        pooled.reserveCapacity(impostorCount)
        for scores in impostorScores { pooled.append(contentsOf: scores.values) }
        let sorted = RadixSort.ascending(pooled)
        var distinct: [Double] = []
        distinct.reserveCapacity(sorted.count)
        for score in sorted where distinct.last != score { distinct.append(score) }
        return distinct
    }

    /// The lowest value with at least ⌈c · B⌉ of the B values at or below it (the inverted
    /// empirical distribution function).
    /// Found by selection (expected O(B)), not by sorting: a threshold search asks for it at
    /// every step, and the k-th smallest value is the same whichever way it is found.
    static func quantile(_ values: [Double], at level: Double) -> Double {
        var values = values
        let rank = min(max(Int((level * Double(values.count)).rounded(.up)), 1), values.count)
        return select(&values, rank - 1)
    }

    /// The value that would be at `index` if `values` (no NaN) were sorted ascending: quickselect
    /// with a median-of-three pivot and a three-way partition, so runs of equal values (many
    /// resamples with no false match) cost one pass.
    static func select(_ values: inout [Double], _ index: Int) -> Double {
        var low = 0
        var high = values.count - 1
        while low < high {
            let middle = low + (high - low) / 2
            let a = values[low], b = values[middle], c = values[high]
            let pivot = max(min(a, b), min(max(a, b), c))
            // [low, less) < pivot, [less, i) == pivot, (greater, high] > pivot.
            var less = low, i = low, greater = high
            while i <= greater {
                let value = values[i]
                if value < pivot {
                    values.swapAt(i, less); less += 1; i += 1
                } else if value > pivot {
                    values.swapAt(i, greater); greater -= 1
                } else {
                    i += 1
                }
            }
            if index < less {
                high = less - 1
            } else if index > greater {
                low = greater + 1
            } else {
                return pivot
            }
        }
        return values[index]
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014), the generator of the subjects bootstrap. Calibration
/// takes no dependency for it; the stream equals `SeededGenerator`'s for a seed.
struct SplitMix64: Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in 0..<bound without modulo bias (Lemire 2019).
    mutating func index(below bound: Int) -> Int {
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }
}

extension SubjectBootstrap {
    /// The prediction bound F̂ + spread · (q − F̂) from the observed FMR and the resampled ones,
    /// clamped to [0, 1]: what subjects and subject groups alike are bounded by.
    func predictionBound(observed: Double, resampled: [Double]) -> Double {
        let quantile = SubjectResampling.quantile(resampled, at: confidence)
        return min(max(observed + spread * (quantile - observed), 0), 1)
    }

    /// The impostor attempts Clopper–Pearson needs to claim `targetFMR` at all, after checking
    /// that a subject-level threshold can be computed: 0 < target < 1, at least
    /// `minimumSubjects` subjects (or subject groups) with impostor attempts, and that many
    /// attempts.
    func impostorsNeeded(targetFMR: Double, subjects: Int, impostors: Int) throws -> Int {
        guard targetFMR > 0, targetFMR < 1 else { throw CalibrationError.targetOutOfRange(targetFMR) }
        guard subjects >= minimumSubjects else {
            throw CalibrationError.tooFewSubjects(count: subjects, required: minimumSubjects)
        }
        let needed = try ClopperPearson(confidence: confidence).impostorsNeeded(targetFMR: targetFMR)
        guard impostors >= needed else {
            throw CalibrationError.insufficientImpostorsForConfidence(
                have: impostors, required: needed, targetFMR: targetFMR, confidence: confidence)
        }
        return needed
    }
}
