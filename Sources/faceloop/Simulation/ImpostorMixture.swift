import Foundation

/// The impostor score distribution a pool of simulated scores was drawn from, known exactly
/// from the score model: a mixture of normals, one per part of the pool (before and after the
/// drift onset), each weighted by the share of the pool's impostor scores drawn from it. What
/// it gives is the population's, not a sample's, and uses nothing of Calibration — the ground
/// truth the server's thresholds are held to.
///
/// The simulator rounds scores to 1e-6 and clamps them to [-1, 1]; both move a false match rate
/// by less than 1e-6 here (impostor means lie within ±0.2, spreads are 0.08), so the normals
/// stand for the scores.
struct ImpostorMixture: Sendable, Equatable {
    struct Component: Sendable, Equatable {
        var weight: Double
        var mean: Double
        var deviation: Double
    }

    let components: [Component]

    /// Components weighted by how many of the pool's impostor scores each produced; parts
    /// without scores are left out.
    init(parts: [(count: Int, mean: Double, deviation: Double)]) throws {
        let total = parts.reduce(0) { $0 + $1.count }
        guard total > 0 else { throw ImpostorMixtureError.noImpostors }
        guard parts.allSatisfy({ $0.count >= 0 && $0.deviation > 0 && $0.mean.isFinite && $0.deviation.isFinite }) else {
            throw ImpostorMixtureError.invalidComponent
        }
        components = parts.filter { $0.count > 0 }.map {
            Component(weight: Double($0.count) / Double(total), mean: $0.mean, deviation: $0.deviation)
        }
    }

    /// P(score ≥ threshold): the true false match rate of `threshold`.
    func falseMatchRate(atThreshold threshold: Double) -> Double {
        components.reduce(0) { rate, part in
            rate + part.weight * 0.5 * erfc((threshold - part.mean) / (part.deviation * 2.0.squareRoot()))
        }
    }

    /// The threshold whose true false match rate is `target`, by bisection: the rate falls
    /// strictly as the threshold rises, and 40 spreads beyond the outermost means bracket any
    /// target a double can tell from 0 and 1.
    func threshold(atFalseMatchRate target: Double) throws -> Double {
        guard target > 0, target < 1 else { throw ImpostorMixtureError.targetOutOfRange(target) }
        var low = components.map { $0.mean - 40 * $0.deviation }.min() ?? -1
        var high = components.map { $0.mean + 40 * $0.deviation }.max() ?? 1
        while true {
            let middle = low + (high - low) / 2
            // Stops when the interval is down to adjacent doubles.
            if middle <= low || middle >= high { return middle }
            if falseMatchRate(atThreshold: middle) > target { low = middle } else { high = middle }
        }
    }
}

enum ImpostorMixtureError: Error, CustomStringConvertible {
    case noImpostors
    case invalidComponent
    case targetOutOfRange(Double)

    var description: String {
        switch self {
        case .noImpostors: "a pool without impostor scores has no impostor distribution"
        case .invalidComponent: "a mixture component needs a finite mean, a positive finite spread and a count ≥ 0"
        case let .targetOutOfRange(target): "target FMR \(target) is not within (0, 1)"
        }
    }
}

extension FleetScoreModel {
    /// The distribution `cohort`'s impostor scores under `model` were drawn from, when
    /// `beforeDrift` of them came before the drift onset and `afterDrift` after it.
    func impostorMixture(_ cohort: Cohort, model: Model, beforeDrift: Int, afterDrift: Int) throws -> ImpostorMixture {
        let before = distribution(cohort, model: model, genuine: false, afterDrift: false)
        let after = distribution(cohort, model: model, genuine: false, afterDrift: true)
        return try ImpostorMixture(parts: [(beforeDrift, before.mean, before.deviation), (afterDrift, after.mean, after.deviation)])
    }
}
