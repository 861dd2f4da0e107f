/// The subjects bootstrap over subject groups: what a threshold release computes from live
/// statistics, which keep impostor attempts per group of subjects (`ImpostorSubjects`) rather
/// than per subject.
///
/// Every attempt of a subject lands in one group, so resampling the non-empty groups with
/// replacement keeps each subject's attempts together, as the subjects bootstrap does; with as
/// many groups as subjects it *is* the subjects bootstrap (`SubjectResampling`), draw for draw.
/// For resample b with group weights w_bg (multinomial counts of k draws over the k non-empty
/// groups, in group order, from `bootstrap.seed`):
///
///     FMR_b(t) = Σ_g w_bg k_g(t) / Σ_g w_bg n_g
///
/// with n_g the group's impostor attempts and k_g(t) those scoring `>= t`: exact for t at or
/// above the tail floor (the group-tagged exact tail) and on the coarse edges below it (the
/// per-group coarse bins); between coarse edges, k_g at the edge below is used — an upper
/// bound, so the bound there is conservative. The bound and the search are
/// `SubjectResampling`'s: the prediction bound F̂ + spread · (q − F̂) and a bisection over the
/// distinct tail scores; when even the lowest tail score passes, a second bisection over the
/// floor and the coarse edges below it finds the lowest passing one (an upper bound on the
/// exact answer by less than one coarse bin, so the release stays conservative).
///
/// ```swift
/// let resampling = bootstrap.resampling(of: statistics.impostorSubjects)
/// let threshold = try resampling.threshold(targetFMR: 1e-3)
/// resampling.fmrUpperBound(at: threshold) <= 1e-3        // true
/// ```
public struct GroupResampling: Sendable {
    public let bootstrap: SubjectBootstrap
    public let tailFloor: Double
    let subjects: ImpostorSubjects
    /// The group of each slot.
    let slotGroups: [Int]
    /// The tail scores ascending, and each one's slot (index of its group among the non-empty groups).
    let tailScores: [Double]
    let tailSlots: [Int32]
    /// Non-empty groups.
    let slotCount: Int
    /// Column-major k × B multinomial counts: `weights[slot * B + b]`.
    let weights: [Float]
    /// Σ_g w_bg · n_g for each resample.
    let impostorTotals: [Double]
    public let impostorCount: Int

    /// Groups with impostor attempts: a lower bound on the subjects with impostor attempts.
    public var nonEmptyGroups: Int { slotCount }

    /// `weights`: `GroupResampling.weights(resamples:groups:seed:)` for the subjects' number of
    /// non-empty groups (a release shares them between pools with the same number).
    init(subjects: ImpostorSubjects, bootstrap: SubjectBootstrap, weights: [Float]? = nil) {
        var slotOfGroup = [Int32](repeating: -1, count: ImpostorSubjects.groupCount)
        var counts: [Double] = []
        var slotGroups: [Int] = []
        for (group, count) in subjects.groupCounts.enumerated() where count > 0 {
            slotOfGroup[group] = Int32(counts.count)
            counts.append(Double(count))
            slotGroups.append(group)
        }
        self.subjects = subjects
        self.slotGroups = slotGroups
        self.bootstrap = bootstrap
        tailFloor = subjects.tailFloor
        tailScores = subjects.tailScores
        tailSlots = subjects.tailGroups.map { slotOfGroup[Int($0)] }
        slotCount = counts.count
        self.weights = weights ?? Self.weights(resamples: bootstrap.resamples, groups: counts.count, seed: bootstrap.seed)
        impostorCount = subjects.impostorCount
        impostorTotals = Self.weightedSums(counts, weights: self.weights, resamples: bootstrap.resamples)
    }

    /// The multinomial counts `SubjectResampling` draws for `groups` subjects (the same
    /// SplitMix64 stream, row by row), laid out column-major so a weighted sum runs along
    /// contiguous memory for every resample at once.
    static func weights(resamples: Int, groups: Int, seed: UInt64) -> [Float] {
        let rowMajor = SubjectResampling.multinomialCounts(resamples: resamples, subjects: groups, seed: seed)
        guard groups > 0 else { return [] }
        var columns = [Float](repeating: 0, count: rowMajor.count)
        for row in 0..<resamples {
            for column in 0..<groups { columns[column * resamples + row] = rowMajor[row * groups + column] }
        }
        return columns
    }

    /// Σ_g w_bg · x_g for every resample b, adding the groups in order and skipping x_g = 0:
    /// the same additions, in the same order, as `SubjectResampling.weightedSums`, so the sums
    /// are bit-identical to it.
    static func weightedSums(_ perSlot: [Double], weights: [Float], resamples: Int) -> [Double] {
        var sums = [Double](repeating: 0, count: resamples)
        weights.withUnsafeBufferPointer { weights in
            sums.withUnsafeMutableBufferPointer { sums in
                for (slot, value) in perSlot.enumerated() where value != 0 {
                    // A column of its own: without an offset added (and overflow-checked) per
                    // element, the loop runs on vectors, each lane one resample's sum in slot order.
                    let column = UnsafeBufferPointer(rebasing: weights[(slot * resamples)..<((slot + 1) * resamples)])
                    for row in 0..<min(resamples, sums.count, column.count) {
                        sums[row] += Double(column[row]) * value
                    }
                }
            }
        }
        return sums
    }

