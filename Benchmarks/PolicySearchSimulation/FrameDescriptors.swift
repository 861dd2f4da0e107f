import FaceVerification
import FederationCore
import Foundation
import SimulatedCapture
import Synchronization

/// One photo of one person, as a kiosk would capture it.
struct Frame: Hashable, Codable, Sendable {
    /// Index of the person in the sorted folder listing.
    var person: Int
    /// 1…6: photos 1–3 are enrollment templates (clean), 4–6 probes.
    var photo: Int
    /// The condition of the kiosk that captured a probe; nil for a template (enrolled clean).
    var condition: KioskCondition?

    init(person: Int, photo: Int, condition: KioskCondition? = nil) {
        self.person = person
        self.photo = photo
        self.condition = condition
    }
}

/// The people of a folder in the LFW layout (DIR/Person/Person_000N.jpg) and the conditions of
/// the kiosks each one uses.
struct FaceFolder: Sendable {
    let folder: String
    let people: [String]
    /// How many kiosks, of consecutive conditions, each person verifies at.
    let conditionsPerPerson: Int

    /// The condition of a person's first kiosk. Conditions are dealt round-robin by person
    /// index, so every rotation of the people split (by index modulo 5) holds every condition.
    static func firstCondition(of person: Int) -> KioskCondition {
        KioskCondition.allCases[person % KioskCondition.allCases.count]
    }

    /// The conditions of the kiosks a person verifies at: the first and the ones after it.
    /// A cohort then sees `conditionsPerPerson` times as many people as with one kiosk a person.
    func conditions(of person: Int) -> [KioskCondition] {
        let all = KioskCondition.allCases
        return (0..<conditionsPerPerson).map { all[(person + $0) % all.count] }
    }

    init(folder: String, conditionsPerPerson: Int) throws {
        guard (1...KioskCondition.allCases.count).contains(conditionsPerPerson) else {
            throw SimulationError("conditions per person must be 1…\(KioskCondition.allCases.count)")
        }
        self.conditionsPerPerson = conditionsPerPerson
        self.folder = folder
        people = try FileManager.default.contentsOfDirectory(atPath: folder).filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent(name), isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
    }

    func photoPath(_ frame: Frame) throws -> String {
        let directory = (folder as NSString).appendingPathComponent(people[frame.person])
        let photos = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".jpg") }.sorted()
        guard photos.count >= frame.photo else {
            throw SimulationError("\(directory) has \(photos.count) photos; every person needs 6")
        }
        return (directory as NSString).appendingPathComponent(photos[frame.photo - 1])
    }

    /// The frame the kiosk's camera delivers: clean for a template, degraded for a probe.
    func capturedImage(_ frame: Frame, decoder: JPEGDecoder) throws -> RGBImage {
        guard let bytes = FileManager.default.contents(atPath: try photoPath(frame)) else {
            throw SimulationError("cannot read \(try photoPath(frame))")
        }
        let image = try decoder.decode([UInt8](bytes))
        guard let condition = frame.condition else { return image }
        return try condition.apply(to: image, noiseSeed: UInt64(frame.person * 10 + frame.photo))
    }
}

struct SimulationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Descriptors of frames under normalisation policies, computed by the real face pipeline and
/// kept in a cache file, since they are nearly all of the run time. A policy is named by its
/// canonical JSON, so the same policy found by two rotations is computed once.
final class FrameDescriptors: @unchecked Sendable {
    struct Entry: Codable {
        var person: Int
        var photo: Int
        /// The probe's kiosk condition; nil for a template. Caches written before kiosks per
        /// person became a setting hold none, and there a probe's condition is its person's first.
        var condition: KioskCondition?
        var policy: String
        /// nil when no face was found (a failure to acquire).
        var descriptor: [Float]?
        /// Normalisation + detection + landmarks + chip + descriptor, milliseconds.
        var milliseconds: Double
    }

    struct Key: Hashable {
        var frame: Frame
        var policy: String
    }

