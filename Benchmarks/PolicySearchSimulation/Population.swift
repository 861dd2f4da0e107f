import Calibration
import FaceVerification
import FederationCore
import Foundation
import SeededRandom
import SimulatedCapture

/// Scores of attempts between people of one part of a rotation (the fleet, or the test people):
/// each probe of a person who verifies at a kiosk with `condition` against each template of the same person
/// (genuine) and of every other person of that part (impostor).
struct AttemptSet {
    struct Attempt {
        var probe: Frame
        /// The claimed subject: the template's owner.
        var claimed: Int
        var template: Frame
        var label: ScoreLabel
    }

    var condition: KioskCondition
    var attempts: [Attempt]

    /// Attempts by `people` (those of them who verify at a kiosk with `condition`), each
    /// claiming in turn every one of `claimable` (default: `people` themselves).
    init(condition: KioskCondition, people: [Int], claimable: [Int]? = nil, folder: FaceFolder) {
        self.condition = condition
        let probing = people.filter { folder.conditions(of: $0).contains(condition) }
        var attempts: [Attempt] = []
        for person in probing {
            for photo in 4...6 {
                let probe = Frame(person: person, photo: photo, condition: condition)
                for claimed in claimable ?? people {
                    for templatePhoto in 1...3 {
                        attempts.append(Attempt(probe: probe, claimed: claimed, template: Frame(person: claimed, photo: templatePhoto),
                                                label: claimed == person ? .genuine : .impostor))
                    }
                }
            }
        }
        self.attempts = attempts
    }

    var probes: [Frame] { Array(Set(attempts.map(\.probe))).sorted { ($0.person, $0.photo) < ($1.person, $1.photo) } }
}

/// Cosine similarities from the cached descriptors. A frame where no face was found scores −1:
/// a genuine attempt then fails and an impostor attempt never matches, for every policy alike.
struct Scorer {
    let descriptors: FrameDescriptors
    /// Unit-length template descriptors (nil: no face found in that enrollment photo).
    private let templates: [Frame: [Float]?]

    init(descriptors: FrameDescriptors, templates frames: [Frame]) throws {
        self.descriptors = descriptors
        var templates: [Frame: [Float]?] = [:]
        for frame in frames {
            guard let entry = descriptors.entry(frame, .identity) else {
                throw SimulationError("no template descriptor for person \(frame.person) photo \(frame.photo)")
            }
            templates[frame] = entry.descriptor.map(Self.unit)
        }
        self.templates = templates
    }

    static func unit(_ vector: [Float]) -> [Float] {
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? vector.map { $0 / norm } : vector
    }

    /// The score of every attempt under `policy`, in order.
    func scores(_ attempts: [AttemptSet.Attempt], policy: NormalizationPolicy) throws -> [Double] {
        var probes: [Frame: [Float]?] = [:]
        var result: [Double] = []
        result.reserveCapacity(attempts.count)
        for attempt in attempts {
            let probe: [Float]?
            if let known = probes[attempt.probe] {
                probe = known
            } else {
                guard let entry = descriptors.entry(attempt.probe, policy) else {
                    throw SimulationError("no descriptor computed for person \(attempt.probe.person) photo \(attempt.probe.photo) under \(FrameDescriptors.key(policy))")
                }
                probe = entry.descriptor.map(Self.unit)
                probes[attempt.probe] = .some(probe)
            }
            guard let probe, let template = templates[attempt.template] ?? nil else {
                result.append(-1)
                continue
            }
            var dot: Float = 0
            for index in probe.indices { dot += probe[index] * template[index] }
            result.append(min(1, max(-1, Double(dot))))
        }
        return result
    }

    /// Median milliseconds the kiosk spent on one frame under `policy` (normalise → descriptor).
    func medianMilliseconds(probes: [Frame], policy: NormalizationPolicy) -> Double {
        let values = probes.compactMap { descriptors.entry($0, policy)?.milliseconds }.sorted()
        return values.isEmpty ? .nan : values[values.count / 2]
    }
}

/// A pseudonym for a person, as the kiosk would upload it: 64 lowercase hex digits. The
/// server orders subjects by pseudonym when it resamples them, so the simulation's subject
/// bootstraps draw what the server's draw only with the same strings.
func subjectID(_ person: Int) -> String {
    let hex = String(person, radix: 16)
    return String(repeating: "0", count: 64 - hex.count) + hex
}
