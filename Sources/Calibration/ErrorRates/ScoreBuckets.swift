/// Scores counted in 2^16 buckets that follow score order (the top 16 bits of an
/// order-preserving key): one linear pass finds which few buckets hold the answer, so only
/// those scores are sorted.
///
/// -0.0 and 0.0 share a bucket, so a tie group never spans two buckets.
struct ScoreBuckets {
    static let count = 1 << 16

    /// The bucket of a (non-NaN) score; buckets increase with the score.
    @inline(__always)
    static func bucket(of score: Double) -> Int {
        let bits = (score == 0 ? 0.0 : score).bitPattern
        let key = bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
        return Int(key >> 48)
    }

    /// Scores per bucket.
    let counts: [Int]

    init(_ scores: [Double]) {
        var counts = [Int](repeating: 0, count: Self.count)
        counts.withUnsafeMutableBufferPointer { counts in
            for score in scores { counts[Self.bucket(of: score)] += 1 }
        }
        self.counts = counts
    }

    /// The scores whose bucket lies in `range`, sorted ascending.
    static func sortedScores(_ scores: [Double], inBuckets range: ClosedRange<Int>) -> [Double] {
        RadixSort.ascending(scores.filter { range.contains(bucket(of: $0)) })
    }
}
