import Foundation

/// Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism (Mironov, Talwar &
/// Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism"), with the
/// same numerics as Google's `dp-accounting` `RdpAccountant`, so its ε agrees to ~1e-6:
///
/// - orders: dp-accounting's default grid, 1.1, 1.2, …, 10.9, then 11…63, 128, 256, 512,
///   1024 (`defaultOrders`);
/// - per-round RDP at order α: log(A_α)/(α − 1), with A_α a finite binomial sum for
///   integer α and the two-sided erfc series of Mironov et al. §3.3 for fractional α
///   (stopped after 1000 terms; an order that has not converged by then is dropped, as in
///   dp-accounting); α/(2z²) when q = 1; 0 when q = 0;
/// - rounds compose by adding RDP per order;
/// - conversion to (ε, δ): ε = min over α > 1.01 of
///   RDP(α) + log(1 − 1/α) − log(δ·α)/(α − 1)
///   (Canonne, Kamath & Steinke 2020, Prop. 12; Asoodeh et al. 2020), and ε = 0 when
///   δ² + expm1(−RDP(α)) > 0 (the KL bound already gives δ).
///
/// Unlike Flower's built-in accountant it does count the amplification by sampling.
///
/// ```swift
/// let accountant = RDPAccountant()
/// let result = try accountant.epsilon(for: [PrivacyLedgerEntry(samplingRate: 0.01, noiseMultiplier: 1, rounds: 1000)],
///                                     delta: 1e-6)   // ε ≈ 2.437 at order 8
/// ```
public struct RDPAccountant: Sendable, Equatable {
    /// dp-accounting's `DEFAULT_RDP_ORDERS`.
    public static let defaultOrders: [Double] = {
        let fractional: [Double] = (1...99).map { (x: Int) -> Double in 1 + Double(x) / 10.0 }
        let integral: [Double] = (11...63).map { (x: Int) -> Double in Double(x) }
        let large: [Double] = [128, 256, 512, 1024]
        return fractional + integral + large
    }()

    public var orders: [Double]

    public init(orders: [Double] = RDPAccountant.defaultOrders) {
        self.orders = orders
    }

    /// ε at δ, and the order that attained it.
    public func epsilon(for ledger: [PrivacyLedgerEntry], delta: Double) throws -> (epsilon: Double, order: Double) {
        try validate(delta: delta)
        let total = try rdp(for: ledger)
        return epsilonFromRDP(total, delta: delta)
    }

    /// The composed RDP of the ledger at every order.
    public func rdp(for ledger: [PrivacyLedgerEntry]) throws -> [Double] {
        var total = [Double](repeating: 0, count: orders.count)
        for entry in ledger {
            try entry.validate()
            guard entry.isPrivacyRelevant else { continue }
            let perRound = rdpPerRound(samplingRate: entry.samplingRate, noiseMultiplier: entry.noiseMultiplier)
            for index in orders.indices {
                total[index] += Double(entry.rounds) * perRound[index]
            }
        }
        return total
    }

    /// RDP of one Poisson-subsampled Gaussian round at every order.
    public func rdpPerRound(samplingRate q: Double, noiseMultiplier z: Double) -> [Double] {
        orders.map { alpha in
            if q == 0 { return 0 }
            if alpha.isInfinite || z == 0 { return .infinity }
            if q == 1 { return alpha / (2 * z * z) }
            let logA = alpha.rounded() == alpha
                ? logAInteger(q: q, sigma: z, alpha: Int(alpha))
                : logAFractional(q: q, sigma: z, alpha: alpha)
            return logA / (alpha - 1)
        }
    }

    private func epsilonFromRDP(_ rdp: [Double], delta: Double) -> (epsilon: Double, order: Double) {
        var best = Double.infinity
        var bestOrder = orders.first ?? 0
        for (alpha, r) in zip(orders, rdp) {
            let epsilon: Double
            if r < 0 {
                epsilon = 0
            } else if delta * delta + expm1(-r) > 0 {
                epsilon = 0
            } else if alpha > 1.01 {
                epsilon = r + log1p(-1 / alpha) - log(delta * alpha) / (alpha - 1)
            } else {
                epsilon = .infinity
            }
            if epsilon < best {
                best = epsilon
                bestOrder = alpha
            }
        }
        return (max(0, best), bestOrder)
    }

    /// log(A_α) for integer α: log Σᵢ C(α, i) qⁱ (1 − q)^(α − i) exp((i² − i)/(2σ²)).
    private func logAInteger(q: Double, sigma: Double, alpha: Int) -> Double {
        var logA = -Double.infinity
        let logQ = log(q), log1mQ = log1p(-q)
        let a = Double(alpha)
        for i in 0...alpha {
            let k = Double(i)
            let term = logBinomial(a, k) + k * logQ + (a - k) * log1mQ + (k * k - k) / (2 * sigma * sigma)
            logA = logAdd(logA, term)
        }
        return logA
    }

    /// log(A_α) for fractional α: the two half-line integrals around
    /// z₀ = σ² log(1/q − 1) + ½, summed term by term until both series decrease and their
    /// terms fall 30 nats below the total (at most 1000 terms; +∞ if not converged).
    private func logAFractional(q: Double, sigma: Double, alpha: Double) -> Double {
        var logA0 = -Double.infinity, logA1 = -Double.infinity
        let z0 = sigma * sigma * log(1 / q - 1) + 0.5
        let logQ = log(q), log1mQ = log1p(-q)
        var lastS0 = -Double.infinity, lastS1 = -Double.infinity
        let sqrt2Sigma = 2.0.squareRoot() * sigma
        for i in 0..<1000 {
            let k = Double(i)
            let logCoefficient = logBinomial(alpha, k)
            let j = alpha - k
            let logT0 = logCoefficient + k * logQ + j * log1mQ
            let logT1 = logCoefficient + j * logQ + k * log1mQ
            let logE0 = log(0.5) + logErfc((k - z0) / sqrt2Sigma)
            let logE1 = log(0.5) + logErfc((z0 - j) / sqrt2Sigma)
            let logS0 = logT0 + (k * k - k) / (2 * sigma * sigma) + logE0
            let logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1
            logA0 = logAdd(logA0, logS0)
            logA1 = logAdd(logA1, logS1)
            let total = logAdd(logA0, logA1)
            if logS0 < lastS0, logS1 < lastS1, max(logS0, logS1) < total - 30 {
                return total
            }
            lastS0 = logS0
            lastS1 = logS1
        }
        return .infinity
    }
}
