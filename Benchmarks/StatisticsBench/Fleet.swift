import Calibration
import Foundation
import SeededRandom
import Storage

/// The synthetic fleet a store is filled with: one kiosk per cohort (model version × camera
/// model × site), a year of attempts spread evenly over cohorts and days, scores drawn from
/// per-cohort genuine and impostor normals (dlib cosine scores: impostors around 0.80, so about
/// 5 % of them reach the live layout's exact tail at 0.889; genuine around 0.955), subjects
/// drawn from a pool per site, and a candidate model scoring a fifth of the last 60 days'
/// attempts in shadow. Everything is a function of the seed and of (cohort, day), so the part
/// written later (`Phase.recent`) is the same whichever run writes it.
struct Fleet: Codable, Sendable {
    static let modelVersion = "dlib_face_recognition_resnet_model_v1"
    static let shadowModelVersion = "dlib_face_recognition_resnet_model_v2-candidate"
    static let cameraModels = 4
    static let subjectsPerSite = 2_000
    static let outcomesPerBatch = 500
    static let shadowDays = 60
    static let shadowFraction = 0.2
    static let impostorFraction = 0.25
    static let unknownFraction = 0.08

    var outcomes: Int
    var cohorts: Int
    var days: Int
    var seed: UInt64
    /// The last day index holding attempts (the day the store was generated).
    var lastDay: Int
    /// The first day of the part written only after a release was published (`measure`), so that
    /// drift has a recent window: a month start, so that no statistics row spans both parts.
    var recentFirstDay: Int
    var recentWritten = false
    /// Statistics rows and counters only, no outcome or batch rows (`generate --statistics-only`).
    var statisticsOnly: Bool?

    init(outcomes: Int, cohorts: Int, days: Int, seed: UInt64, lastDay: Int) {
        self.outcomes = outcomes
        self.cohorts = cohorts
        self.days = days
        self.seed = seed
        self.lastDay = lastDay
        recentFirstDay = max(lastDay - days + 1, StatisticsBuckets.monthStart(ofDay: lastDay - 30))
    }

    var firstDay: Int { lastDay - days + 1 }

    enum Phase: String, Sendable {
        case base, recent
    }

    func days(of phase: Phase) -> ClosedRange<Int> {
        phase == .base ? firstDay...(recentFirstDay - 1) : recentFirstDay...lastDay
    }

    /// How many outcomes cohort-days `0..<slot` hold (slot = cohort × days + day offset): the
    /// total spread as evenly as integers allow, so that any range of days is counted alone.
    func outcomesBefore(slot: Int) -> Int {
        Int((Int64(outcomes) * Int64(slot)) / Int64(cohorts * days))
    }

    func slot(cohort: Int, day: Int) -> Int { cohort * days + (day - firstDay) }

    func site(_ cohort: Int) -> String { "site-" + Self.decimal(cohort / Self.cameraModels, width: 4) }
    func camera(_ cohort: Int) -> String { "cam-" + String(cohort % Self.cameraModels) }
    func device(_ cohort: Int) -> String { "bench-kiosk-" + Self.decimal(cohort, width: 4) }
    func key(_ cohort: Int, shadow: Bool = false) -> CohortKey {
        CohortKey(modelVersion: shadow ? Self.shadowModelVersion : Self.modelVersion, cameraModel: camera(cohort), cohort: site(cohort))
    }

    /// The site's subjects' pseudonyms (64 hex digits, as the jurisdiction key makes them).
    func pseudonyms(site index: Int) -> [String] {
        (0..<Self.subjectsPerSite).map { subject in
            var generator = SeededGenerator(seed: seed ^ 0x5B1E_C700_0000_0000 ^ UInt64(index) << 20 ^ UInt64(subject))
            return (0..<4).map { _ in Self.hex(generator.next(), digits: 16) }.joined()
        }
    }

    struct Distribution {
        var genuineMean: Double
        var genuineSD: Double
        var impostorMean: Double
        var impostorSD: Double
    }

