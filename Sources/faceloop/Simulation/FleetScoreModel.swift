import Foundation
import SeededRandom

/// The fleet simulator's ground truth: cohorts (site × camera model) with known genuine and
/// impostor score distributions, one of which drifts (its impostors score higher in the
/// second half of each kiosk's outcomes, as after a camera firmware change). Seeded, so a
/// run can be repeated exactly.
struct FleetScoreModel: Sendable {
    struct Cohort: Hashable, Sendable {
        var site: String
        var cameraModel: String
    }

    struct Outcome: Sendable {
        var cohort: Cohort
        var genuine: Bool
        var score: Double
        var attemptedAt: Date
        var subject: Int
    }

    let sites: Int
    let seed: UInt64
    static let cameraModels = ["cam-a", "cam-b"]
    /// site-1 / cam-a drifts.
    static let drifting = Cohort(site: "site-1", cameraModel: "cam-a")

    func cohort(ofKiosk kiosk: Int) -> Cohort {
        Cohort(site: "site-\(kiosk % sites + 1)", cameraModel: Self.cameraModels[(kiosk / sites) % Self.cameraModels.count])
    }

    /// Means and spreads per cohort: sites differ a little, as lighting and cameras do.
    func distribution(_ cohort: Cohort, genuine: Bool, late: Bool) -> (mean: Double, deviation: Double) {
        let site = Double(Int(cohort.site.dropFirst("site-".count)) ?? 1)
        let camera = cohort.cameraModel == "cam-a" ? 0.0 : 0.02
        if genuine { return (0.78 - 0.02 * site - camera, 0.08) }
        let drift = late && cohort == Self.drifting ? 0.15 : 0
        return (-0.05 + 0.03 * site + camera + drift, 0.12)
    }

    /// Kiosk `kiosk`'s outcomes, oldest first, attempted over the hour before `end`.
    func outcomes(kiosk: Int, count: Int, subjects: Int, end: Date) -> [Outcome] {
        var generator = SeededGenerator(seed: seed &+ UInt64(kiosk) &* 0x9E37_79B9)
        let cohort = cohort(ofKiosk: kiosk)
        return (0..<count).map { index in
            let genuine = Double.random(in: 0..<1, using: &generator) < 0.5
            let (mean, deviation) = distribution(cohort, genuine: genuine, late: index >= count / 2)
            // Box–Muller; scores are rounded to 1e-6 so that they survive any JSON round trip exactly.
            let u1 = Double.random(in: Double.ulpOfOne..<1, using: &generator), u2 = Double.random(in: 0..<1, using: &generator)
            let normal = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
            let score = (min(1, max(-1, mean + deviation * normal)) * 1e6).rounded() / 1e6
            return Outcome(cohort: cohort, genuine: genuine, score: score,
                           attemptedAt: end.addingTimeInterval(-3600 + 3600 * Double(index) / Double(max(count, 1))),
                           subject: Int.random(in: 0..<subjects, using: &generator))
        }
    }
}
