import CBLAS
import FederationCore
import Foundation

/// Face descriptors of people who are nobody's subject in the fleet, shipped by the server so
/// that a kiosk can train against impostors it never saw: the kiosk's own impostor pairs are
/// few (a handful of people per kiosk) and say nothing about the tail of the impostor
/// distribution that sets the threshold at FMR 1e-3. Validated on construction: every
/// descriptor has `dimension` finite values.
public struct PublicImpostorSet: Sendable, Equatable {
    public let dimension: Int
    public let count: Int
    /// Row-major `count × dimension`, ready for BLAS.
    public let values: [Float]

    public init(descriptors: [[Float]], dimension: Int = Adapter.faceDescriptorDimension) throws {
        guard !descriptors.isEmpty else { throw FederationError.empty(what: "public impostor descriptors") }
        var values = [Float]()
        values.reserveCapacity(descriptors.count * dimension)
        for descriptor in descriptors {
            guard descriptor.count == dimension else {
                throw FederationError.dimensionMismatch(what: "public impostor descriptor", expected: dimension, actual: descriptor.count)
            }
            guard descriptor.allSatisfy(\.isFinite) else { throw FederationError.nonFiniteValue(what: "public impostor descriptor") }
            values += descriptor
        }
        self.dimension = dimension
        count = descriptors.count
        self.values = values
    }
}

/// The local training objective: every genuine pair of the kiosk against the top of the
/// impostor distribution, where the operating point lives.
///
/// For genuine pairs (aᵢ, pᵢ) (enrolled template, live probe), i = 1…n, and public impostor
/// descriptors x_j, j = 1…M, with every descriptor adapted as ŷ = normalize(W y + b):
///
///     gᵢ = âᵢ·p̂ᵢ                      genuine scores
///     s_lj = p̂_l·x̂_j                  impostor scores: each probe against the public set
///     T = the k = ⌈f·n·M⌉ largest s_lj (f = `tailFraction`, 0.5 % by default)
///     loss = (1/(n·k)) Σᵢ Σ_(l,j)∈T softplus(scale·(s_lj − gᵢ))
///
/// A genuine pair costs little once it scores above the impostor tail, and nothing is spent on
/// the many easy impostors that dominated the earlier logistic pair loss (whose mean fell while
/// FNMR at FMR 1e-3 did not move). The tail is chosen at the current adapter and held fixed
/// for the gradient: the loss is piecewise smooth, and between changes of the tail its
/// gradient is exact (checked against finite differences in `TailLossTests`).
///
/// Gradient: with ∂cos/∂u = (v̂ − cos·û)/|u| for each side of each score, the per-descriptor
/// gradients are summed into ∂/∂W = Σ G_setᵀ·Y_set over the three sets (templates, probes,
/// public), three `cblas_sgemm` calls; ∂/∂b = the column sums of the G's.
public struct ImpostorTailLoss: Sendable, Codable, Equatable {
    /// Sharpness of the softplus on the score gap; dlib's genuine–impostor gaps near the
    /// threshold are a few hundredths, so 32 turns a gap of 0.05 into a slope well inside
    /// the logistic's linear range.
    public var scale: Double
    /// Share of the impostor scores (probes × public set) that forms the tail. Above the
    /// target FMR (1e-3), so that the tail holds more than a single score per kiosk.
    public var tailFraction: Double

    public init(scale: Double = 32, tailFraction: Double = 0.005) {
        self.scale = scale
        self.tailFraction = tailFraction
    }

    /// The number of impostor scores in the tail out of `scores`: at least one.
    public func tailCount(of scores: Int) -> Int {
        min(scores, max(1, Int((tailFraction * Double(scores)).rounded(.up))))
    }

    /// The loss over `genuine` (every pair must be genuine) against `impostors`.
    public func value(adapter: Adapter, genuine: ArraySlice<LabelledPair>, impostors: PublicImpostorSet) throws -> Double {
        try evaluate(adapter: adapter, genuine: genuine, impostors: impostors, withGradient: false).value
    }

