/// A run of equal scores: thresholds never split one, as in bob.measure.
struct TieGroup: Sendable, Equatable {
    var score: Double
    var count: Int
}

/// Tie groups of an ascending array, visited from the highest score down.
struct DescendingTieGroups: Sequence, Sendable {
    let ascending: [Double]

    func makeIterator() -> Iterator { Iterator(ascending: ascending, end: ascending.count) }

    struct Iterator: IteratorProtocol {
        let ascending: [Double]
        var end: Int

        mutating func next() -> TieGroup? {
            guard end > 0 else { return nil }
            let score = ascending[end - 1]
            var start = end - 1
            while start > 0 && ascending[start - 1] == score { start -= 1 }
            defer { end = start }
            return TieGroup(score: score, count: end - start)
        }
    }
}

/// numpy's `nextafter(x, y)`: the next double after `x` towards `y`, or `y` when equal.
///
/// bob.measure writes `nextafter(x, x + 1)`; for |x| >= 2^53 or infinite x, `x + 1 == x`
/// and the result is `x` itself. Reproducing the call, not the intent, keeps thresholds
/// bit-identical.
func numpyNextAfter(_ x: Double, towards y: Double) -> Double {
    if y > x { return x.nextUp }
    if y < x { return x.nextDown }
    return y
}