    /// Each non-empty group's impostor attempts with `score >= threshold`: exact in the tail and
    /// on coarse edges, otherwise (below the floor) the count at the coarse edge below.
    func falseMatchCounts(at threshold: Double) -> [Double] {
        var counts = [Double](repeating: 0, count: slotCount)
        if threshold >= tailFloor {
            var index = tailScores.firstIndex(notBelow: threshold)
            while index < tailScores.count {
                counts[Int(tailSlots[index])] += 1
                index += 1
            }
            return counts
        }
        let bin = threshold < subjects.layout.grid.lowerBound ? 0 : subjects.coarseBin(of: threshold)
        let perGroup = subjects.falseMatchesPerGroup(fromCoarseBin: bin, tailThreshold: tailFloor)
        for (slot, group) in slotGroups.enumerated() { counts[slot] = Double(perGroup[group]) }
        return counts
    }

    /// The observed FMR at `threshold` (as counted by `falseMatchCounts`; 0 without impostor attempts).
    public func observedFMR(at threshold: Double) -> Double {
        guard impostorCount > 0 else { return 0 }
        return falseMatchCounts(at: threshold).reduce(0, +) / Double(impostorCount)
    }

    /// The FMR at `threshold` of every resample, in resample order.
    public func resampledFMRs(at threshold: Double) -> [Double] {
        let counts = falseMatchCounts(at: threshold)
        let observed = impostorCount > 0 ? counts.reduce(0, +) / Double(impostorCount) : 0
        let top = Self.weightedSums(counts, weights: weights, resamples: bootstrap.resamples)
        return zip(top, impostorTotals).map { $1 > 0 ? $0 / $1 : observed }
    }

    /// The prediction bound F̂ + spread · (q − F̂), clamped to [0, 1]; 1 without impostor
    /// attempts or for a NaN threshold.
    public func fmrUpperBound(at threshold: Double) -> Double {
        guard impostorCount > 0, !threshold.isNaN else { return 1 }
        let counts = falseMatchCounts(at: threshold)
        let observed = counts.reduce(0, +) / Double(impostorCount)
        let top = Self.weightedSums(counts, weights: weights, resamples: bootstrap.resamples)
        let resampled = zip(top, impostorTotals).map { $1 > 0 ? $0 / $1 : observed }
        return bootstrap.predictionBound(observed: observed, resampled: resampled)
    }

    /// The lowest tail score (or the value just above the highest) whose bound is at most
    /// `targetFMR`, by bisection; when the lowest tail score passes, the lowest passing one of
    /// the floor and the coarse edges below it.
    /// - Throws: `.targetOutOfRange` unless 0 < target < 1; `.tooFewSubjects` with fewer
    ///   non-empty groups than `minimumSubjects`; `.insufficientImpostorsForConfidence` with
    ///   fewer impostor attempts than Clopper–Pearson needs to claim the target at all.
    public func threshold(targetFMR: Double) throws -> Double {
        _ = try bootstrap.impostorsNeeded(targetFMR: targetFMR, subjects: slotCount, impostors: impostorCount)
        var candidates: [Double] = []
        candidates.reserveCapacity(tailScores.count)
        for score in tailScores where candidates.last != score { candidates.append(score) }
        let inTail = lowestPassing(candidates, targetFMR: targetFMR)
        if let highest = candidates.last, inTail > 0 {
            return inTail < candidates.count ? candidates[inTail] : highest.nextUp
        }
        // Every tail score passes (or there is none): look below, on the counts that are exact there.
        var below = (0..<subjects.coarseBinCount).map(subjects.coarseEdge).filter { $0 < tailFloor }
        if tailFloor < (candidates.first ?? .infinity) { below.append(tailFloor) }
        let belowTail = lowestPassing(below, targetFMR: targetFMR)
        return belowTail < below.count ? below[belowTail] : (candidates.first ?? tailFloor)
    }

    /// The index of the lowest candidate whose bound is at most the target (`count` if none), by
    /// bisection — the bound falls as the threshold rises, up to single-comparison steps.
    private func lowestPassing(_ candidates: [Double], targetFMR: Double) -> Int {
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
        return low
    }
}

extension SubjectBootstrap {
    /// Draws the resamples of the subject groups once.
    public func resampling(of subjects: ImpostorSubjects) -> GroupResampling {
        GroupResampling(subjects: subjects, bootstrap: self)
    }
}

/// The group weights of one release computation, drawn once per number of non-empty groups
/// (they depend on nothing else), so pools of the same size share them.
struct GroupWeightCache {
    private var weights: [Int: [Float]] = [:]
    /// At most this many sizes are kept (≤ 1 MB each at B = 1,000); most pools of a large fleet
    /// fill all 256 groups.
    private let capacity = 16

    /// The weights drawn for `groups` non-empty groups, if they are still kept.
    func cached(groups: Int) -> [Float]? { weights[groups] }

    /// Keeps weights drawn for `groups` non-empty groups.
    mutating func store(_ drawn: [Float], groups: Int) {
        if weights[groups] == nil && weights.count >= capacity { weights.removeAll(keepingCapacity: true) }
        weights[groups] = drawn
    }

    mutating func resampling(of subjects: ImpostorSubjects, bootstrap: SubjectBootstrap) -> GroupResampling {
        let groups = subjects.nonEmptyGroups
        if let cached = weights[groups] {
            return GroupResampling(subjects: subjects, bootstrap: bootstrap, weights: cached)
        }
        let drawn = GroupResampling.weights(resamples: bootstrap.resamples, groups: groups, seed: bootstrap.seed)
        if weights.count >= capacity { weights.removeAll(keepingCapacity: true) }
        weights[groups] = drawn
        return GroupResampling(subjects: subjects, bootstrap: bootstrap, weights: drawn)
    }
}
