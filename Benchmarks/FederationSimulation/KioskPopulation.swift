import Federation
import SeededRandom
import SimulatedCapture

/// The people of the set split four ways — kiosks (training), the public impostor set the
/// server ships, the server's validation set (the evaluation gate) and the test set (the
/// figures reported) — with no person in two of them.
struct KioskPopulation {
    /// Each kiosk's labelled pairs: its own people's clean templates against their degraded
    /// probes (genuine) and against each other's probes (impostor; not used by the tail loss).
    var kiosks: [[LabelledPair]]
    /// Every photo (clean and degraded) of the public people: the impostors every kiosk
    /// trains against.
    var publicImpostors: PublicImpostorSet
    var publicPeople: Int
    var validation: [LabelledPair]
    /// Genuine and impostor (template, probe) pairs of the test people.
    var test: [LabelledPair]
    /// The test people's photos, by person: the shadow comparison splits them in two halves.
    var testPeople: [String: [PhotoDescriptor]]

    /// - Parameters:
    ///   - rotation: shifts the split by person index (0…9), so that over ten rotations every
    ///     person is a test person twice; rotation 0 keeps the test people of earlier runs.
    ///   - replicas: each kiosk made of real people appears this many times; every copy after
    ///     the first trains on its genuine pairs resampled with replacement (seeded). This is
    ///     how fleets larger than one person per kiosk are simulated.
    init(descriptors: [PhotoDescriptor], peoplePerKiosk: Int, rotation: Int = 0, replicas: Int = 1, seed: UInt64 = 1) throws {
        let people = Array(Set(descriptors.map(\.person))).sorted()
        var byPerson: [String: [PhotoDescriptor]] = [:]
        for descriptor in descriptors { byPerson[descriptor.person, default: []].append(descriptor) }
        func group(_ selected: [String]) -> [LabelledPair] {
            Self.pairs(selected.map { byPerson[$0] ?? [] })
        }
        var training: [String] = [], publicSet: [String] = [], validation: [String] = [], test: [String] = []
        for (index, person) in people.enumerated() {
            switch (index + rotation) % 10 {
            case 0...5: training.append(person)
            case 6: publicSet.append(person)
            case 7: validation.append(person)
            default: test.append(person)
            }
        }
        // Kiosks hold people of one condition (the condition is a property of the kiosk).
        var real: [[LabelledPair]] = []
        for condition in KioskCondition.adaptationConditions {
            let local = training.filter { person in byPerson[person]?.contains { $0.condition == condition } ?? false }
            for start in stride(from: 0, to: local.count - peoplePerKiosk + 1, by: peoplePerKiosk) {
                real.append(group(Array(local[start..<start + peoplePerKiosk])))
            }
        }
        var kiosks = real
        var generator = SeededGenerator(seed: seed)
        for _ in 1..<max(1, replicas) {
            for pairs in real {
                let genuine = pairs.filter(\.isGenuine)
                kiosks.append((0..<genuine.count).map { _ in genuine[Int.random(in: 0..<genuine.count, using: &generator)] })
            }
        }
        self.kiosks = kiosks
        publicImpostors = try PublicImpostorSet(descriptors: publicSet.flatMap { byPerson[$0] ?? [] }.map(\.descriptor))
        publicPeople = publicSet.count
        self.validation = group(validation)
        self.test = group(test)
        testPeople = byPerson.filter { test.contains($0.key) }
    }

    static func pairs(_ people: [[PhotoDescriptor]]) -> [LabelledPair] {
        attributedPairs(people).map(\.pair)
    }

    /// Every clean template against every degraded probe, each pair with its subject: the
    /// template's person, the one a probe claims to be.
    static func attributedPairs(_ people: [[PhotoDescriptor]]) -> [(subject: String, pair: LabelledPair)] {
        var pairs: [(subject: String, pair: LabelledPair)] = []
        for (a, photosA) in people.enumerated() {
            for template in photosA where template.condition == nil {
                for (b, photosB) in people.enumerated() {
                    for probe in photosB where probe.condition != nil {
                        pairs.append((template.person, LabelledPair(first: template.descriptor, second: probe.descriptor, isGenuine: a == b)))
                    }
                }
            }
        }
        return pairs
    }
}
