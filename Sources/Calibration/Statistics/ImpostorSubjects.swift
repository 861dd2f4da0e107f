/// Who the impostor attempts of a cohort belong to, coarsely enough to be kept live and
/// exactly enough for a subjects bootstrap: subjects are hashed into `groupCount` groups.
///
/// Attempts of one subject are correlated, so a subject-level bound resamples whole subjects
/// (`SubjectBootstrap`). Keeping every subject's scores live would cost memory and storage in
/// proportion to the history; groups cost a fixed 256 counters plus one byte per exact-tail
/// entry. Every attempt of a subject lands in the same group (the hash of its pseudonym), so
/// resampling groups keeps each subject's attempts together: the bootstrap over groups is a
/// bootstrap over clusters of whole subjects. With fewer subjects than groups most groups hold
/// one subject and it is nearly the subject bootstrap; with many more, each group is a random
/// cluster of subjects, which only averages independent subjects together (no correlation is
/// lost).
///
/// Kept per group: the number of impostor attempts, and for each impostor score at or above the
/// tail floor, its group — the tail is the multiset of (score, group) pairs, sorted, so the
/// false matches of every group at any threshold in the tail are exact. Adding, removing,
/// merging and subtracting are exact and all or nothing, like `ScoreStatistics`.
///
/// ```swift
/// var subjects = ImpostorSubjects(tailFloor: 0.888671875)
/// try subjects.add(score: 0.93, subject: "p-17")
/// subjects.nonEmptyGroups          // 1
/// ```
public struct ImpostorSubjects: Sendable, Hashable {
    /// G: the number of groups subjects are hashed into.
    public static let groupCount = 256

    /// The group of a subject: the top byte of the 64-bit FNV-1a hash of the pseudonym's UTF-8
    /// bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3) passed through MurmurHash3's
    /// fmix64 finaliser. FNV-1a alone leaves its top byte nearly blind to the last characters
    /// (pseudonyms differing only at the end would share a few groups); fmix64 spreads every
    /// input bit over the whole word. Stable across machines and releases — stored statistics
    /// depend on it, so it must never change.
    public static func group(of subject: String) -> Int {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in subject.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        hash ^= hash >> 33
        hash &*= 0xFF51_AFD7_ED55_8CCD
        hash ^= hash >> 33
        hash &*= 0xC4CE_B9FE_1A85_EC53
        hash ^= hash >> 33
        return Int(hash >> 56)
    }

    /// Impostor scores `>= tailFloor` are kept with their group.
    public let tailFloor: Double
    /// Impostor attempts per group (`groupCount` entries).
    public private(set) var groupCounts: [Int]
    /// Tail scores ascending; equal scores by ascending group. `tailGroups[i]` is `tailScores[i]`'s group.
    public private(set) var tailScores: [Double]
    public private(set) var tailGroups: [UInt8]
    /// All impostor attempts counted.
    public private(set) var impostorCount: Int

    public init(tailFloor: Double) {
        self.tailFloor = tailFloor
        groupCounts = Array(repeating: 0, count: Self.groupCount)
        tailScores = []
        tailGroups = []
        impostorCount = 0
    }

    /// Parts already validated by the caller (decoding).
    init(tailFloor: Double, groupCounts: [Int], tailScores: [Double], tailGroups: [UInt8]) {
        self.tailFloor = tailFloor
        self.groupCounts = groupCounts
        self.tailScores = tailScores
        self.tailGroups = tailGroups
        impostorCount = groupCounts.reduce(0, +)
    }

    /// Groups with at least one impostor attempt: a lower bound on the number of distinct
    /// subjects with impostor attempts (two subjects may share a group, one never spans two).
    public var nonEmptyGroups: Int { groupCounts.count { $0 > 0 } }

    /// Counts one impostor attempt of `subject`; throws for NaN and infinities, changing nothing.
    public mutating func add(score: Double, subject: String) throws {
        try ScoreStatistics.check(score)
        add(checkedScore: score, group: Self.group(of: subject))
    }

    /// Uncounts one impostor attempt of `subject` that was counted before; throws
    /// `.removalOfAbsentScore`, changing nothing, when there is none (in its group, or in the tail).
    public mutating func remove(score: Double, subject: String) throws {
        try ScoreStatistics.check(score)
        try remove(checkedScore: score, group: Self.group(of: subject))
    }

    mutating func add(checkedScore score: Double, group: Int) {
        groupCounts[group] += 1
        impostorCount += 1
        guard score >= tailFloor else { return }
        let index = insertionIndex(score: score, group: UInt8(group))
        tailScores.insert(score, at: index)
        tailGroups.insert(UInt8(group), at: index)
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

    /// Adds another cohort's or day's attempts (same tail floor).
    public mutating func merge(_ other: ImpostorSubjects) throws {
        guard other.tailFloor == tailFloor else { throw CalibrationError.incompatibleStatistics }
        for index in groupCounts.indices { groupCounts[index] += other.groupCounts[index] }
        impostorCount += other.impostorCount
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
        guard other.tailFloor == tailFloor else { throw CalibrationError.incompatibleStatistics }
        for index in groupCounts.indices where other.groupCounts[index] > groupCounts[index] {
            throw CalibrationError.removalOfAbsentScore(tailFloor)
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
        for index in groupCounts.indices { groupCounts[index] -= other.groupCounts[index] }
        impostorCount -= other.impostorCount
        tailScores = scores
        tailGroups = groups
    }
}
