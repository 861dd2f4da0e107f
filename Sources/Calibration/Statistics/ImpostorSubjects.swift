/// Who the impostor attempts of a cohort belong to, coarsely enough to be kept live and
/// exactly enough for a subjects bootstrap: subjects are hashed into `groupCount` groups.
///
/// Attempts of one subject are correlated, so a subject-level bound resamples whole subjects
/// (`SubjectBootstrap`). Keeping every subject's scores live would cost memory and storage in
/// proportion to the history; groups cost at most a few thousand counters plus one byte per
/// exact-tail entry. Every attempt of a subject lands in the same group (the hash of its
/// pseudonym), so resampling groups keeps each subject's attempts together: the bootstrap over
/// groups is a bootstrap over clusters of whole subjects. With fewer subjects than groups most
/// groups hold one subject and it is nearly the subject bootstrap; with many more, each group is
/// a random cluster of subjects, which only averages independent subjects together (no
/// correlation is lost).
///
/// Kept per group, so that its false matches at a threshold t are exact:
/// - at or above the tail floor, each impostor score with its group — the tail is the multiset
///   of (score, group) pairs, sorted — so every t in the tail is exact;
/// - below the floor, the group's impostors per coarse bin (`coarseBinWidth`, 2^-6 on the
///   cosine grid: 128 fine bins), so t on a coarse edge is exact, and between edges the count
///   at the edge below bounds it from above.
///
/// Adding, removing, merging and subtracting are exact and all or nothing, like `ScoreStatistics`.
///
/// ```swift
/// var subjects = ImpostorSubjects(layout: CohortStatistics.liveLayout)
/// try subjects.add(score: 0.93, subject: "p-17")
/// subjects.nonEmptyGroups          // 1
/// ```
public struct ImpostorSubjects: Sendable, Hashable {
    /// G: the number of groups subjects are hashed into.
    public static let groupCount = 256
    /// The width of the coarse bins below the tail floor (on grids finer than it).
    public static let coarseBinWidth = 0x1p-6

    /// The group of a subject: the top byte of the 64-bit FNV-1a hash of the pseudonym's UTF-8
    /// bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3) passed through MurmurHash3's
    /// fmix64 finaliser. FNV-1a alone leaves its top byte nearly blind to the last characters
    /// (pseudonyms differing only at the end would share a few groups); fmix64 spreads every
    /// input bit over the whole word. Stable across machines and releases — stored statistics
    /// depend on it, so it must never change.
    public static func group(of subject: String) -> Int {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        // Over the contiguous bytes, not the UTF-8 view's index walk: every outcome stored is
        // hashed here.
        var subject = subject
        subject.withUTF8 { bytes in
            for byte in bytes {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01B3
            }
        }
        hash ^= hash >> 33
        hash &*= 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        hash &*= 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return Int(hash >> 56)
    }

    public let layout: StatisticsLayout
    /// Impostor scores `>= tailFloor` are kept with their group.
    public var tailFloor: Double { layout.tailFloor }
    /// Impostor attempts per group (`groupCount` entries).
    public private(set) var groupCounts: [Int]
    /// Tail scores ascending; equal scores by ascending group. `tailGroups[i]` is `tailScores[i]`'s group.
    public private(set) var tailScores: [Double]
    public private(set) var tailGroups: [UInt8]
    /// Below the floor: the non-empty (coarse bin, group) cells, keyed `coarseBin × groupCount + group`,
    /// ascending, with their counts (all > 0).
    public private(set) var coarseKeys: [UInt32]
    public private(set) var coarseCounts: [Int]
    /// All impostor attempts counted.
    public private(set) var impostorCount: Int

    public init(layout: StatisticsLayout) {
        self.layout = layout
        groupCounts = Array(repeating: 0, count: Self.groupCount)
        tailScores = []
        tailGroups = []
        coarseKeys = []
        coarseCounts = []
        impostorCount = 0
    }

    /// Parts already validated by the caller (decoding).
    init(layout: StatisticsLayout, tailScores: [Double], tailGroups: [UInt8], coarseKeys: [UInt32], coarseCounts: [Int]) {
        self.layout = layout
        self.tailScores = tailScores
        self.tailGroups = tailGroups
        self.coarseKeys = coarseKeys
        self.coarseCounts = coarseCounts
        var groups = [Int](repeating: 0, count: Self.groupCount)
        for group in tailGroups { groups[Int(group)] += 1 }
        for (key, count) in zip(coarseKeys, coarseCounts) { groups[Int(key) % Self.groupCount] += count }
        groupCounts = groups
        impostorCount = groups.reduce(0, +)
    }

    /// Fine grid bins per coarse bin: a power of two (both widths are), at least 1.
    public var fineBinsPerCoarseBin: Int {
        max(1, Int(Self.coarseBinWidth / layout.grid.binWidth))
    }

