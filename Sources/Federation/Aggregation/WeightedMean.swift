import CBLAS

/// Flower's `aggregate`: the mean of the rows weighted by their example counts,
/// Σᵢ nᵢ·xᵢ / Σᵢ nᵢ, computed as one `cblas_sgemv` (xᵀ·n) and a division.
///
/// `rows` restricts the mean to some clients (Multi-Krum's selection); `nil` means all.
public func weightedMean(of matrix: UpdateMatrix, rows: [Int]? = nil) -> [Float] {
    let selected = rows ?? Array(0..<matrix.rowCount)
    var weights = [Float](repeating: 0, count: matrix.rowCount)
    var total = 0.0
    for row in selected {
        weights[row] = Float(matrix.exampleCounts[row])
        total += Double(matrix.exampleCounts[row])
    }
    var result = [Float](repeating: 0, count: matrix.columnCount)
    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(matrix.rowCount), Int32(matrix.columnCount),
                Float(1 / total), matrix.values, Int32(matrix.columnCount), weights, 1, 0, &result, 1)
    return result
}

/// The plain (unweighted) sum of the rows, for DP-FedAvg, whose sensitivity analysis needs
/// every client to count the same.
public func unweightedSum(of matrix: UpdateMatrix) -> [Float] {
    let ones = [Float](repeating: 1, count: matrix.rowCount)
    var result = [Float](repeating: 0, count: matrix.columnCount)
    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(matrix.rowCount), Int32(matrix.columnCount),
                1, matrix.values, Int32(matrix.columnCount), ones, 1, 0, &result, 1)
    return result
}
