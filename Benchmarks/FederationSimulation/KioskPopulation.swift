import Federation

/// The people of the set split three ways — kiosks (training), the server's validation
/// set (the evaluation gate) and the test set (the figures reported) — with no person in
/// two of them.
struct KioskPopulation {
    /// Each kiosk's labelled pairs: its own people's clean templates against their
    /// degraded probes (genuine) and against each other's probes (impostor).
    var kiosks: [[LabelledPair]]
    var validation: [LabelledPair]
    /// Genuine and impostor (template, probe) pairs of the test people.
    var test: [LabelledPair]
    /// The test people's photos, by person: the shadow comparison splits them in two halves.
    var testPeople: [String: [PhotoDescriptor]]

    init(descriptors: [PhotoDescriptor], peoplePerKiosk: Int) {
        let people = Array(Set(descriptors.map(\.person))).sorted()
        var byPerson: [String: [PhotoDescriptor]] = [:]
        for descriptor in descriptors { byPerson[descriptor.person, default: []].append(descriptor) }
        func group(_ selected: [String]) -> [LabelledPair] {
            Self.pairs(selected.map { byPerson[$0] ?? [] })
        }
        var training: [String] = [], validation: [String] = [], test: [String] = []
        for (index, person) in people.enumerated() {
            switch index % 10 {
            case 0...6: training.append(person)
            case 7: validation.append(person)
            default: test.append(person)
            }
        }
        // Kiosks hold people of one condition (the condition is a property of the kiosk).
        var kiosks: [[LabelledPair]] = []
        for condition in CaptureCondition.allCases {
            let local = training.filter { person in byPerson[person]?.contains { $0.condition == condition } ?? false }
            for start in stride(from: 0, to: local.count - peoplePerKiosk + 1, by: peoplePerKiosk) {
                kiosks.append(group(Array(local[start..<start + peoplePerKiosk])))
            }
        }
        self.kiosks = kiosks
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
