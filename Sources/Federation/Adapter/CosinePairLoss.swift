import CBLAS
import FederationCore
import Foundation

/// The local training objective: logistic loss on the scaled cosine score of an adapted pair.
///
/// For a pair (a, b) with label y = +1 (genuine) or −1 (impostor), the adapted descriptors
/// are û = normalize(W a + b₀) and v̂ = normalize(W b + b₀), the score is cos = û·v̂ and
///
///     loss = log(1 + exp(−y · scale · (cos − margin)))
///
/// so genuine pairs are pushed above `margin` and impostors below it, with `scale` setting
/// how sharply (a temperature, as in scaled-cosine losses such as ArcFace/CosFace). The loss
/// is smooth, so its analytic gradient can be checked against finite differences, and it
/// is bounded in slope by `scale`, which keeps one bad label from dominating a batch.
///
/// The gradient with respect to the parameters (layout of `Adapter.parameters`) is
/// ∂cos/∂u = (v̂ − cos·û)/|u|, ∂cos/∂v = (û − cos·v̂)/|v|, and ∂/∂W = g_u aᵀ + g_v bᵀ,
/// ∂/∂b₀ = g_u + g_v, computed for a whole batch with two `cblas_sgemm` calls.
///
/// ```swift
/// let loss = CosinePairLoss(scale: 32, margin: 0.91)
/// let (value, gradient) = try loss.valueAndGradient(adapter: adapter, pairs: pairs[...])
/// ```
public struct CosinePairLoss: Sendable, Codable, Equatable {
    /// Multiplies the cosine margin before the logistic; larger is sharper.
    public var scale: Double
    /// The cosine score at which a pair is equally likely genuine or impostor.
    public var margin: Double

    /// The defaults suit dlib's descriptors, whose genuine and impostor cosine scores cross
    /// near 0.91 on LFW (the face module's evaluation puts the EER threshold at 0.9065)
    /// and spread over a few hundredths, hence a sharp scale. A starting point, to be
    /// tuned with the federated simulation on real faces.
    public init(scale: Double = 32, margin: Double = 0.91) {
        self.scale = scale
        self.margin = margin
    }

    /// The loss of one pair given its cosine score.
    public func value(cosine: Double, isGenuine: Bool) -> Double {
        let label: Double = isGenuine ? 1 : -1
        return softplus(-label * scale * (cosine - margin))
    }

    /// d loss / d cosine for one pair.
    public func derivative(cosine: Double, isGenuine: Bool) -> Double {
        let label: Double = isGenuine ? 1 : -1
        return -label * scale * logistic(-label * scale * (cosine - margin))
    }

    /// The mean loss over `pairs` and its gradient with respect to `adapter.parameters`.
    /// A pair whose adapted descriptor is the zero vector has no direction, so it adds
    /// its loss at cosine 0 and no gradient.
    public func valueAndGradient(adapter: Adapter, pairs: ArraySlice<LabelledPair>) throws -> (value: Double, gradient: [Float]) {
        guard !pairs.isEmpty else { throw FederationError.empty(what: "training pairs") }
        let d = adapter.dimension
        let n = pairs.count
        var firsts = [Float](), seconds = [Float]()
        firsts.reserveCapacity(n * d)
        seconds.reserveCapacity(n * d)
        for pair in pairs {
            guard pair.first.count == d, pair.second.count == d else {
                throw FederationError.dimensionMismatch(
                    what: "pair descriptor", expected: d, actual: pair.first.count == d ? pair.second.count : pair.first.count)
            }
            firsts += pair.first
            seconds += pair.second
        }
        let u = affineBatch(adapter: adapter, inputs: firsts, count: n)
        let v = affineBatch(adapter: adapter, inputs: seconds, count: n)

        var gradientU = [Float](repeating: 0, count: n * d)
        var gradientV = [Float](repeating: 0, count: n * d)
        var total = 0.0
        for (row, pair) in pairs.enumerated() {
            let base = row * d
            var squaredNormU = 0.0, squaredNormV = 0.0, dot = 0.0
            for k in 0..<d {
                let uk = Double(u[base + k]), vk = Double(v[base + k])
                squaredNormU += uk * uk
                squaredNormV += vk * vk
                dot += uk * vk
            }
            let normU = squaredNormU.squareRoot(), normV = squaredNormV.squareRoot()
            guard normU > 0, normV > 0 else {
                total += value(cosine: 0, isGenuine: pair.isGenuine)
                continue
            }
            let cosine = dot / (normU * normV)
            total += value(cosine: cosine, isGenuine: pair.isGenuine)
            let coefficient = derivative(cosine: cosine, isGenuine: pair.isGenuine) / Double(n)
            for k in 0..<d {
                let uHat = Double(u[base + k]) / normU, vHat = Double(v[base + k]) / normV
                gradientU[base + k] = Float(coefficient * (vHat - cosine * uHat) / normU)
                gradientV[base + k] = Float(coefficient * (uHat - cosine * vHat) / normV)
            }
        }

        var gradient = [Float](repeating: 0, count: adapter.parameterCount)
        gradient.withUnsafeMutableBufferPointer { g in
            let dim = Int32(d), count = Int32(n)
            // ∂/∂W = Guᵀ·A + Gvᵀ·B  (d×n times n×d, all row-major)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dim, dim, count,
                        1, gradientU, dim, firsts, dim, 0, g.baseAddress, dim)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dim, dim, count,
                        1, gradientV, dim, seconds, dim, 1, g.baseAddress, dim)
            if adapter.bias != nil {
                for row in 0..<n {
                    for k in 0..<d {
                        g[d * d + k] += gradientU[row * d + k] + gradientV[row * d + k]
                    }
                }
            }
        }
        return (total / Double(n), gradient)
    }

    /// The mean loss over `pairs` without the gradient (for evaluation).
    public func meanValue(adapter: Adapter, pairs: [LabelledPair]) throws -> Double {
        try valueAndGradient(adapter: adapter, pairs: pairs[...]).value
    }

    /// `inputs · Wᵀ + b` for `count` row-major descriptors.
    private func affineBatch(adapter: Adapter, inputs: [Float], count: Int) -> [Float] {
        let d = adapter.dimension
        var output = [Float](repeating: 0, count: count * d)
        if let bias = adapter.bias {
            for row in 0..<count {
                for k in 0..<d { output[row * d + k] = bias[k] }
            }
        }
        let dim = Int32(d)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), dim, dim,
                    1, inputs, dim, adapter.weights, dim, 1, &output, dim)
        return output
    }
}

/// log(1 + eˣ) without overflow.
private func softplus(_ x: Double) -> Double {
    max(x, 0) + log1p(exp(-abs(x)))
}

/// 1 / (1 + e⁻ˣ) without overflow.
private func logistic(_ x: Double) -> Double {
    x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
}
