import Foundation
import SeededRandom

/// The fleet simulator's ground truth: cohorts (site × camera model) with known genuine and
/// impostor score distributions for two models, today's backbone and a candidate (any
/// adapter release). One cohort drifts (its impostors score higher after the drift onset, a
/// fraction of each kiosk's outcomes in a run, as after a camera firmware change), and in one
/// cohort the candidate is clearly worse while it is clearly better everywhere else — what a
/// staged rollout must catch. Seeded, so a run can be repeated exactly.
struct FleetScoreModel: Sendable {
    struct Cohort: Hashable, Sendable, Comparable {
        var site: String
        var cameraModel: String

        var name: String { "\(site)/\(cameraModel)" }

        static func < (lhs: Self, rhs: Self) -> Bool { (lhs.site, lhs.cameraModel) < (rhs.site, rhs.cameraModel) }
    }

    /// Which distributions a model version's scores come from.
    enum Model: Sendable, Equatable {
        case backbone, candidate

        static let backboneVersion = "dlib_face_recognition_resnet_model_v1"

        /// The backbone by its own name; every adapter release (`…:adapter-N`) is the candidate.
        init(modelVersion: String) throws {
            if modelVersion == Self.backboneVersion {
                self = .backbone
            } else if modelVersion.hasPrefix(Self.backboneVersion + ":adapter-") {
                self = .candidate
            } else {
                throw FleetScoreModelError.unknownModel(modelVersion)
            }
        }
    }

    /// One verification attempt, before any model scored it: both models score the same
    /// attempt, so their scores share a normal component and differ by one of their own.
    struct Attempt: Sendable {
        var cohort: Cohort
        var genuine: Bool
        /// After the drift onset (only the drifting cohort's impostors shift then).
        var afterDrift: Bool
        var attemptedAt: Date
        var subject: Int
        var sharedNormal: Double
        var backboneNormal: Double
        var candidateNormal: Double
    }

    let sites: Int
    let seed: UInt64
    /// The share of each kiosk's attempts in a run that come before the drift onset: 0.5 drifts
    /// halfway through, 0 gives a run wholly after the drift, 1 one wholly before it.
    var driftOnset = 0.5
    static let cameraModels = ["cam-a", "cam-b"]
    /// site-1 / cam-a drifts.
    static let drifting = Cohort(site: "site-1", cameraModel: "cam-a")
    /// site-2 / cam-b: the candidate's genuine scores are lower here (say, a camera whose
    /// colour response the adapter was never trained on).
    static let candidateWorse = Cohort(site: "site-2", cameraModel: "cam-b")
    /// Weight of the shared component: the two models' scores of one attempt correlate at 0.9.
    static let sharedWeight = 0.9
    static let candidateGenuineGain = 0.06
    static let candidateGenuineLossInWorseCohort = -0.10
    /// How much higher the drifting cohort's impostors score after the drift onset.
    static let impostorDrift = 0.15

    func cohort(ofKiosk kiosk: Int) -> Cohort {
        Cohort(site: "site-\(kiosk % sites + 1)", cameraModel: Self.cameraModels[(kiosk / sites) % Self.cameraModels.count])
    }

    /// Means and spreads per cohort and model: sites differ a little, as lighting and cameras
    /// do. The genuine and impostor distributions overlap enough that a threshold at a
    /// target FMR of a few percent rejects 5–20 % of genuine attempts, so a better or worse
    /// model shows in the FNMR; impostors score alike under both models, and their spread is
    /// small enough that a threshold from some hundred impostors moves by much less than the
    /// candidate's genuine gain.
    func distribution(_ cohort: Cohort, model: Model, genuine: Bool, afterDrift: Bool) -> (mean: Double, deviation: Double) {
        let site = Double(Int(cohort.site.dropFirst("site-".count)) ?? 1)
        let camera = cohort.cameraModel == "cam-a" ? 0.0 : 0.02
        if genuine {
            let backbone = 0.30 + 0.01 * site - camera
            switch model {
            case .backbone: return (backbone, 0.12)
            case .candidate:
                let change = cohort == Self.candidateWorse ? Self.candidateGenuineLossInWorseCohort : Self.candidateGenuineGain
                return (backbone + change, 0.12)
            }
        }
        let drift = afterDrift && cohort == Self.drifting ? Self.impostorDrift : 0
        return (-0.05 + 0.03 * site + camera + drift, 0.08)
    }

    /// `model`'s score of `attempt`, rounded to 1e-6 so that it survives any JSON round trip exactly.
    func score(_ attempt: Attempt, model: Model) -> Double {
        let (mean, deviation) = distribution(attempt.cohort, model: model, genuine: attempt.genuine, afterDrift: attempt.afterDrift)
        let own = model == .backbone ? attempt.backboneNormal : attempt.candidateNormal
        let normal = Self.sharedWeight * attempt.sharedNormal + (1 - Self.sharedWeight * Self.sharedWeight).squareRoot() * own
        return (min(1, max(-1, mean + deviation * normal)) * 1e6).rounded() / 1e6
    }

    /// Kiosk `kiosk`'s attempts, oldest first, dated evenly from `start` on and before `end`.
    func attempts(kiosk: Int, count: Int, subjects: Int, start: Date, end: Date) -> [Attempt] {
        var generator = SeededGenerator(seed: seed &+ UInt64(kiosk) &* 0x9E37_79B9)
        let cohort = cohort(ofKiosk: kiosk)
        // Box–Muller.
        func standardNormal() -> Double {
            let u1 = Double.random(in: Double.ulpOfOne..<1, using: &generator), u2 = Double.random(in: 0..<1, using: &generator)
            return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        let span = end.timeIntervalSince(start)
        let onset = Int((driftOnset * Double(count)).rounded(.down))
        return (0..<count).map { index in
            let genuine = Double.random(in: 0..<1, using: &generator) < 0.5
            let subject = Int.random(in: 0..<subjects, using: &generator)
            return Attempt(cohort: cohort, genuine: genuine, afterDrift: index >= onset,
                           attemptedAt: start.addingTimeInterval(span * Double(index) / Double(max(count, 1))),
                           subject: subject, sharedNormal: standardNormal(), backboneNormal: standardNormal(),
                           candidateNormal: standardNormal())
        }
    }
}

enum FleetScoreModelError: Error, CustomStringConvertible {
    case unknownModel(String)

    var description: String {
        switch self {
        case let .unknownModel(version):
            "the simulator has no score distribution for model \(version): it knows \(FleetScoreModel.Model.backboneVersion) "
                + "and its adapter releases (…:adapter-N)"
        }
    }
}
