import ArgumentParser
import Calibration
import FaceVerification
import Foundation
import SeededRandom

/// Does a threshold computed on some people hold its FMR on other people? Over random splits
/// of a folder of faces by person, thresholds at the target FMR are computed on one half with
/// today's Clopper–Pearson rule, with the subjects bootstrap, and as a release computes them
/// from live statistics (the larger of Clopper–Pearson's and the subjects bootstrap's over
/// hashed subject groups), then checked on subject bootstrap resamples of the other half.
struct SubjectHoldout: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subject-holdout",
        abstract: "Hold-out check of FMR thresholds by person: Clopper–Pearson against the subjects bootstrap.")

    @Option(help: "Folder of people (DIR/Person/Person_000N.jpg). Needed unless --timing.") var faces: String?
    @Option(help: "The model directory (scripts/fetch-models.sh).") var models = "models"
    @Option(help: "Descriptor cache (JSON), computed once and reused; keep it outside the repository.")
    var cache = FileManager.default.temporaryDirectory.appendingPathComponent("subject-holdout-descriptors.json").path
    @Option(help: "Random splits of the people into two halves.") var splits = 200
    @Option(name: .customLong("target-fmr")) var targetFMR = 1e-3
    @Option var confidence = 0.95
    @Option(help: "Resamples B of the subjects bootstrap on the calibration half.") var resamples = 1_000
    @Option(name: .customLong("holdout-resamples"), help: "Resamples R of the other half.") var holdoutResamples = 200
    @Option(help: "The bound's spread (SubjectBootstrap.spread).") var spread = SubjectBootstrap.defaultSpread
    @Option var seed: UInt64 = 1
    @Flag(help: "Time the bootstrap threshold on 10,000 synthetic subjects × 100 attempts, and a release over 1,000 cohorts of live statistics, instead.") var timing = false
    @Flag var json = false

    struct Split: Codable {
        var split: Int
        var calibrationImpostors: Int
        var calibrationSubjects: Int
        var clopperPearsonThreshold: Double
        var clopperPearsonCoverage: Double
        var clopperPearsonFNMR: Double
        var bootstrapThreshold: Double
        var bootstrapCoverage: Double
        var bootstrapFNMR: Double
        /// The release's threshold from live statistics, and the subject groups behind it.
        var releaseThreshold: Double
        var releaseCoverage: Double
        var releaseFNMR: Double
        var releaseGroups: Int
    }

    struct Summary: Codable {
        var people: Int
        var photos: Int
        var splits: [Split]
        var clopperPearsonMeanCoverage: Double
        var clopperPearsonMinimumCoverage: Double
        var clopperPearsonMeanFNMR: Double
        var bootstrapMeanCoverage: Double
        var bootstrapMinimumCoverage: Double
        var bootstrapMeanFNMR: Double
        var releaseMeanCoverage: Double
        var releaseMinimumCoverage: Double
        var releaseMeanFNMR: Double
        var targetFMR: Double
        var spread: Double
        var resamples: Int
        var holdoutResamples: Int
    }

    func validate() throws {
        guard timing || faces != nil else { throw ValidationError("--faces is needed (or --timing)") }
        guard splits > 0 else { throw ValidationError("--splits must be positive") }
    }

    func run() throws {
        if timing {
            try Self.timeThreshold(spread: spread, resamples: resamples, confidence: confidence, targetFMR: targetFMR)
            try Self.timeRelease(spread: spread, resamples: resamples, confidence: confidence, targetFMR: targetFMR)
            return
        }
        guard let faces else { return }
        let photos = try PhotoDescriptors.load(folder: faces, models: models, cache: cache)
        let similarities = SimilarityMatrix(photos: photos)
        let people = Array(Set(photos.map(\.person))).sorted()
        guard people.count >= 4 else { throw ValidationFailure("need at least 4 people, found \(people.count)") }
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.75)
        let policy = try ConservativeFMRPolicy(confidence: confidence)
        var results: [Split] = []
        for split in 0..<splits {
            var generator = SeededGenerator(seed: seed &+ UInt64(split))
            let shuffled = people.shuffled(using: &generator)
            let calibration = try Half(people: Array(shuffled[..<(people.count / 2)]), similarities: similarities)
            let holdout = try Half(people: Array(shuffled[(people.count / 2)...]), similarities: similarities)

            var statistics = try ScoreStatistics(layout: layout, scores: calibration.impostorScores, label: .impostor)
            try statistics.add(calibration.genuineScores, label: .genuine)
            let clopperPearson = try policy.choose(from: statistics, targetFMR: targetFMR).estimate.threshold
            let bootstrap = try SubjectBootstrap(
                resamples: resamples, confidence: confidence, seed: seed &+ UInt64(split), spread: spread)
            let subjectThreshold = try bootstrap.threshold(targetFMR: targetFMR, in: calibration.subjects)
            // What the server computes: the calibration half as live statistics, one cohort.
            var live = CohortStatistics(layout: CohortStatistics.liveLayout)
            for attempt in calibration.attempts { try live.add(score: attempt.score, label: attempt.label, subject: attempt.subject) }
            let key = CohortKey(modelVersion: "dlib", cameraModel: "lfw", cohort: "half")
            let release = try ThresholdRelease.compute(
                version: 1, previousVersion: nil, cohorts: [key], statistics: [key: live], targetFMR: targetFMR, policy: policy,
                layout: CohortStatistics.liveLayout, window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 0),
                subjectBootstrap: bootstrap)
            guard let entry = release.release.entry(for: key) else {
                throw ValidationFailure("split \(split): the release refused the half: \(release.refused)")
            }

            // The other half, resampled by subject: plain resamples (spread 1), their own seed.
            let check = try SubjectBootstrap(
                resamples: holdoutResamples, confidence: confidence, seed: 0x5EED_0000 &+ UInt64(split), spread: 1)
                .resampling(of: holdout.subjects)
            func coverage(_ threshold: Double) -> Double {
                let rates = check.resampledFMRs(at: threshold)
                return Double(rates.count { $0 <= targetFMR }) / Double(rates.count)
            }
            func fnmr(_ threshold: Double) -> Double {
                Double(holdout.genuineScores.count { $0 < threshold }) / Double(holdout.genuineScores.count)
            }
            let result = Split(
                split: split, calibrationImpostors: calibration.impostorScores.count,
                calibrationSubjects: calibration.subjects.subjectCount,
                clopperPearsonThreshold: clopperPearson, clopperPearsonCoverage: coverage(clopperPearson),
                clopperPearsonFNMR: fnmr(clopperPearson),
                bootstrapThreshold: subjectThreshold, bootstrapCoverage: coverage(subjectThreshold),
                bootstrapFNMR: fnmr(subjectThreshold),
                releaseThreshold: entry.threshold, releaseCoverage: coverage(entry.threshold), releaseFNMR: fnmr(entry.threshold),
                releaseGroups: entry.subjectCount ?? 0)
            results.append(result)
            if !json {
                print(String(format: "split %2d  Clopper–Pearson %.4f: %5.1f %% held, FNMR %.4f   subjects bootstrap %.4f: %5.1f %% held, FNMR %.4f   release (%d groups) %.4f: %5.1f %% held, FNMR %.4f",
                             split, clopperPearson, result.clopperPearsonCoverage * 100, result.clopperPearsonFNMR,
                             subjectThreshold, result.bootstrapCoverage * 100, result.bootstrapFNMR,
                             result.releaseGroups, entry.threshold, result.releaseCoverage * 100, result.releaseFNMR))
            }
        }
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        let summary = Summary(
            people: people.count, photos: photos.count, splits: results,
            clopperPearsonMeanCoverage: mean(results.map(\.clopperPearsonCoverage)),
            clopperPearsonMinimumCoverage: results.map(\.clopperPearsonCoverage).min() ?? 0,
            clopperPearsonMeanFNMR: mean(results.map(\.clopperPearsonFNMR)),
            bootstrapMeanCoverage: mean(results.map(\.bootstrapCoverage)),
            bootstrapMinimumCoverage: results.map(\.bootstrapCoverage).min() ?? 0,
            bootstrapMeanFNMR: mean(results.map(\.bootstrapFNMR)),
            releaseMeanCoverage: mean(results.map(\.releaseCoverage)),
            releaseMinimumCoverage: results.map(\.releaseCoverage).min() ?? 0,
            releaseMeanFNMR: mean(results.map(\.releaseFNMR)),
            targetFMR: targetFMR, spread: spread, resamples: resamples, holdoutResamples: holdoutResamples)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            return
        }
        print("\(summary.people) people, \(summary.photos) photos; \(splits) splits; FMR target \(targetFMR); "
              + "B = \(resamples), spread \(spread); \(holdoutResamples) resamples of the held-out half")
        print(String(format: "Clopper–Pearson:    FMR held in %5.1f %% of held-out resamples (mean; min %5.1f %%), FNMR %.4f",
                     summary.clopperPearsonMeanCoverage * 100, summary.clopperPearsonMinimumCoverage * 100, summary.clopperPearsonMeanFNMR))
        print(String(format: "subjects bootstrap: FMR held in %5.1f %% of held-out resamples (mean; min %5.1f %%), FNMR %.4f (%+.1f %% relative)",
                     summary.bootstrapMeanCoverage * 100, summary.bootstrapMinimumCoverage * 100, summary.bootstrapMeanFNMR,
                     (summary.bootstrapMeanFNMR / summary.clopperPearsonMeanFNMR - 1) * 100))
        print(String(format: "release (live statistics, subject groups): FMR held in %5.1f %% (mean; min %5.1f %%), FNMR %.4f; %.0f groups on average",
                     summary.releaseMeanCoverage * 100, summary.releaseMinimumCoverage * 100, summary.releaseMeanFNMR,
                     mean(results.map { Double($0.releaseGroups) })))
    }

    /// The speed of a release over 1,000 cohorts of live statistics with the subject-level bound:
    /// 100 subjects × 100 impostor attempts and 200 genuine ones per cohort on dlib's scale
    /// (impostors around 0.80, each subject with its own level), 10 camera models.
    static func timeRelease(spread: Double, resamples: Int, confidence: Double, targetFMR: Double) throws {
        var generator = SeededGenerator(seed: 7)
        var live: [CohortKey: CohortStatistics] = [:]
        for cohort in 0..<1_000 {
            var statistics = CohortStatistics(layout: CohortStatistics.liveLayout)
            for subject in 0..<100 {
                let level = 0.02 * normal(&generator)
                let name = "c\(cohort)-s\(subject)"
                for _ in 0..<100 {
                    try statistics.add(score: min(1, 0.80 + level + 0.035 * normal(&generator)), label: .impostor, subject: name)
                }
                for _ in 0..<2 { try statistics.add(score: min(1, 0.95 + 0.02 * normal(&generator)), label: .genuine, subject: name) }
            }
            live[CohortKey(modelVersion: "m1", cameraModel: "camera-\(cohort % 10)", cohort: "site-\(cohort)")] = statistics
        }
        let bootstrap = try SubjectBootstrap(resamples: resamples, confidence: confidence, seed: 1, spread: spread)
        let clock = ContinuousClock()
        let start = clock.now
        let computation = try ThresholdRelease.compute(
            version: 1, previousVersion: nil, cohorts: Array(live.keys), statistics: live, targetFMR: targetFMR,
            policy: try ConservativeFMRPolicy(confidence: confidence), layout: CohortStatistics.liveLayout,
            window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 0), subjectBootstrap: bootstrap)
        let elapsed = clock.now - start
        let plainStart = clock.now
        _ = try ThresholdRelease.compute(
            version: 1, previousVersion: nil, cohorts: Array(live.keys), statistics: live, targetFMR: targetFMR,
            policy: try ConservativeFMRPolicy(confidence: confidence), layout: CohortStatistics.liveLayout,
            window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 0))
        let plain = clock.now - plainStart
        let levels = Dictionary(grouping: computation.release.entries, by: \.fallbackLevel).mapValues(\.count)
        print("release over 1,000 cohorts × 10,000 impostors (100 subjects each), B = \(resamples), FMR \(targetFMR): "
              + "\(computation.release.entries.count) entries \(levels), \(computation.refused.count) refused")
        print("with the subject-level bound \(elapsed) (\(elapsed / 1_000) per cohort); policy alone \(plain)")
    }

    /// The speed of `SubjectBootstrap.threshold` on 10,000 synthetic subjects × 100 impostor
    /// attempts, each subject with its own mean score (so attempts of a subject are correlated).
    static func timeThreshold(spread: Double, resamples: Int, confidence: Double, targetFMR: Double) throws {
        var generator = SeededGenerator(seed: 99)
        var attempts: [(subject: String, score: Double, label: ScoreLabel)] = []
        attempts.reserveCapacity(1_000_000)
        for subject in 0..<10_000 {
            let level = 0.05 * normal(&generator)
            for _ in 0..<100 {
                attempts.append((subject: "subject-\(subject)", score: 0.3 + level + 0.1 * normal(&generator), label: .impostor))
            }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let scores = try SubjectScores(attempts: attempts)
        let grouped = clock.now
        let bootstrap = try SubjectBootstrap(resamples: resamples, confidence: confidence, seed: 1, spread: spread)
        let resampling = bootstrap.resampling(of: scores)
        let drawn = clock.now
        let threshold = try resampling.threshold(targetFMR: targetFMR)
        let done = clock.now
        print("10,000 subjects × 100 impostor attempts, B = \(resamples): threshold \(threshold) at FMR \(targetFMR) "
              + "(bound \(resampling.fmrUpperBound(at: threshold)), observed \(resampling.observedFMR(at: threshold)))")
        print("grouping \(grouped - start), drawing the resamples \(drawn - grouped), threshold \(done - drawn); total \(done - start)")
    }

    static func normal(_ generator: inout SeededGenerator) -> Double {
        let u = Double.random(in: Double.leastNonzeroMagnitude..<1, using: &generator)
        let v = Double.random(in: 0..<1, using: &generator)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

/// Cosine similarities of every pair of photos, computed once.
struct SimilarityMatrix {
    let count: Int
    let people: [String]
    private let values: [Double]

    init(photos: [PhotoDescriptor]) {
        count = photos.count
        people = photos.map(\.person)
        let unit = photos.map { photo -> [Double] in
            let vector = photo.descriptor.map(Double.init)
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return norm > 0 ? vector.map { $0 / norm } : vector
        }
        var values = [Double](repeating: 0, count: count * count)
        for i in 0..<count {
            for j in i..<count {
                let similarity = zip(unit[i], unit[j]).reduce(0) { $0 + $1.0 * $1.1 }
                values[i * count + j] = similarity
                values[j * count + i] = similarity
            }
        }
        self.values = values
    }

    subscript(i: Int, j: Int) -> Double { values[i * count + j] }
}

/// One half of a split: its people's attempts. Every cross-person pair of photos is an
/// impostor attempt in both directions, belonging to the person of the reference photo (the
/// identity claimed); every same-person pair is one genuine attempt.
struct Half {
    let subjects: SubjectScores
    let attempts: [(subject: String, score: Double, label: ScoreLabel)]
    let impostorScores: [Double]
    let genuineScores: [Double]

    init(people: [String], similarities: SimilarityMatrix) throws {
        let members = Set(people)
        let photos = (0..<similarities.count).filter { members.contains(similarities.people[$0]) }
        var attempts: [(subject: String, score: Double, label: ScoreLabel)] = []
        var impostors: [Double] = []
        var genuine: [Double] = []
        for reference in photos {
            let person = similarities.people[reference]
            for probe in photos where probe != reference {
                let score = similarities[reference, probe]
                if similarities.people[probe] != person {
                    attempts.append((subject: person, score: score, label: .impostor))
                    impostors.append(score)
                } else if probe > reference {
                    attempts.append((subject: person, score: score, label: .genuine))
                    genuine.append(score)
                }
            }
        }
        subjects = try SubjectScores(attempts: attempts)
        self.attempts = attempts
        impostorScores = impostors
        genuineScores = genuine
    }
}

SubjectHoldout.main()