    /// Coarse bins that lie at least partly below the floor (at least one: scores under the grid
    /// count in bin 0, which over-counts them only at the grid's lowest edge).
    public var coarseBinCount: Int {
        max(1, (layout.tailFloorEdgeIndex + fineBinsPerCoarseBin - 1) / fineBinsPerCoarseBin)
    }

    /// The lower edge of coarse bin `index` (a grid edge, so counts there are exact).
    public func coarseEdge(_ index: Int) -> Double {
        layout.grid.edge(index * fineBinsPerCoarseBin)
    }

    /// The coarse bin of a (non-NaN) score below the floor; scores under the grid share bin 0.
    func coarseBin(of score: Double) -> Int {
        switch layout.grid.placement(of: score) {
        case .underflow: return 0
        case .bin(let index): return index / fineBinsPerCoarseBin
        case .overflow: return coarseBinCount - 1  // unreachable: the floor is at most the upper bound
        }
    }

    /// Groups with at least one impostor attempt: a lower bound on the number of distinct
    /// subjects with impostor attempts (two subjects may share a group, one never spans two).
    public var nonEmptyGroups: Int { groupCounts.count { $0 > 0 } }

    /// Counts one impostor attempt of `subject`; throws for NaN and infinities, changing nothing.
    public mutating func add(score: Double, subject: String) throws {
        try ScoreStatistics.check(score)
        add(checkedScore: score == 0 ? 0 : score, group: Self.group(of: subject))
    }

    /// Uncounts one impostor attempt of `subject` that was counted before; throws
    /// `.removalOfAbsentScore`, changing nothing, when there is none (in its group, or in the tail).
    public mutating func remove(score: Double, subject: String) throws {
        try ScoreStatistics.check(score)
        try remove(checkedScore: score == 0 ? 0 : score, group: Self.group(of: subject))
    }

    mutating func add(checkedScore score: Double, group: Int) {
        groupCounts[group] += 1
        impostorCount += 1
        if score >= tailFloor {
            let index = insertionIndex(score: score, group: UInt8(group))
            tailScores.insert(score, at: index)
            tailGroups.insert(UInt8(group), at: index)
        } else {
            let key = UInt32(coarseBin(of: score) * Self.groupCount + group)
            let index = coarseKeys.firstIndex(notBelow: key)
            if index < coarseKeys.count && coarseKeys[index] == key {
                coarseCounts[index] += 1
            } else {
                coarseKeys.insert(key, at: index)
                coarseCounts.insert(1, at: index)
            }
        }
    }

    mutating func remove(checkedScore score: Double, group: Int) throws {
        guard groupCounts[group] > 0 else { throw CalibrationError.removalOfAbsentScore(score) }
        if score >= tailFloor {
            let index = insertionIndex(score: score, group: UInt8(group))
            guard index < tailScores.count, tailScores[index] == score, tailGroups[index] == UInt8(group) else {
                throw CalibrationError.removalOfAbsentScore(score)
            }
            tailScores.remove(at: index)
            tailGroups.remove(at: index)
        } else {
            let key = UInt32(coarseBin(of: score) * Self.groupCount + group)
            let index = coarseKeys.firstIndex(notBelow: key)
            guard index < coarseKeys.count, coarseKeys[index] == key else { throw CalibrationError.removalOfAbsentScore(score) }
            if coarseCounts[index] == 1 {
                coarseKeys.remove(at: index)
                coarseCounts.remove(at: index)
            } else {
                coarseCounts[index] -= 1
            }
        }
        groupCounts[group] -= 1
        impostorCount -= 1
    }