    func distribution(_ cohort: Int) -> Distribution {
        var generator = SeededGenerator(seed: seed ^ 0xD157_0000_0000_0000 ^ UInt64(cohort))
        return Distribution(genuineMean: 0.955 + Self.uniform(&generator, -0.01, 0.01), genuineSD: 0.02,
                            impostorMean: 0.80 + Self.uniform(&generator, -0.02, 0.02), impostorSD: 0.055)
    }

    /// One stored outcome, with what the statistics need.
    struct Outcome {
        var eventID: String
        var attemptedAt: Double
        var score: Double
        var label: ScoreLabel
        var subject: Int
        var shadowScore: Double?
        var faceSize: Int
        var sharpness: Double
        var brightness: Double
        var liveness: Double
    }

    /// The outcomes of one cohort on one day, in time order. `ordinal` is the fleet-wide index of
    /// the first: event ids begin with it, so that a cohort's rows go to the end of the key when
    /// written in cohort and day order, as random ids would be spread over it.
    func outcomes(cohort: Int, day: Int, distribution: Distribution) -> (first: Int, outcomes: [Outcome]) {
        let slot = slot(cohort: cohort, day: day)
        let first = outcomesBefore(slot: slot)
        let count = outcomesBefore(slot: slot + 1) - first
        var generator = SeededGenerator(seed: seed ^ UInt64(slot) &* 0x9E37_79B9_7F4A_7C15)
        let dayStart = Double(day) * Double(StatisticsBuckets.secondsPerDay)
        let spacing = Double(StatisticsBuckets.secondsPerDay) / Double(max(count, 1))
        let shadowed = day > lastDay - Self.shadowDays
        var result: [Outcome] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            let draw = Self.uniform(&generator, 0, 1)
            let label: ScoreLabel = draw < Self.impostorFraction ? .impostor
                : draw < 1 - Self.unknownFraction ? .genuine : .unknown
            let impostorLike = label == .impostor || (label == .unknown && Self.uniform(&generator, 0, 1) < 0.5)
            let normal = Self.normal(&generator)
            let raw = impostorLike ? distribution.impostorMean + distribution.impostorSD * normal
                : distribution.genuineMean + distribution.genuineSD * normal
            let score = min(1, max(-1, raw))
            var shadowScore: Double?
            if shadowed, Self.uniform(&generator, 0, 1) < Self.shadowFraction {
                shadowScore = min(1, max(-1, score + 0.015 * Self.normal(&generator)))
            }
            let ordinal = UInt64(first + index)
            let eventID = Self.hex(ordinal >> 16, digits: 8) + "-" + Self.hex(ordinal & 0xFFFF, digits: 4) + "-4"
                + Self.hex(generator.next(), digits: 3) + "-a" + Self.hex(generator.next(), digits: 3) + "-"
                + Self.hex(generator.next(), digits: 12)
            result.append(Outcome(
                eventID: eventID, attemptedAt: dayStart + (Double(index) + Self.uniform(&generator, 0, 1)) * spacing,
                score: score, label: label, subject: Int(generator.next() % UInt64(Self.subjectsPerSite)), shadowScore: shadowScore,
                faceSize: 90 + Int(generator.next() % 120), sharpness: 40 + Self.uniform(&generator, 0, 80),
                brightness: Self.uniform(&generator, 0.3, 0.7), liveness: Self.uniform(&generator, 0.8, 1)))
        }
        return (first, result)
    }

    static func uniform(_ generator: inout SeededGenerator, _ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(generator.next() >> 11) / Double(1 << 53)
    }

    /// Box–Muller; one of the pair is enough here.
    static func normal(_ generator: inout SeededGenerator) -> Double {
        let u = max(uniform(&generator, 0, 1), .leastNonzeroMagnitude)
        let v = uniform(&generator, 0, 1)
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * .pi * v)
    }

    private static let digits = Array("0123456789abcdef".utf8)

    /// The low `digits` hex digits of `value`, zero-padded (`String(format:)` is slow on Linux).
    static func hex(_ value: UInt64, digits count: Int) -> String {
        String(unsafeUninitializedCapacity: count) { buffer in
            for index in 0..<count { buffer[count - 1 - index] = digits[Int((value >> (4 * UInt64(index))) & 0xF)] }
            return count
        }
    }

    static func decimal(_ value: Int, width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