    /// The loss and its gradient with respect to `adapter.parameters` (full `W`, then `b`).
    /// A descriptor whose adapted vector is zero has no direction: its scores count as 0 and
    /// carry no gradient.
    public func valueAndGradient(adapter: Adapter, genuine: ArraySlice<LabelledPair>,
                                 impostors: PublicImpostorSet) throws -> (value: Double, gradient: [Float]) {
        let result = try evaluate(adapter: adapter, genuine: genuine, impostors: impostors, withGradient: true)
        return (result.value, result.gradient)
    }

    private func evaluate(adapter: Adapter, genuine pairs: ArraySlice<LabelledPair>, impostors: PublicImpostorSet,
                          withGradient: Bool) throws -> (value: Double, gradient: [Float]) {
        guard scale.isFinite, scale > 0 else {
            throw FederationError.invalidParameter(name: "scale", value: scale, requirement: "must be positive and finite")
        }
        guard tailFraction.isFinite, tailFraction > 0, tailFraction <= 1 else {
            throw FederationError.invalidParameter(name: "tailFraction", value: tailFraction, requirement: "must be within (0, 1]")
        }
        guard !pairs.isEmpty else { throw FederationError.empty(what: "genuine training pairs") }
        let d = adapter.dimension
        guard impostors.dimension == d else {
            throw FederationError.dimensionMismatch(what: "public impostor descriptor", expected: d, actual: impostors.dimension)
        }
        let n = pairs.count, m = impostors.count
        var templates = [Float](), probes = [Float]()
        templates.reserveCapacity(n * d)
        probes.reserveCapacity(n * d)
        for pair in pairs {
            guard pair.isGenuine else {
                throw FederationError.invalidParameter(name: "pair label", value: 0, requirement: "the tail loss takes genuine pairs only")
            }
            guard pair.first.count == d, pair.second.count == d else {
                throw FederationError.dimensionMismatch(
                    what: "pair descriptor", expected: d, actual: pair.first.count == d ? pair.second.count : pair.first.count)
            }
            templates += pair.first
            probes += pair.second
        }
        let a = UnitRows(adapter: adapter, inputs: templates, count: n)
        let p = UnitRows(adapter: adapter, inputs: probes, count: n)
        let x = UnitRows(adapter: adapter, inputs: impostors.values, count: m)

        var genuineScores = [Double](repeating: 0, count: n)
        for row in 0..<n { genuineScores[row] = a.dot(row, p, row) }
        // s = P̂·X̂ᵀ (n × m), then the k largest.
        var impostorScores = [Float](repeating: 0, count: n * m)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(m), Int32(d),
                    1, p.unit, Int32(d), x.unit, Int32(d), 0, &impostorScores, Int32(m))
        let k = tailCount(of: n * m)
        // Ties are broken by index so the tail is the same on every machine.
        let tail = impostorScores.indices.sorted {
            impostorScores[$0] != impostorScores[$1] ? impostorScores[$0] > impostorScores[$1] : $0 < $1
        }.prefix(k)

        // ∂loss/∂gᵢ and ∂loss/∂s_lj, accumulated over the n·k terms.
        let normaliser = 1 / (Double(n) * Double(k))
        var total = 0.0
        var genuineSlope = [Double](repeating: 0, count: n)
        var tailSlope = [Double](repeating: 0, count: k)
        for (t, index) in tail.enumerated() {
            let s = Double(impostorScores[index])
            for i in 0..<n {
                let z = scale * (s - genuineScores[i])
                total += softplus(z)
                let slope = scale * logistic(z) * normaliser
                tailSlope[t] += slope
                genuineSlope[i] -= slope
            }
        }
        let value = total * normaliser
        guard withGradient else { return (value, []) }

