/// A natural number of any size, with only what the exact discrete Gaussian sampler needs:
/// product, difference, comparison and a uniform draw below a bound.
///
/// The sampler's rejection step compares a uniform integer with (|Y|·b·t − a)², where
/// σ² = a/b with 64-bit a and b and t ≈ σ; that square can need about 330 bits, so fixed
/// 64- or 128-bit arithmetic would have to round or refuse rare candidates, and either
/// would make the sample inexact. Values below 2¹²⁸ — nearly all of them — stay in one
/// `UInt128`, so the common case allocates nothing.
struct ExactNatural: Comparable, Sendable {
    private enum Storage: Sendable, Equatable {
        case small(UInt128)
        /// Little-endian 64-bit limbs, more than two, the most significant one non-zero.
        case large([UInt64])
    }

    private let storage: Storage

    init(_ value: UInt64) {
        storage = .small(UInt128(value))
    }

    private init(_ value: UInt128) {
        storage = .small(value)
    }

    private init(limbs: [UInt64]) {
        var limbs = limbs
        while limbs.last == 0 {
            limbs.removeLast()
        }
        if limbs.count <= 2 {
            let low = limbs.first ?? 0
            let high = limbs.count == 2 ? limbs[1] : 0
            storage = .small(UInt128(high) << 64 | UInt128(low))
        } else {
            storage = .large(limbs)
        }
    }

    private var limbs: [UInt64] {
        switch storage {
        case let .small(value): return [UInt64(truncatingIfNeeded: value), UInt64(truncatingIfNeeded: value >> 64)]
        case let .large(limbs): return limbs
        }
    }

    static func * (lhs: ExactNatural, rhs: ExactNatural) -> ExactNatural {
        if case let .small(a) = lhs.storage, case let .small(b) = rhs.storage {
            let (product, overflow) = a.multipliedReportingOverflow(by: b)
            if !overflow { return ExactNatural(product) }
        }
        let left = lhs.limbs, right = rhs.limbs
        var result = [UInt64](repeating: 0, count: left.count + right.count)
        for i in left.indices {
            var carry: UInt64 = 0
            for j in right.indices {
                let (high, low) = left[i].multipliedFullWidth(by: right[j])
                let (partial, firstOverflow) = low.addingReportingOverflow(result[i + j])
                let (sum, secondOverflow) = partial.addingReportingOverflow(carry)
                result[i + j] = sum
                // a·b + r + c ≤ (2⁶⁴ − 1)² + 2(2⁶⁴ − 1) < 2¹²⁸, so the new carry fits one limb.
                carry = high &+ (firstOverflow ? 1 : 0) &+ (secondOverflow ? 1 : 0)
            }
            result[i + right.count] = carry
        }
        return ExactNatural(limbs: result)
    }

    /// lhs − rhs; the callers only subtract a smaller number from a larger one.
    static func - (lhs: ExactNatural, rhs: ExactNatural) -> ExactNatural {
        precondition(lhs >= rhs, "ExactNatural has no negative numbers")
        if case let .small(a) = lhs.storage, case let .small(b) = rhs.storage {
            return ExactNatural(a - b)
        }
        var result = lhs.limbs
        let subtrahend = rhs.limbs
        var borrow = false
        for index in result.indices {
            let (partial, firstBorrow) = result[index].subtractingReportingOverflow(index < subtrahend.count ? subtrahend[index] : 0)
            let (difference, secondBorrow) = partial.subtractingReportingOverflow(borrow ? 1 : 0)
            result[index] = difference
            borrow = firstBorrow || secondBorrow
        }
        return ExactNatural(limbs: result)
    }

    /// |lhs − rhs|.
    static func distance(_ lhs: ExactNatural, _ rhs: ExactNatural) -> ExactNatural {
        lhs >= rhs ? lhs - rhs : rhs - lhs
    }

    static func < (lhs: ExactNatural, rhs: ExactNatural) -> Bool {
        switch (lhs.storage, rhs.storage) {
        case let (.small(a), .small(b)): return a < b
        case (.small, .large): return true
        case (.large, .small): return false
        case let (.large(a), .large(b)):
            if a.count != b.count { return a.count < b.count }
            for index in a.indices.reversed() where a[index] != b[index] {
                return a[index] < b[index]
            }
            return false
        }
    }

    /// A uniform draw from {0, …, bound − 1}; bound must be positive.
    static func random<Generator: RandomNumberGenerator>(below bound: ExactNatural, using generator: inout Generator) -> ExactNatural {
        switch bound.storage {
        case let .small(value):
            precondition(value > 0, "no natural number lies below zero")
            // The standard library's bounded draw is exactly uniform (it rejects, never folds).
            return ExactNatural(UInt128.random(in: 0..<value, using: &generator))
        case let .large(limbs):
            // Uniform bits up to the bound's length, redrawn when not below it: each try
            // succeeds with probability above 1/2, and every accepted value is equally likely.
            let topMask = UInt64.max >> limbs[limbs.count - 1].leadingZeroBitCount
            while true {
                var draw = limbs.map { _ in generator.next() }
                draw[draw.count - 1] &= topMask
                let candidate = ExactNatural(limbs: draw)
                if candidate < bound {
                    return candidate
                }
            }
        }
    }
}