    /// The first index whose (score, group) is not below the given pair.
    private func insertionIndex(score: Double, group: UInt8) -> Int {
        var low = 0
        var high = tailScores.count
        while low < high {
            let middle = low + (high - low) / 2
            if Self.precedes(tailScores[middle], tailGroups[middle], score, group) {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    @inline(__always)
    static func precedes(_ score: Double, _ group: UInt8, _ otherScore: Double, _ otherGroup: UInt8) -> Bool {
        score < otherScore || (score == otherScore && group < otherGroup)
    }

    /// Adds another cohort's or day's attempts (same layout).
    public mutating func merge(_ other: ImpostorSubjects) throws {
        guard other.layout == layout else { throw CalibrationError.incompatibleStatistics }
        for index in groupCounts.indices { groupCounts[index] += other.groupCounts[index] }
        impostorCount += other.impostorCount
        mergeCells(other, sign: 1)
        guard !other.tailScores.isEmpty else { return }
        guard !tailScores.isEmpty else {
            tailScores = other.tailScores
            tailGroups = other.tailGroups
            return
        }
        var scores: [Double] = []
        var groups: [UInt8] = []
        scores.reserveCapacity(tailScores.count + other.tailScores.count)
        groups.reserveCapacity(scores.capacity)
        var i = 0
        var j = 0
        while i < tailScores.count && j < other.tailScores.count {
            if Self.precedes(other.tailScores[j], other.tailGroups[j], tailScores[i], tailGroups[i]) {
                scores.append(other.tailScores[j]); groups.append(other.tailGroups[j]); j += 1
            } else {
                scores.append(tailScores[i]); groups.append(tailGroups[i]); i += 1
            }
        }
        scores.append(contentsOf: tailScores[i...]); groups.append(contentsOf: tailGroups[i...])
        scores.append(contentsOf: other.tailScores[j...]); groups.append(contentsOf: other.tailGroups[j...])
        tailScores = scores
        tailGroups = groups
    }

    /// Subtracts attempts that were counted here, all or nothing.
    public mutating func subtract(_ other: ImpostorSubjects) throws {
        guard other.layout == layout else { throw CalibrationError.incompatibleStatistics }
        // Every cell of `other` must be here with at least its count (checked before changing anything).
        var here = 0
        for (key, count) in zip(other.coarseKeys, other.coarseCounts) {
            while here < coarseKeys.count && coarseKeys[here] < key { here += 1 }
            guard here < coarseKeys.count, coarseKeys[here] == key, coarseCounts[here] >= count else {
                throw CalibrationError.removalOfAbsentScore(coarseEdge(Int(key) / Self.groupCount))
            }
        }
        var scores: [Double] = []
        var groups: [UInt8] = []
        scores.reserveCapacity(max(tailScores.count - other.tailScores.count, 0))
        groups.reserveCapacity(scores.capacity)
        var next = 0
        for index in tailScores.indices {
            let score = tailScores[index], group = tailGroups[index]
            if next < other.tailScores.count && other.tailScores[next] == score && other.tailGroups[next] == group {
                next += 1
                continue
            }
            if next < other.tailScores.count && Self.precedes(other.tailScores[next], other.tailGroups[next], score, group) {
                throw CalibrationError.removalOfAbsentScore(other.tailScores[next])
            }
            scores.append(score)
            groups.append(group)
        }
        guard next == other.tailScores.count else { throw CalibrationError.removalOfAbsentScore(other.tailScores[next]) }
        mergeCells(other, sign: -1)
        for index in groupCounts.indices { groupCounts[index] -= other.groupCounts[index] }
        impostorCount -= other.impostorCount
        tailScores = scores
        tailGroups = groups
    }

    /// Adds (`sign` 1) or subtracts (−1, already checked to stay non-negative) another's cells,
    /// dropping cells that reach zero.
    private mutating func mergeCells(_ other: ImpostorSubjects, sign: Int) {
        guard !other.coarseKeys.isEmpty else { return }
        var keys: [UInt32] = []
        var counts: [Int] = []
        keys.reserveCapacity(coarseKeys.count + other.coarseKeys.count)
        counts.reserveCapacity(keys.capacity)
        var i = 0
        var j = 0
        while i < coarseKeys.count || j < other.coarseKeys.count {
            if j == other.coarseKeys.count || (i < coarseKeys.count && coarseKeys[i] < other.coarseKeys[j]) {
                keys.append(coarseKeys[i]); counts.append(coarseCounts[i]); i += 1
            } else if i == coarseKeys.count || other.coarseKeys[j] < coarseKeys[i] {
                keys.append(other.coarseKeys[j]); counts.append(sign * other.coarseCounts[j]); j += 1
            } else {
                let sum = coarseCounts[i] + sign * other.coarseCounts[j]
                if sum != 0 { keys.append(coarseKeys[i]); counts.append(sum) }
                i += 1; j += 1
            }
        }
        coarseKeys = keys
        coarseCounts = counts
    }

    /// Each group's impostors in coarse bins `fromBin` and above (below the floor), plus its tail
    /// entries at or above `tailThreshold`: its false matches at the coarse edge `fromBin` when
    /// `tailThreshold` is the floor.
    func falseMatchesPerGroup(fromCoarseBin fromBin: Int, tailThreshold: Double) -> [Int] {
        var counts = [Int](repeating: 0, count: Self.groupCount)
        var index = tailScores.firstIndex(notBelow: tailThreshold)
        while index < tailScores.count {
            counts[Int(tailGroups[index])] += 1
            index += 1
        }
        var cell = coarseKeys.firstIndex(notBelow: UInt32(max(fromBin, 0) * Self.groupCount))
        while cell < coarseKeys.count {
            counts[Int(coarseKeys[cell]) % Self.groupCount] += coarseCounts[cell]
            cell += 1
        }
        return counts
    }
}
