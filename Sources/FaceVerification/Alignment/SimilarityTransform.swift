import Foundation

/// A 2-D similarity transform p ↦ scale·R(angle)·p + translation, fitted by least squares
/// (Umeyama 1991) in double precision.
///
/// For two dimensions the Umeyama solution with its reflection correction has a closed
/// form: with Σ the cross-covariance of the centred point sets, the rotation angle is
/// atan2(Σ₁₀ − Σ₀₁, Σ₀₀ + Σ₁₁) and trace(D·D′) = √((Σ₀₀ + Σ₁₁)² + (Σ₁₀ − Σ₀₁)²).
struct SimilarityTransform {
    var scale: Double
    var angle: Double
    var translation: (x: Double, y: Double)

    /// The transform that maps each `from[i]` as closely as possible onto `to[i]`.
    init(from: [(x: Double, y: Double)], to: [(x: Double, y: Double)]) {
        precondition(from.count == to.count && !from.isEmpty, "point sets must match")
        let count = Double(from.count)
        let meanFrom = (x: from.map(\.x).reduce(0, +) / count, y: from.map(\.y).reduce(0, +) / count)
        let meanTo = (x: to.map(\.x).reduce(0, +) / count, y: to.map(\.y).reduce(0, +) / count)
        var variance = 0.0
        var xx = 0.0, xy = 0.0, yx = 0.0, yy = 0.0
        for (source, target) in zip(from, to) {
            let dq = (x: source.x - meanFrom.x, y: source.y - meanFrom.y)
            let dp = (x: target.x - meanTo.x, y: target.y - meanTo.y)
            variance += dq.x * dq.x + dq.y * dq.y
            xx += dp.x * dq.x
            xy += dp.x * dq.y
            yx += dp.y * dq.x
            yy += dp.y * dq.y
        }
        variance /= count
        xx /= count; xy /= count; yx /= count; yy /= count
        let cosineTerm = xx + yy
        let sineTerm = yx - xy
        angle = atan2(sineTerm, cosineTerm)
        scale = variance > 0 ? (cosineTerm * cosineTerm + sineTerm * sineTerm).squareRoot() / variance : 1
        let (sin, cos) = (Foundation.sin(angle), Foundation.cos(angle))
        translation = (
            meanTo.x - scale * (cos * meanFrom.x - sin * meanFrom.y),
            meanTo.y - scale * (sin * meanFrom.x + cos * meanFrom.y)
        )
    }

    /// The linear part scale·R as a row-major 2×2 matrix.
    var linearPart: (m00: Double, m01: Double, m10: Double, m11: Double) {
        let (sin, cos) = (Foundation.sin(angle), Foundation.cos(angle))
        return (scale * cos, -scale * sin, scale * sin, scale * cos)
    }

    func apply(_ point: (x: Double, y: Double)) -> (x: Double, y: Double) {
        let m = linearPart
        return (m.m00 * point.x + m.m01 * point.y + translation.x, m.m10 * point.x + m.m11 * point.y + translation.y)
    }
}
