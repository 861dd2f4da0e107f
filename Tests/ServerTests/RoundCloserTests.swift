import Crypto
import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import HTTPSignatures
import Logging
import SeededRandom
@testable import Server
import Storage
import StrictJSON
import TestSupport
import Testing

/// The closing of a round against a real SQLite store: the evaluation gate decides whether a
/// release exists, and the round's state, outcome and release are written together.
@Suite("Round closing")
struct RoundCloserTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    /// Identity in the first 4 of 128 dimensions, noise in the rest.
    static func pairs(seed: UInt64) -> [LabelledPair] {
        var noise = SeededGaussianNoise(generator: SeededGenerator(seed: seed))
        func descriptor(_ identity: [Double]) -> [Float] {
            (identity.map { $0 + 0.05 * noise.nextStandardNormal() } + (4..<128).map { _ in 0.1 * noise.nextStandardNormal() }).map(Float.init)
        }
        let people = (0..<10).map { _ in (0..<4).map { _ in noise.nextStandardNormal() } }
        return people.indices.flatMap { index in
            [LabelledPair(first: descriptor(people[index]), second: descriptor(people[index]), isGenuine: true),
             LabelledPair(first: descriptor(people[index]), second: descriptor(people[(index + 1) % 10]), isGenuine: false)]
        }
    }

    struct Fixture {
        let store: SQLiteStore
        let closer: RoundCloser
        let directory: String
    }

    static func fixture() async throws -> Fixture {
        let directory = try temporaryDirectory("closer")
        let store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
        let pairsPath = (directory as NSString).appendingPathComponent("held-out.json")
        let entries = pairs(seed: 5).map { pair in
            JSONValue.object([("first", .array(pair.first.map { .number(Double($0)) })), ("second", .array(pair.second.map { .number(Double($0)) })),
                              ("genuine", .bool(pair.isGenuine))])
        }
        try Data(JSONValue.object([("pairs", .array(entries))]).serializedString.utf8).write(to: URL(fileURLWithPath: pairsPath))
        var configuration = ServerConfiguration()
        configuration.federationEvaluationPairs = pairsPath
        let closer = RoundCloser(store: store, jobs: store, settings: FederationSettings(configuration: configuration),
                                 releaseKey: { [key = Curve25519.Signing.PrivateKey()] in key }, logger: Logger(label: "test"), now: { now })
        try await store.addEnrollmentToken(.init(sha256: "t", deviceID: "kiosk-1", createdAt: now, expiresAt: now.addingTimeInterval(60)))
        _ = try await store.redeemEnrollmentToken(sha256: "t", device: NewDevice(
            deviceID: "kiosk-1", signingKey: Data(repeating: 1, count: 32), certificateDER: Data([0x30, 0x00]),
            certificateFingerprint: "fp", certificateSerial: "01", certificateNotAfter: now.addingTimeInterval(86_400)), now: now)
        return Fixture(store: store, closer: closer, directory: directory)
    }

    static func open(_ store: SQLiteStore, clippingNorm: Double, noiseMultiplier: Double = 0.5) async throws -> Int {
        let specification = RoundSpecification(
            roundID: 1, baseVersion: 0, strategy: "dp-fedavg", clippingNorm: clippingNorm, noiseMultiplier: noiseMultiplier,
            samplingRate: 1, expectedClients: 1, minimumClients: 1, deadline: now.addingTimeInterval(600), selectedDevices: ["kiosk-1"],
            localTraining: LocalTrainingSettings(lossScale: 10, tailFraction: 0.05), trainingSeed: 1)
        let round = NewRound(baseVersion: 0, samplingRate: 1, noiseMultiplier: noiseMultiplier, deadline: specification.deadline,
                             specification: [UInt8](try WireJSON.encoder().encode(specification)), openedAt: now, openedBy: "test")
        guard case let .opened(stored) = try await store.openRound(round, ledgerLength: try await store.privacyLedger().count) else {
            throw ConfigurationError("the round did not open")
        }
        return stored.id
    }

    struct ConfigurationError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    static func store(_ update: ModelUpdate, round: Int, in store: SQLiteStore) async throws {
        let body = try ModelUpdateUpload(deviceID: "kiosk-1", roundID: round, baseVersion: 0, update: update).encoded()
        let result = try await store.storeUpdate(IncomingUpdate(
            roundID: round, deviceID: "kiosk-1", body: body, contentDigest: ContentDigest.sha256Field(for: body), signatureInput: "",
            signature: "", nonce: UUID().uuidString, receivedAt: now, receipt: []))
        guard case .stored = result else { throw ConfigurationError("the update was not stored: \(result)") }
    }

    @Test("a candidate that scores worse on the held-out pairs is rejected and nothing is released")
    func gateRejects() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        // W + Δ = diag(0, 0, 0, 0, 4, 4, …): the identity dimensions are dropped and the noise
        // amplified, so genuine and impostor pairs look alike and FNMR at the target FMR rises.
        var values = [Float](repeating: 0, count: 128 * 128)
        for index in 0..<128 { values[index * 128 + index] = index < 4 ? -1 : 3 }
        let scramble = ModelUpdate(values: values, exampleCount: 10)
        let round = try await Self.open(fixture.store, clippingNorm: scramble.norm * 1.001, noiseMultiplier: 0.001)
        try await Self.store(scramble, round: round, in: fixture.store)
        let closed = try #require(try await fixture.closer.close(roundID: round, why: "test"))
        #expect(closed.state == .rejected)
        let outcome = try #require(RoundRecords.outcome(of: closed))
        let baseline = try #require(outcome.baseline), candidate = try #require(outcome.candidate)
        #expect(try #require(candidate.falseNonMatchRate) > (try #require(baseline.falseNonMatchRate)))
        #expect(candidate.targetFMR == 1e-3 && candidate.genuinePairs == 10 && candidate.impostorPairs == 10)
        #expect(outcome.reason?.contains("is not better than the base") == true, "\(outcome.reason ?? "")")
        #expect(try await fixture.store.modelReleases().isEmpty)
    }

    @Test("a candidate no better than the base at the operating point (a tie) is rejected: only a better one is released")
    func gateRejectsATie() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        // A zero update and almost no noise: the candidate scores as the base does.
        let round = try await Self.open(fixture.store, clippingNorm: 1, noiseMultiplier: 0.001)
        try await Self.store(ModelUpdate(values: [Float](repeating: 0, count: 128 * 128), exampleCount: 10), round: round, in: fixture.store)
        let closed = try #require(try await fixture.closer.close(roundID: round, why: "test"))
        #expect(closed.state == .rejected)
        let outcome = try #require(RoundRecords.outcome(of: closed))
        let baseline = try #require(outcome.baseline), candidate = try #require(outcome.candidate)
        #expect(candidate.falseNonMatchRate == baseline.falseNonMatchRate)
        #expect(outcome.reason?.contains("is not better than the base") == true, "\(outcome.reason ?? "")")
        #expect(try await fixture.store.modelReleases().isEmpty)
    }

    @Test("an update above C is left out; with no update left the round fails without a release")
    func outOfBoundLeftOut() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let round = try await Self.open(fixture.store, clippingNorm: 0.1)
        try await Self.store(ModelUpdate(values: [Float](repeating: 0.01, count: 128 * 128), exampleCount: 10), round: round, in: fixture.store)
        let closed = try #require(try await fixture.closer.close(roundID: round, why: "test"))
        #expect(closed.state == .failed)
        let outcome = try #require(RoundRecords.outcome(of: closed))
        #expect(outcome.rejected.map(\.deviceID) == ["kiosk-1"])
        #expect(try await fixture.store.modelReleases().isEmpty)
        // The raw update is deleted with the close; its verdict is what remains.
        let kept = try await fixture.store.updates(roundID: round)
        #expect(kept.map(\.body) == [[]])
        #expect(kept.first?.verdict?.hasPrefix("left out: update norm") == true, "\(kept)")
        #expect(try await fixture.closer.close(roundID: round, why: "again")?.state == .failed, "closing twice changes nothing")
    }

    @Test("a round's release keeps its base's capture policies: only the adapter is trained")
    func baseNormalisationCarried() async throws {
        let fixture = try await Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        #expect(try await RoundRecords.normalisation(version: 0, store: fixture.store).isEmpty)
        let round = try await Self.open(fixture.store, clippingNorm: 1)
        var base = try ModelReleaseCoding.decode(try ModelRolloutServiceTests.Fixture.releasePayload())
        let policy = NormalizationPolicy(exposure: .init(method: .gain, targetMean: 0.225))
        base.setNormalisation(policy, cameraModel: "cam-a", site: "lobby")
        #expect(try await fixture.store.closeRound(id: round, state: .published, outcome: Array("{}".utf8), at: Self.now,
                                                   release: NewModelRelease(version: 1, payload: try ModelReleaseCoding.canonicalBytes(base),
                                                                            envelope: Array("e".utf8)),
                                                   verdicts: [:]))
        let carried = try await RoundRecords.normalisation(version: 1, store: fixture.store)
        #expect(carried == [CohortNormalisation(cameraModel: "cam-a", site: "lobby", policy: policy)])
        await #expect(throws: (any Error).self) { try await RoundRecords.normalisation(version: 7, store: fixture.store) }
    }
}
