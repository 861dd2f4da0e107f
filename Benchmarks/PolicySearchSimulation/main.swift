import ArgumentParser
import Calibration
import FaceVerification
import Federation
import FederationCore
import Foundation
import SeededRandom
import SimulatedCapture

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
    @Option(name: .customLong("shadow-budget-ms"), help: "Kiosk milliseconds per verification for shadow candidates.")
    var shadowBudget = 150.0
    @Option(name: .customLong("candidate-ms"), help: "Kiosk milliseconds per candidate (default: the median measured while computing descriptors, which a loaded machine inflates).")
    var candidateMilliseconds: Double?
    @Option(name: .customLong("mirror-ms"), help: "What a candidate with mirror_average adds to --candidate-ms: one more descriptor pass (6.1 ms on a quiet core, face benchmark).")
    var mirrorMilliseconds = 6.5
    @Option(name: .customLong("consent-share"), help: "Share of subjects with model-improvement consent in force.")
    var consentShare = 0.8
    @Option(help: "Search rounds per cohort (the first is the grid; each later one keeps the better half and refines around the leader).")
    var rounds = 3
    @Option(help: "Candidates successive halving keeps for the next round.") var keep = 4
    @Option(name: .customLong("target-fmr")) var targetFMR = 1e-3
    @Flag(help: "The hindsight ceiling of what earlier runs explored: every policy the cache holds for all of a cohort's probes, scored on the test people, and the best one per condition (no search; knowledge no search has).")
    var hindsight = false
    @Flag(help: "Print the first-ranked candidate's comparison of every round.") var verbose = false
    @Option(name: .customLong("export-round-one"), help: "Write rotation 0's first search round of each cohort (its uploads and the simulation's ranking) to this folder, for scripts/experiments/policy-search-over-http.py.")
    var exportRoundOne: String?
    @Option(help: "Run only this condition (repeatable).") var only: [String] = []
    @Option(help: "Kiosks (of consecutive conditions) each person verifies at; a cohort sees this many times as many people.")
    var conditionsPerPerson = 3
    @Option(help: "Share of each rotation's fleet people whose kiosks are the canary stage (0: no canary; the search's leader goes to the fleet).")
    var canaryShare = 0.0
    @Option var seed: UInt64 = 1
    @Option(name: .customLong("det-directory"), help: "Write one DET chart (SVG) per condition here.") var detDirectory: String?

    func validate() throws {
        guard rotations >= 2 else { throw ValidationError("--rotations must be at least 2 (each rotation needs fleet and test people)") }
        guard (0..<1).contains(canaryShare) else { throw ValidationError("--canary-share must be in [0, 1)") }
        guard rounds >= 1, keep >= 1 else { throw ValidationError("--rounds and --keep must be at least 1") }
        guard mirrorMilliseconds >= 0, mirrorMilliseconds.isFinite else { throw ValidationError("--mirror-ms must be a number of milliseconds, 0 or more") }
    }

    func run() throws {
        let folder = try FaceFolder(folder: faces, conditionsPerPerson: conditionsPerPerson)
        let pipeline = try FacePipeline(models: ModelDirectory(url: URL(fileURLWithPath: models)))
        let descriptors = try FrameDescriptors(cachePath: cache)
        let people = Array(folder.people.indices)
        let templates = people.flatMap { person in (1...3).map { Frame(person: person, photo: $0) } }
        let probes = people.flatMap { person in
            folder.conditions(of: person).filter { only.isEmpty || only.contains($0.rawValue) }
                .flatMap { condition in (4...6).map { Frame(person: person, photo: $0, condition: condition) } }
        }
        let grid = [NormalizationPolicy.identity] + PolicyCandidates.grid()
        try descriptors.ensure(frames: templates, policies: [.identity], folder: folder, pipeline: pipeline, workers: workers)
        try descriptors.ensure(frames: probes, policies: grid, folder: folder, pipeline: pipeline, workers: workers)
        if precomputeOnly { return }
        let scorer = try Scorer(descriptors: descriptors, templates: templates)
        if hindsight {
            try Self.hindsightCeiling(people: people, probes: probes, folder: folder, descriptors: descriptors, scorer: scorer,
                                      rotations: rotations, targetFMR: targetFMR, seed: seed)
            return
        }
        var evaluations: [CohortEvaluation] = []
        var rounds: [FleetSearch.Round] = []
        let search = FleetSearch(settings: .init(budgetMilliseconds: shadowBudget, candidateMilliseconds: candidateMilliseconds, mirrorMilliseconds: mirrorMilliseconds, consentShare: consentShare, rounds: self.rounds, keep: keep,
                                                 targetFMR: targetFMR, confidence: 0.95, margin: 0.01, seed: seed), scorer: scorer)
        // The export needs rotation 0 only.
        for rotation in 0..<(exportRoundOne == nil ? rotations : 1) {
            let test = people.filter { $0 % rotations == rotation }
            let fleet = people.filter { $0 % rotations != rotation }
            let canaryPeople = fleet.filter { Self.isCanary($0, share: canaryShare, seed: seed) }
            let searchPeople = fleet.filter { !canaryPeople.contains($0) }
            for condition in KioskCondition.allCases where only.isEmpty || only.contains(condition.rawValue) {
                let fleetAttempts = AttemptSet(condition: condition, people: fleet, folder: folder)
                let searchAttempts = canaryPeople.isEmpty ? fleetAttempts : AttemptSet(condition: condition, people: searchPeople, folder: folder)
                let testAttempts = AttemptSet(condition: condition, people: test, folder: folder)
                var chosen: NormalizationPolicy
                if central {
                    chosen = try Self.centralChoice(fleetAttempts, candidates: grid, scorer: scorer, targetFMR: targetFMR)
                } else {
                    let cohortProbes = probes.filter { $0.condition == condition }
                    let export: ((FleetSearch.RoundOne) throws -> Void)? = exportRoundOne.map { directory in
                        { try RoundOneExport.write($0, condition: condition, to: directory) }
                    }
                    let outcome = try search.search(searchAttempts, ensure: { candidates in
                        try descriptors.ensure(frames: cohortProbes, policies: candidates, folder: folder, pipeline: pipeline, workers: workers)
                    }, roundOne: export)
                    chosen = outcome.chosen
                    if !canaryPeople.isEmpty {
                        let verdict = try search.canary(outcome, attempts: AttemptSet(condition: condition, people: canaryPeople, claimable: fleet,
                                                                                      folder: folder))
                        print("  canary: \(verdict.promoted ? "promoted" : "kept today's pipeline"): \(verdict.reason)")
                        if !verdict.promoted { chosen = .identity }
                    }
                    for (index, round) in outcome.rounds.enumerated() {
                        print("  round \(index + 1): \(round.candidates) candidates, \(round.candidatesPerVerification) per verification "
                            + "(\(Int(round.kioskMilliseconds)) ms), \(round.verifications) verifications, \(round.genuinePerCandidate) genuine / "
                            + "\(round.impostorPerCandidate) impostor per candidate, \(round.decisions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"
                            + (round.leader.map { ", leader \($0)" } ?? ", no leader") + (round.genuineStillNeeded.map { ", \($0) more genuine needed" } ?? ""))
                        if verbose, let reason = round.topReason { print("    first: \(reason)") }
                    }
                    rounds.append(contentsOf: outcome.rounds)
                }
                evaluations.append(try CohortEvaluation(rotation: rotation, condition: condition, policy: chosen,
                                                        fleet: fleetAttempts, test: testAttempts, scorer: scorer, targetFMR: targetFMR))
                let last = evaluations[evaluations.count - 1]
                print("rotation \(rotation) \(condition.rawValue): \(FrameDescriptors.key(chosen)) FNMR \(String(format: "%.3f → %.3f", last.before.fnmr, last.after.fnmr))")
            }
        }
        let report = SimulationReport(evaluations: evaluations, seed: seed)
        report.print()
        if let detDirectory { try DETCurves.write(evaluations, to: detDirectory) }
    }

    /// For each condition, the cached policy with the fewest false non-matches of the test
    /// people over all rotations (each rotation at thresholds calibrated on its fleet), reported
    /// like a run: the most any choice among those policies could have given.
    static func hindsightCeiling(people: [Int], probes: [Frame], folder: FaceFolder, descriptors: FrameDescriptors, scorer: Scorer,
                                 rotations: Int, targetFMR: Double, seed: UInt64) throws {
        var best: [CohortEvaluation] = []
        for condition in KioskCondition.allCases {
            let candidates = try descriptors.policies(coveringAll: probes.filter { $0.condition == condition })
            var chosen: (falseNonMatches: Int, evaluations: [CohortEvaluation])?
            for policy in candidates {
                let evaluations = try (0..<rotations).map { rotation in
                    try CohortEvaluation(rotation: rotation, condition: condition, policy: policy,
                                         fleet: AttemptSet(condition: condition, people: people.filter { $0 % rotations != rotation }, folder: folder),
                                         test: AttemptSet(condition: condition, people: people.filter { $0 % rotations == rotation }, folder: folder),
                                         scorer: scorer, targetFMR: targetFMR)
                }
                let falseNonMatches = evaluations.reduce(0) { $0 + $1.tallies.values.reduce(0) { $0 + $1.falseNonMatchesAfter } }
                if chosen.map({ falseNonMatches < $0.falseNonMatches }) ?? true { chosen = (falseNonMatches, evaluations) }
            }
            guard let chosen else { continue }
            print("\(condition.rawValue): \(candidates.count) policies cached for every probe; best \(FrameDescriptors.key(chosen.evaluations[0].policy))")
            best.append(contentsOf: chosen.evaluations)
        }
        SimulationReport(evaluations: best, seed: seed).print()
    }

    /// Whether a person's kiosks are in the canary stage: a seeded draw, the same in every rotation.
    static func isCanary(_ person: Int, share: Double, seed: UInt64) -> Bool {
        var generator = SeededGenerator(seed: (seed &+ 0xCA4A_0000) ^ UInt64(person) &* 0xD1B5_4A32_D192_ED03)
        return Double(generator.next() >> 11) / Double(1 << 53) < share
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
}

PolicySearchSimulation.main()
