import FederationCore
/// The fixed-point grid on which DP-FedAvg sums the clipped updates and adds discrete
/// Gaussian noise, and what the grid does to the sensitivity that the accountants see.
///
/// The grid step is γ = C/2^k (k = `bits`), so a clipped update has norm at most 2^k grid
/// units. Each coordinate is rounded to the **nearest** grid point. Nearest rounding is
/// deterministic and moves every coordinate by at most ½, so by the triangle inequality a
/// kiosk's rounded update has norm at most
///
///     Δ = C/γ + √d/2 = 2^k + √d/2   grid units,
///
/// with no failure probability to add to δ (randomized rounding would be unbiased but has
/// only a conditional bound, Kairouz, Liu & Steinke 2021, "The Distributed Discrete Gaussian
/// Mechanism for Federated Learning with Secure Aggregation", Thm. 1 / Prop. 22). Its bias,
/// at most γ/2 = C/2^(k+1) per coordinate, is far below the noise z·C for the default k.
///
/// The noise is N_Z(0, σ²) per coordinate with σ = z·C/γ = z·2^k grid units, so the noise
/// multiplier the accountants must use is σ/Δ = z·2^k/(2^k + √d/2), slightly below z
/// (by √d/2^(k+1) relative: 6.1e-5 for the 128×128 adapter at k = 20).
///
/// ```swift
/// let grid = try FixedPointGrid(clippingNorm: 0.5, dimension: 16_384)
/// grid.step                                        // 0.5 / 2^20
/// grid.effectiveNoiseMultiplier(1.0)               // 0.99994…
/// ```
public struct FixedPointGrid: Sendable, Equatable {
    /// k = 20: the rounding inflates the sensitivity by under 1e-3 relative up to a million
    /// parameters (6.1e-5 for the 128×128 adapter), and σ² = (z·2^20)² still fits the
    /// sampler's 64-bit numerator for z below 2^12.
    public static let defaultBits = 20
    /// Up to 2^20 parameters the Double rounding in the clipping stays inside the safety
    /// margin of `integerPoint` (see there).
    public static let maximumDimension = 1 << 20

    /// C, the L2 bound on each kiosk's update.
    public let clippingNorm: Double
    /// k; the step is C/2^k.
    public let bits: Int
    /// d, the number of parameters.
    public let dimension: Int

    public init(clippingNorm: Double, bits: Int = FixedPointGrid.defaultBits, dimension: Int) throws {
        guard clippingNorm.isFinite, clippingNorm > 0 else {
            throw FederationError.invalidParameter(name: "clipping norm C", value: clippingNorm, requirement: "must be positive and finite")
        }
        guard (1...30).contains(bits) else {
            throw FederationError.invalidParameter(
                name: "grid bits k", value: Double(bits),
                requirement: "must be in 1…30 (2^k grid units per C; larger k leaves no room for σ² = (z·2^k)² in 64 bits)")
        }
        guard (1...Self.maximumDimension).contains(dimension) else {
            throw FederationError.invalidParameter(
                name: "dimension d", value: Double(dimension), requirement: "must be in 1…\(Self.maximumDimension)")
        }
        self.clippingNorm = clippingNorm
        self.bits = bits
        self.dimension = dimension
    }

    /// 2^k, the clipping norm in grid units.
    private var unitsPerClippingNorm: Double {
        Double(1 << bits)
    }

    /// γ = C/2^k, in model units.
    public var step: Double {
        clippingNorm / unitsPerClippingNorm
    }

    /// Δ = 2^k + √d/2, the L2 sensitivity of the integer sum in grid units.
    public var sensitivity: Double {
        unitsPerClippingNorm + Double(dimension).squareRoot() / 2
    }

    /// σ = z·2^k, the noise standard deviation in grid units.
    public func noiseStandardDeviation(noiseMultiplier: Double) -> Double {
        noiseMultiplier * unitsPerClippingNorm
    }

    /// σ/Δ: the noise multiplier of the discretised mechanism, below z.
    public func effectiveNoiseMultiplier(_ noiseMultiplier: Double) -> Double {
        noiseStandardDeviation(noiseMultiplier: noiseMultiplier) / sensitivity
    }

    /// σ² = (z·2^k)² in grid units², rounded **up** to an integer: the sampler needs an exact
    /// rational, and more noise than the accountants assume only strengthens the guarantee
    /// (every ε they compute decreases as σ grows). The relative excess is below 1/σ².
    public func noiseVariance(noiseMultiplier: Double) throws -> DiscreteGaussianVariance {
        guard noiseMultiplier.isFinite, noiseMultiplier > 0 else {
            throw FederationError.invalidParameter(name: "noise multiplier z", value: noiseMultiplier, requirement: "must be positive and finite")
        }
        let sigma = noiseStandardDeviation(noiseMultiplier: noiseMultiplier)
        // σ is exact (z times a power of two); σ·σ is rounded to nearest, so its next Double
        // up is at least the exact square.
        guard let numerator = UInt64(exactly: (sigma * sigma).nextUp.rounded(.up)) else {
            throw FederationError.invalidParameter(
                name: "noise multiplier z", value: noiseMultiplier,
                requirement: "z·2^k must be below 2^32 so that σ² in grid units fits 64 bits; use fewer grid bits (k = \(bits))")
        }
        return try DiscreteGaussianVariance(numerator: numerator, denominator: 1)
    }

    /// A kiosk's update clipped to C and rounded to the nearest grid point.
    ///
    /// The scale 2^k/C·min(1, C/‖x‖) is shrunk by 2⁻³²: ‖x‖ is a Double sum of d squares and
    /// the scaling rounds too, together a relative error below (d + 4)·2⁻⁵³ < 2⁻³² for
    /// d ≤ 2^20, so the scaled vector's norm is at most 2^k exactly and the rounded one at
    /// most Δ, as the accounting assumes — even for an update crafted to sit on the bound.
    func integerPoint(of row: ArraySlice<Float>, norm: Double) throws -> [Int64] {
        let scale = unitsPerClippingNorm / clippingNorm * clippingFactor(norm: norm, bound: clippingNorm) * (1 - 0x1p-32)
        return try row.map { value in
            guard let point = Int64(exactly: (Double(value) * scale).rounded(.toNearestOrAwayFromZero)) else {
                throw FederationError.nonFiniteValue(what: "update on the grid")
            }
            return point
        }
    }
}
