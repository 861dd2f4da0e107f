import Foundation

/// In-place iterative radix-2 complex FFT on split real/imaginary arrays, for composing
/// privacy loss distributions (convolution powers become pointwise powers).
/// `inverse` computes the unnormalised inverse; divide by the length afterwards.
/// The length must be a power of two.
func fourierTransform(real: inout [Double], imaginary: inout [Double], inverse: Bool) {
    let n = real.count
    precondition(n == imaginary.count && n > 0 && n & (n - 1) == 0, "FFT length must be a power of two")
    // Bit-reversal permutation.
    var j = 0
    for i in 1..<max(n, 1) {
        var bit = n >> 1
        while j & bit != 0 {
            j ^= bit
            bit >>= 1
        }
        j |= bit
        if i < j {
            real.swapAt(i, j)
            imaginary.swapAt(i, j)
        }
    }
    let sign: Double = inverse ? 1 : -1
    var length = 2
    while length <= n {
        let half = length / 2
        let angle = sign * 2 * Double.pi / Double(length)
        // Twiddles computed directly (not by recurrence) to keep the error at one ulp.
        let twiddleReal = (0..<half).map { cos(angle * Double($0)) }
        let twiddleImaginary = (0..<half).map { sin(angle * Double($0)) }
        real.withUnsafeMutableBufferPointer { re in
            imaginary.withUnsafeMutableBufferPointer { im in
                for start in stride(from: 0, to: n, by: length) {
                    for k in 0..<half {
                        let a = start + k, b = a + half
                        let tr = re[b] * twiddleReal[k] - im[b] * twiddleImaginary[k]
                        let ti = re[b] * twiddleImaginary[k] + im[b] * twiddleReal[k]
                        re[b] = re[a] - tr
                        im[b] = im[a] - ti
                        re[a] += tr
                        im[a] += ti
                    }
                }
            }
        }
        length <<= 1
    }
}
