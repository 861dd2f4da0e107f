import ArgumentParser
import Calibration
import FaceVerification
import FederationCore
import Foundation
import SeededRandom

/// Per-cohort capture-normalisation policies found by the fleet's shadow scores, over real
/// faces: kiosks under six capture conditions score their consented verifications under
/// candidate policies within a time budget, the server ranks the candidates per cohort and
/// picks one, and FNMR at FMR 1e-3 with per-cohort calibrated thresholds is measured on people
/// who took no part in the search, over five rotations of the people split.
struct PolicySearchSimulation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy-search-simulation",
        abstract: "Simulate the federated search for per-cohort capture-normalisation policies on a folder of faces (LFW layout).")

    @Option(help: "Folder of people (DIR/Person/Person_000N.jpg, at least 6 photos each).") var faces: String
    @Option(help: "The model directory (scripts/fetch-models.sh).") var models = "models"
    @Option(help: "Descriptor cache (JSON); computed once, reused by later runs.") var cache = "policy-search-descriptors.json"
    @Option(help: "Rotations of the people split (people with index ≡ r mod this are the test people of rotation r).") var rotations = 5
    @Option(help: "Threads computing descriptors.") var workers = 2
    @Flag(help: "Only compute the descriptors of every frame under the first round's candidates.") var precomputeOnly = false
    @Flag(help: "The ceiling: each cohort's policy chosen centrally on all fleet attempts (no budget, no consent, no ranking rule).")
    var central = false
    @Option(name: .customLong("target-fmr")) var targetFMR = 1e-3
    @Option var seed: UInt64 = 1
    @Flag var json = false

    func run() throws {
        let folder = try FaceFolder(folder: faces)
        let pipeline = try FacePipeline(models: ModelDirectory(url: URL(fileURLWithPath: models)))
        let descriptors = try FrameDescriptors(cachePath: cache)
        let people = Array(folder.people.indices)
        let templates = people.flatMap { person in (1...3).map { Frame(person: person, photo: $0) } }
        let probes = people.flatMap { person in (4...6).map { Frame(person: person, photo: $0) } }
        let grid = [NormalizationPolicy.identity] + Self.roundOneGrid()
        try descriptors.ensure(frames: templates, policies: [.identity], folder: folder, pipeline: pipeline, workers: workers)
        try descriptors.ensure(frames: probes, policies: grid, folder: folder, pipeline: pipeline, workers: workers)
        if precomputeOnly { return }
        let scorer = Scorer(descriptors: descriptors)
        var evaluations: [CohortEvaluation] = []
        for rotation in 0..<rotations {
            let test = people.filter { $0 % rotations == rotation }
            let fleet = people.filter { $0 % rotations != rotation }
            for condition in KioskCondition.allCases {
                let fleetAttempts = AttemptSet(condition: condition, people: fleet, folder: folder)
                let testAttempts = AttemptSet(condition: condition, people: test, folder: folder)
                let chosen = try Self.centralChoice(fleetAttempts, candidates: grid, scorer: scorer, targetFMR: targetFMR)
                evaluations.append(try CohortEvaluation(rotation: rotation, condition: condition, policy: chosen,
                                                        fleet: fleetAttempts, test: testAttempts, scorer: scorer, targetFMR: targetFMR))
                let last = evaluations[evaluations.count - 1]
                print("rotation \(rotation) \(condition.rawValue): \(FrameDescriptors.key(chosen)) FNMR \(String(format: "%.3f → %.3f", last.before.fnmr, last.after.fnmr))")
            }
        }
        let report = SimulationReport(evaluations: evaluations, seed: seed)
        report.print()
    }

    /// The policy with the lowest FNMR at `targetFMR` on the fleet's attempts, each policy at
    /// its own threshold calibrated on the same attempts.
    static func centralChoice(_ attempts: AttemptSet, candidates: [NormalizationPolicy], scorer: Scorer,
                              targetFMR: Double) throws -> NormalizationPolicy {
        var best = (policy: NormalizationPolicy.identity, fnmr: Double.infinity)
        for policy in candidates {
            let point = try OperatingPoint(attempts: attempts, policy: policy, threshold: nil, scorer: scorer, targetFMR: targetFMR)
            if point.fnmr < best.fnmr { best = (policy, point.fnmr) }
        }
        return best.policy
    }

    static func roundOneGrid() -> [NormalizationPolicy] {
        typealias P = NormalizationPolicy
        let wb = P.WhiteBalance(strength: 1)
        func gamma(_ t: Double) -> P.Exposure { P.Exposure(method: .gamma, targetMean: t) }
        func clahe(_ t: Int, _ c: Double) -> P.CLAHE { P.CLAHE(tilesX: t, tilesY: t, clipLimit: c) }
        func sharpen(_ r: Double, _ p: Int) -> P.UnsharpMask { P.UnsharpMask(radius: r, percent: p, threshold: 0) }
        return [
            P(whiteBalance: wb), P(whiteBalance: wb, exposure: gamma(0.45)), P(exposure: gamma(0.5)),
            P(exposure: P.Exposure(method: .gain, targetMean: 0.45)),
            P(clahe: clahe(8, 2)), P(clahe: clahe(4, 3)), P(clahe: clahe(8, 4)),
            P(whiteBalance: wb, exposure: gamma(0.45), clahe: clahe(8, 2)),
            P(unsharpMask: sharpen(1.5, 100)), P(unsharpMask: sharpen(2, 150)), P(unsharpMask: sharpen(3, 200)), P(unsharpMask: sharpen(4, 300)),
            P(exposure: gamma(0.45), unsharpMask: sharpen(2, 100)), P(clahe: clahe(8, 2), unsharpMask: sharpen(2, 100)),
            P(whiteBalance: P.WhiteBalance(strength: 0.5)),
        ]
    }
}

PolicySearchSimulation.main()
