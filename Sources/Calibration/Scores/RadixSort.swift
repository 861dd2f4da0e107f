/// Sorting doubles by their bits: six counting passes of 11 bits instead of n log n
/// comparisons, which is what makes sorting ten million scores cheap.
///
/// Each double is mapped to an unsigned key whose integer order is the numeric order (flip
/// every bit of a negative, set the sign bit of a positive), sorted least-significant digit
/// first, and mapped back. NaN must be excluded by the caller. -0.0 sorts before 0.0, an
/// order that `<` also accepts since the two are equal.
enum RadixSort {
    /// Below this many scores the standard library's sort is as fast.
    static let smallestRadixInput = 4_096
    /// 11-bit digits: 2,048 buckets keep the scattered writes inside the caches; six passes.
    static let digitBits = 11
    static let passCount = (64 + digitBits - 1) / digitBits

    static func ascending(_ values: [Double]) -> [Double] {
        guard values.count >= smallestRadixInput else { return values.sorted() }
        let signBit: UInt64 = 1 << 63
        let bucketCount = 1 << digitBits
        let mask = UInt64(bucketCount - 1)
        var keys = values.map { value -> UInt64 in
            let bits = value.bitPattern
            return bits & signBit != 0 ? ~bits : bits | signBit
        }
        var scratch = [UInt64](repeating: 0, count: keys.count)
        var counts = [Int](repeating: 0, count: passCount * bucketCount)
        counts.withUnsafeMutableBufferPointer { counts in
            for key in keys {
                for pass in 0..<passCount {
                    counts[pass * bucketCount + Int((key >> UInt64(pass * digitBits)) & mask)] += 1
                }
            }
        }
        for pass in 0..<passCount {
            let base = pass * bucketCount
            // A digit shared by every key leaves the order unchanged: skip the pass.
            if counts[base..<(base + bucketCount)].contains(keys.count) { continue }
            var offset = 0
            for digit in base..<(base + bucketCount) {
                let count = counts[digit]
                counts[digit] = offset
                offset += count
            }
            let shift = UInt64(pass * digitBits)
            keys.withUnsafeBufferPointer { source in
                scratch.withUnsafeMutableBufferPointer { destination in
                    counts.withUnsafeMutableBufferPointer { starts in
                        for key in source {
                            let digit = base + Int((key >> shift) & mask)
                            destination[starts[digit]] = key
                            starts[digit] += 1
                        }
                    }
                }
            }
            swap(&keys, &scratch)
        }
        return keys.map { key in
            Double(bitPattern: key & signBit != 0 ? key & ~signBit : ~key)
        }
    }
}
