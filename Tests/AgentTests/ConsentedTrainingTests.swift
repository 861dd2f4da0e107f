import Agent
import Federation
import FederationAPI
import FeedbackWire
import Foundation
import SeededRandom
import StrictJSON
import TestSupport
import Testing

/// Federated training on the kiosk uses only pairs whose subjects have model-improvement
/// consent in force in the kiosk's own ledger.
@Suite("Consent before local training")
struct ConsentedTrainingTests {
    static func pseudonym(_ index: Int) -> String { String(format: "%064x", index + 1) }

    static func descriptor(_ identity: Int, _ variant: Int) -> [Float] {
        var generator = SeededGenerator(seed: UInt64(identity * 1000 + variant))
        let values = (0..<128).map { _ in Float.random(in: -1...1, using: &generator) }
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return values.map { $0 / norm }
    }

    /// Pairs of five subjects: a genuine pair each, and an impostor pair with the next subject.
    static func pairs() -> [LabelledPairsFile.AttributedPair] {
        (0..<5).flatMap { subject in
            [LabelledPairsFile.AttributedPair(pair: LabelledPair(first: descriptor(subject, 0), second: descriptor(subject, 1), isGenuine: true),
                                              subjects: [pseudonym(subject)]),
             LabelledPairsFile.AttributedPair(pair: LabelledPair(first: descriptor(subject, 0), second: descriptor((subject + 1) % 5, 1),
                                                                 isGenuine: false),
                                              subjects: [pseudonym(subject), pseudonym((subject + 1) % 5)])]
        }
    }

    static func consent(_ kind: String, _ subject: Int, at time: Date) -> JSONValue {
        .object([("occurred_at", .string(RFC3339.format(time))), ("subject_pseudonym", .string(pseudonym(subject))),
                 ("purpose", .string("model-improvement")), ("kind", .string(kind)), ("method", .string("touch")),
                 ("site", .string("s")), ("text_version", .string("v1")), ("text_sha256", .string(String(repeating: "a", count: 64)))])
    }

    @Test("a withdrawn subject's pairs are left out, and the adapter equals one trained by a kiosk that never had them")
    func withdrawalExcludes() throws {
        let directory = temporaryPath("consented")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let agent = KioskAgent(files: AgentFiles(directory: directory))
        let granted = Date(timeIntervalSince1970: 1_790_000_000)
        // Subject 4 never consented; subjects 0…3 did; subject 2 withdraws later.
        _ = try agent.recordConsent((0..<4).map { Self.consent("grant", $0, at: granted) })
        let all = Self.pairs()
        let before = try agent.consentedPairs(all, at: granted.addingTimeInterval(60))
        #expect(before.excluded == 3, "the three pairs that involve subject 4 are left out")

        _ = try agent.recordConsent([Self.consent("withdraw", 2, at: granted.addingTimeInterval(100))])
        let after = try agent.consentedPairs(all, at: granted.addingTimeInterval(200))
        let neverHad = all.filter { !$0.subjects.contains(Self.pseudonym(2)) && !$0.subjects.contains(Self.pseudonym(4)) }.map(\.pair)
        #expect(after.usable == neverHad)
        #expect(after.excluded == all.count - neverHad.count)

        let training = LocalTraining(configuration: LocalTrainingConfiguration(learningRate: 0.1, epochs: 2, batchSize: 4, seed: 9))
        let publicSet = try PublicImpostorSet(descriptors: (100..<120).map { Self.descriptor($0, 0) })
        let withdrawnRun = try training.train(from: .identity(), on: after.usable, impostors: publicSet)
        let referenceRun = try training.train(from: .identity(), on: neverHad, impostors: publicSet)
        #expect(withdrawnRun.adapter == referenceRun.adapter)

        // A withdrawal the server knows of (recorded at another kiosk) excludes the subject here too.
        let serverView = Set((0..<5).map(Self.pseudonym)).subtracting([Self.pseudonym(1), Self.pseudonym(2)])
        let withServer = try agent.consentedPairs(all, at: granted.addingTimeInterval(200), serverCovered: serverView)
        #expect(withServer.usable == all.filter { pair in pair.subjects.allSatisfy { ![1, 2, 4].map(Self.pseudonym).contains($0) } }.map(\.pair))

        // Unnamed pairs cannot show consent and are never used.
        let unnamed = all.map { LabelledPairsFile.AttributedPair(pair: $0.pair, subjects: []) }
        #expect(try agent.consentedPairs(unnamed).usable.isEmpty)
    }
}
