import CBLAS

/// All pairwise squared Euclidean distances between the rows of the update matrix,
/// ‖xᵢ − xⱼ‖² = ‖xᵢ‖² + ‖xⱼ‖² − 2·xᵢ·xⱼ, with every inner product from one BLAS call
/// (`cblas_ssyrk`: the Gram matrix X·Xᵀ, half of a GEMM's work since it is symmetric).
///
/// This replaces the O(N²) loop of vector subtractions that Flower's Krum runs. Float32
/// cancellation can make a tiny distance slightly negative; those are clamped to 0, and the
/// diagonal is exactly 0. Returns a row-major N×N matrix of Double.
public func pairwiseSquaredDistances(of matrix: UpdateMatrix) -> [Double] {
    let n = matrix.rowCount
    var gram = [Float](repeating: 0, count: n * n)
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(n), Int32(matrix.columnCount),
                1, matrix.values, Int32(matrix.columnCount), 0, &gram, Int32(n))
    var distances = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
        let squaredNormI = Double(gram[i * n + i])
        for j in (i + 1)..<n {
            let distance = max(0, squaredNormI + Double(gram[j * n + j]) - 2 * Double(gram[i * n + j]))
            distances[i * n + j] = distance
            distances[j * n + i] = distance
        }
    }
    return distances
}