    private let state = Mutex<[Key: Entry]>([:])
    let cachePath: String

    init(cachePath: String) throws {
        self.cachePath = cachePath
        if let data = FileManager.default.contents(atPath: cachePath) {
            let entries = try JSONDecoder().decode([Entry].self, from: data)
            state.withLock { table in
                for var entry in entries {
                    if entry.photo > 3, entry.condition == nil { entry.condition = FaceFolder.firstCondition(of: entry.person) }
                    table[Key(frame: Frame(person: entry.person, photo: entry.photo, condition: entry.condition), policy: entry.policy)] = entry
                }
            }
        }
    }

    static func key(_ policy: NormalizationPolicy) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(policy)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    /// The policies the cache holds a descriptor of for every one of `frames`.
    func policies(coveringAll frames: [Frame]) throws -> [NormalizationPolicy] {
        let keys: [String] = state.withLock { table in
            let names = Set(table.keys.map(\.policy))
            return names.filter { name in frames.allSatisfy { table[Key(frame: $0, policy: name)] != nil } }.sorted()
        }
        return try keys.map { try JSONDecoder().decode(NormalizationPolicy.self, from: Data($0.utf8)) }
    }

    func entry(_ frame: Frame, _ policy: NormalizationPolicy) -> Entry? {
        let key = Key(frame: frame, policy: Self.key(policy))
        return state.withLock { $0[key] }
    }

    /// Computes what is missing of `frames` × `policies` on `workers` threads, then saves the cache.
    func ensure(frames: [Frame], policies: [NormalizationPolicy], folder: FaceFolder, pipeline: FacePipeline, workers: Int) throws {
        let keyed = policies.map { (Self.key($0), $0) }
        let work: [(Frame, [(String, NormalizationPolicy)])] = state.withLock { table in
            frames.compactMap { frame in
                let missing = keyed.filter { table[Key(frame: frame, policy: $0.0)] == nil }
                return missing.isEmpty ? nil : (frame, missing)
            }
        }
        guard !work.isEmpty else { return }
        let total = work.reduce(0) { $0 + $1.1.count }
        FileHandle.standardError.write(Data("  computing \(total) descriptors of \(work.count) frames\n".utf8))
        let next = Mutex(0)
        let failure = Mutex<(any Error)?>(nil)
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { _ in
            while true {
                let index = next.withLock { value -> Int in defer { value += 1 }; return value }
                guard index < work.count, failure.withLock({ $0 == nil }) else { return }
                let (frame, missing) = work[index]
                do {
                    let captured = try folder.capturedImage(frame, decoder: pipeline.decoder)
                    var entries: [Entry] = []
                    for (key, policy) in missing {
                        var kiosk = pipeline
                        kiosk.normalization = try CaptureNormalization(policy: policy)
                        let clock = ContinuousClock.now
                        let face = try kiosk.analyze(image: captured).primaryFace
                        let elapsed = ContinuousClock.now - clock
                        let milliseconds = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
                        entries.append(Entry(person: frame.person, photo: frame.photo, condition: frame.condition, policy: key, descriptor: face?.descriptor,
                                             milliseconds: milliseconds))
                    }
                    state.withLock { table in
                        for entry in entries { table[Key(frame: frame, policy: entry.policy)] = entry }
                    }
                } catch {
                    failure.withLock { $0 = error }
                    return
                }
                if index % 200 == 199 {
                    let seconds = Date().timeIntervalSince(started)
                    FileHandle.standardError.write(Data("  \(index + 1)/\(work.count) frames, \(Int(seconds)) s\n".utf8))
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        try save()
    }

    func save() throws {
        let entries = state.withLock { Array($0.values) }.sorted {
            ($0.person, $0.photo, $0.condition?.rawValue ?? "", $0.policy) < ($1.person, $1.photo, $1.condition?.rawValue ?? "", $1.policy)
        }
        try JSONEncoder().encode(entries).write(to: URL(fileURLWithPath: cachePath), options: .atomic)
    }
}