        var gradientA = [Float](repeating: 0, count: n * d)
        var gradientP = [Float](repeating: 0, count: n * d)
        var gradientX = [Float](repeating: 0, count: m * d)
        for i in 0..<n {
            a.accumulateCosineGradient(row: i, other: p, otherRow: i, cosine: genuineScores[i], slope: genuineSlope[i], into: &gradientA)
            p.accumulateCosineGradient(row: i, other: a, otherRow: i, cosine: genuineScores[i], slope: genuineSlope[i], into: &gradientP)
        }
        for (t, index) in tail.enumerated() {
            let l = index / m, j = index % m
            let s = Double(impostorScores[index])
            p.accumulateCosineGradient(row: l, other: x, otherRow: j, cosine: s, slope: tailSlope[t], into: &gradientP)
            x.accumulateCosineGradient(row: j, other: p, otherRow: l, cosine: s, slope: tailSlope[t], into: &gradientX)
        }

        var gradient = [Float](repeating: 0, count: adapter.parameterCount)
        gradient.withUnsafeMutableBufferPointer { g in
            let dim = Int32(d)
            // ∂/∂W = G_Aᵀ·A + G_Pᵀ·P + G_Xᵀ·X  (d×rows times rows×d, row-major)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dim, dim, Int32(n),
                        1, gradientA, dim, templates, dim, 0, g.baseAddress, dim)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dim, dim, Int32(n),
                        1, gradientP, dim, probes, dim, 1, g.baseAddress, dim)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dim, dim, Int32(m),
                        1, gradientX, dim, impostors.values, dim, 1, g.baseAddress, dim)
            if adapter.bias != nil {
                for (rows, values) in [(n, gradientA), (n, gradientP), (m, gradientX)] {
                    for row in 0..<rows {
                        for c in 0..<d { g[d * d + c] += values[row * d + c] }
                    }
                }
            }
        }
        return (value, gradient)
    }
}

/// Adapted descriptors `normalize(W y + b)` of a batch, with the norms before normalising
/// (the chain rule through the normalisation needs them).
struct UnitRows {
    let dimension: Int
    /// Row-major unit vectors; a zero row stays zero.
    let unit: [Float]
    let norms: [Double]

    init(adapter: Adapter, inputs: [Float], count: Int) {
        let d = adapter.dimension
        var output = [Float](repeating: 0, count: count * d)
        if let bias = adapter.bias {
            for row in 0..<count {
                for c in 0..<d { output[row * d + c] = bias[c] }
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(d), Int32(d),
                    1, inputs, Int32(d), adapter.weights, Int32(d), 1, &output, Int32(d))
        var norms = [Double](repeating: 0, count: count)
        for row in 0..<count {
            var squared = 0.0
            for c in 0..<d { squared += Double(output[row * d + c]) * Double(output[row * d + c]) }
            let norm = squared.squareRoot()
            norms[row] = norm
            if norm > 0 {
                for c in 0..<d { output[row * d + c] = Float(Double(output[row * d + c]) / norm) }
            }
        }
        dimension = d
        unit = output
        self.norms = norms
    }

    func dot(_ row: Int, _ other: UnitRows, _ otherRow: Int) -> Double {
        var sum = 0.0
        for c in 0..<dimension { sum += Double(unit[row * dimension + c]) * Double(other.unit[otherRow * dimension + c]) }
        return sum
    }

    /// Adds slope · ∂cos/∂u_row = slope · (v̂ − cos·û)/|u| to the row's gradient.
    func accumulateCosineGradient(row: Int, other: UnitRows, otherRow: Int, cosine: Double, slope: Double,
                                  into gradient: inout [Float]) {
        let norm = norms[row]
        guard norm > 0, other.norms[otherRow] > 0, slope != 0 else { return }
        let base = row * dimension, otherBase = otherRow * dimension
        for c in 0..<dimension {
            let direction = Double(other.unit[otherBase + c]) - cosine * Double(unit[base + c])
            gradient[base + c] += Float(slope * direction / norm)
        }
    }
}

/// log(1 + eˣ) without overflow.
func softplus(_ x: Double) -> Double {
    max(x, 0) + log1p(exp(-abs(x)))
}

/// 1 / (1 + e⁻ˣ) without overflow.
func logistic(_ x: Double) -> Double {
    x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
}
