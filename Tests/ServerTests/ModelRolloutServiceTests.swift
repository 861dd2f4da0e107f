import Calibration
import Compliance
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import HTTPSignatures
@testable import Server
import Storage
import StrictJSON
import TestSupport
import Testing
import ThresholdAPI

/// The rollout's steps on a real store (SQLite in a temporary directory): who may take which
/// step, two different approvals for fleet, and the drift monitor rolling back a promoted
/// release whose false matches breach its published bound.
@Suite("Model rollout service")
struct ModelRolloutServiceTests {
    static let backbone = RolloutSettings.backboneModelVersion
    static let candidate = backbone + ":adapter-1"
    static let alice = APITokenRecord(role: "engineer", label: "alice", sha256: String(repeating: "a", count: 64))
    static let bob = APITokenRecord(role: "engineer", label: "bob", sha256: String(repeating: "b", count: 64))
    static let subject = String(repeating: "a", count: 64)

    struct Fixture {
        let store: SQLiteStore
        let directory: String
        let clock = TestClock()
        var service: ModelRolloutService {
            ModelRolloutService(store: store, federation: store, settings: RolloutSettings(targetFMR: 1e-2, bootstrapResamples: 200),
                                now: { [clock] in clock.now })
        }

        init() async throws {
            directory = try temporaryDirectory("rollout-service")
            store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
            // Release 1, as a closed round would store it.
            guard case .opened = try await store.openRound(NewRound(
                baseVersion: 0, samplingRate: 1, noiseMultiplier: 1, deadline: clock.now.addingTimeInterval(600),
                specification: Array("{}".utf8), openedAt: clock.now, openedBy: "erin"), ledgerLength: 0) else {
                throw RoundCloserTests.ConfigurationError("the round did not open")
            }
            let payload = try Self.releasePayload()
            #expect(try await store.closeRound(id: 1, state: .published, outcome: Array("{}".utf8), at: clock.now,
                                               release: NewModelRelease(version: 1, payload: payload, envelope: Array("e".utf8)),
                                               verdicts: [:]))
        }

        /// A release's payload as a round would sign it, with the identity adapter.
        static func releasePayload() throws -> [UInt8] {
            let adapter = try JSONValue.parse([UInt8](try WireJSON.encoder().encode(Adapter.identity())))
            let privacy = JSONValue.object([
                ("privacy_unit", .string("kiosk")), ("mechanism", .string("test")), ("clipping_norm", .number(1)),
                ("noise_multiplier", .number(1)), ("sampling_rate", .number(1)), ("rounds", .number(1)), ("cumulative_rounds", .number(1)),
                ("delta", .number(1e-6)), ("epsilon_rdp", .number(1)), ("epsilon_pld", .number(1)), ("cumulative_epsilon_rdp", .number(1)),
                ("cumulative_epsilon_pld", .number(1)), ("accountants", .string("test")),
            ])
            let release = JSONValue.object([
                ("version", .number(1)), ("base_version", .number(0)), ("round_id", .number(1)), ("backbone", .string(backbone)),
                ("model_version", .string(candidate)), ("adapter", adapter), ("privacy", privacy),
                ("outcome", .object([("accepted_count", .number(3)), ("rejected_count", .number(0)), ("adjusted_count", .number(0))])),
                ("created_at", .string("2026-12-01T00:00:00Z")),
            ])
            return try ModelReleaseCoding.canonicalBytes(try ModelReleaseCoding.decode(release.serialized()))
        }

        /// Publishes a threshold release with one entry per model for cam-a at lobby.
        func publishThresholds(candidateThreshold: Double, candidateBound: Double) async throws {
            func entry(_ model: String, _ threshold: Double, _ bound: Double) -> CohortThreshold {
                CohortThreshold(cohort: CohortKey(modelVersion: model, cameraModel: "cam-a", cohort: "lobby"), fallbackLevel: .cohort,
                                targetFMR: 1e-2, threshold: threshold, estimatedFMR: 0, fmrUpperBound: bound, confidence: 0.95,
                                estimatedFNMR: nil, impostorCount: 1000, falseMatchCount: 0, genuineCount: 100, unknownCount: 0,
                                precision: .exact)
            }
            let release = try ThresholdRelease(version: 1, previousVersion: nil, policy: "conservative",
                                               window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 1),
                                               entries: [entry(backbone, 0.7, 1e-2), entry(candidate, candidateThreshold, candidateBound)])
            #expect(try await store.addThresholdRelease(StoredThresholdRelease(
                version: 1, state: .approved, payload: try ThresholdReleaseCoding.canonicalBytes(release), refused: Array("[]".utf8),
                largestChange: nil, requiredApprovals: 1, approvals: ["x"], computedAt: clock.now, computedBy: "alice",
                computedByToken: ModelRolloutServiceTests.alice.id)))
            #expect(try await store.publishThresholdRelease(version: 1, from: [.approved], envelope: Array("e".utf8), at: clock.now,
                                                            retiring: .superseded, actor: "bob"))
        }

        /// Stores `outcomes` from kiosk-1 in one signed batch, with each subject's consent.
        func store(_ outcomes: [MatchOutcome], sequence: Int64) async throws {
            let now = clock.now
            if sequence == 1 {
                #expect(try await store.upsertSite(SiteRecord(site: "lobby", jurisdiction: JurisdictionRecord.defaultName, publicPlace: false),
                                                   actor: "test", at: now))
                try await store.addEnrollmentToken(.init(sha256: "t", deviceID: "kiosk-1", createdAt: now, expiresAt: now.addingTimeInterval(60),
                                                         sites: ["lobby"]))
                _ = try await store.redeemEnrollmentToken(sha256: "t", device: NewDevice(
                    deviceID: "kiosk-1", signingKey: Data(repeating: 1, count: 32), certificateDER: Data([0x30, 0x00]),
                    certificateFingerprint: "fp", certificateSerial: "01", certificateNotAfter: now.addingTimeInterval(86_400)), now: now)
            }
            var consents: [ConsentEvent] = []
            if sequence == 1 {
                let sha256 = String(repeating: "c", count: 64)
                #expect(try await store.addConsentText(ConsentText(purpose: .thresholdCalibration, version: "v1", language: "en", sha256: sha256,
                                                                   effectiveAt: Date(timeIntervalSince1970: 0), material: false),
                                                       actor: "test", at: now))
                consents = [ConsentEvent(eventID: UUID(), occurredAt: Date(timeIntervalSince1970: 1_000), pseudonym: ModelRolloutServiceTests.subject,
                                         purpose: "threshold-calibration", kind: .grant, method: .touch, site: "lobby", textVersion: "v1",
                                         textSHA256: sha256)]
            }
            let batch = OutcomeBatch(deviceID: "kiosk-1", sequence: sequence, createdAt: now, outcomes: outcomes, consentEvents: consents)
            let body = batch.encoded()
            let stored = try await store.storeBatch(IncomingBatch(
                batch: batch, body: body, contentDigest: ContentDigest.sha256Field(for: body), signatureInput: "sig1=()",
                signature: "sig1=:AA==:", nonce: UUID().uuidString, receivedAt: now))
            guard case let .stored(receipt) = stored else { throw RoundCloserTests.ConfigurationError("the batch was not stored: \(stored)") }
            let decoded = try WireJSON.decoder().decode(BatchReceipt.self, from: Data(receipt))
            #expect(decoded.refusedEvents.isEmpty, "\(decoded.refusedEvents)")
        }
    }

    /// Moves a test's clock by hand, so that "since the promotion" is exact.
    final class TestClock: @unchecked Sendable {
        private let lock = NSLock()
        private var current = Date(timeIntervalSince1970: 1_800_000_000)
        var now: Date { lock.withLock { current } }
        func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
    }

    static func outcome(model: String, label: MatchOutcome.Label, score: Double, at time: Date) -> MatchOutcome {
        SampleBatch.outcome(label: label, score: score, decision: .reject, attemptedAt: time, modelVersion: model, thresholdVersion: "t-1",
                            cohort: .init(site: "lobby", cameraModel: "cam-a"),
                            subject: .init(pseudonym: subject, consentRef: "c"))
    }

    @Test("steps in order only; fleet takes two different engineers; the drift monitor rolls back a breach and logs why")
    func stepsAndAutomaticRollback() async throws {
        let fixture = try await Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let service = fixture.service

        await #expect(throws: ProblemResponse.self) { _ = try await service.promote("1", by: Self.alice) }
        let shadow = try await service.shadow("1", by: Self.alice)
        #expect(shadow.stage == .shadow)
        do {
            _ = try await service.shadow("1", by: Self.bob)
            Issue.record("a release in shadow entered shadow again")
        } catch let problem as ProblemResponse {
            #expect(problem.details.status == 409)
        }
        // Straight to canary and fleet for this test: the comparison's own rules are tested elsewhere.
        var promoted = try #require(try await fixture.store.modelRollout(version: 1))
        promoted.state = .canary
        promoted.cohorts = [RolloutCohort(cameraModel: "cam-a", site: "lobby")]
        promoted.canaryDevices = ["kiosk-1"]
        #expect(try await fixture.store.transitionModelRollout(version: 1, from: [.shadow], to: promoted, actor: "test"))
        try await fixture.publishThresholds(candidateThreshold: 0.6, candidateBound: 1e-2)
        // One approval keeps it in canary; the same token twice is refused; another engineer's promotes.
        let first = try await service.promote("1", by: Self.alice)
        #expect(first.stage == .canary)
        do {
            _ = try await service.promote("1", by: Self.alice)
            Issue.record("the same token approved twice")
        } catch let problem as ProblemResponse {
            #expect(problem.details.type.hasSuffix("approval-repeated"))
        }
        // The comparison finds no paired attempts, so the second approval is refused with the reasons.
        do {
            _ = try await service.promote("1", by: Self.bob)
            Issue.record("promoted without evidence")
        } catch let problem as ProblemResponse {
            #expect(problem.details.type.hasSuffix("promotion-refused"), "\(problem.details)")
        }
        var fleet = try #require(try await fixture.store.modelRollout(version: 1))
        fleet.state = .fleet
        fleet.updatedAt = fixture.clock.now
        #expect(try await fixture.store.transitionModelRollout(version: 1, from: [.canary], to: fleet, actor: "test"))

        // Before the promotion, false matches do not count; after it, 2 of 200 is within a 1e-2 bound…
        fixture.clock.advance(10)
        let before = fixture.clock.now.addingTimeInterval(-60)
        let early = (0..<50).map { _ in Self.outcome(model: Self.candidate, label: .impostor, score: 0.9, at: before) }
        try await fixture.store(early, sequence: 1)
        let within = (0..<200).map { Self.outcome(model: Self.candidate, label: .impostor, score: $0 < 2 ? 0.9 : 0.1, at: fixture.clock.now) }
        try await fixture.store(within, sequence: 2)
        #expect(try await service.rollBackOnDrift().isEmpty)
        #expect(try await fixture.store.modelRollout(version: 1)?.state == .fleet)
        // … 12 more are not (P(X ≥ 14 | 400, 1e-2) < 0.05).
        let breach = (0..<200).map { Self.outcome(model: Self.candidate, label: .impostor, score: $0 < 12 ? 0.9 : 0.1, at: fixture.clock.now) }
        try await fixture.store(breach, sequence: 3)
        #expect(try await service.rollBackOnDrift() == [1])
        let rolledBack = try #require(try await fixture.store.modelRollout(version: 1))
        #expect(rolledBack.state == .rolledBack)
        #expect(rolledBack.reason?.hasPrefix("automatic: cam-a at lobby: 14 false matches in 400 impostor attempts") == true,
                "\(rolledBack.reason ?? "nil")")
        let kiosk = try #require(try await fixture.store.device(id: "kiosk-1"))
        let assignment = try await service.assignment(device: kiosk, site: "lobby", cameraModel: "cam-a")
        #expect(assignment.decide.version == 0, "the cohort is back on the backbone")
        #expect(try await service.rollBackOnDrift().isEmpty, "nothing promoted is left")
    }

    @Test("drift over several days: the rest of the promotion's day from outcome rows, the days after from the live statistics")
    func driftOverDays() async throws {
        let fixture = try await Fixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.directory) }
        let service = fixture.service
        try await fixture.publishThresholds(candidateThreshold: 0.95, candidateBound: 1e-2)
        let lobby = RolloutCohort(cameraModel: "cam-a", site: "lobby")
        let promotion = fixture.clock.now
        #expect(try await fixture.store.transitionModelRollout(version: 1, from: [.candidate], to: StoredModelRollout(
            version: 1, state: .fleet, cohorts: [lobby], updatedAt: promotion), actor: "test"))
        func impostors(_ count: Int, matching: Int, score: Double, at time: Date, model: String = Self.candidate) -> [MatchOutcome] {
            (0..<count).map { Self.outcome(model: model, label: .impostor, score: $0 < matching ? score : 0.1, at: time) }
        }
        // The promotion's day: an hour before it (not counted), then after it.
        try await fixture.store(impostors(30, matching: 30, score: 0.99, at: promotion.addingTimeInterval(-3600))
                                + impostors(100, matching: 3, score: 0.99, at: promotion.addingTimeInterval(60)), sequence: 1)
        // The two days after; the backbone's own attempts do not count, its shadow score of the
        // release does (the statistics count it under the release's version).
        fixture.clock.advance(86_400)
        try await fixture.store(impostors(100, matching: 2, score: 0.97, at: fixture.clock.now), sequence: 2)
        fixture.clock.advance(86_400)
        var shadowed = Self.outcome(model: Self.backbone, label: .impostor, score: 0.99, at: fixture.clock.now)
        shadowed.shadow = .init(modelVersion: Self.candidate, score: 0.99)
        try await fixture.store(impostors(100, matching: 1, score: 0.96, at: fixture.clock.now) + impostors(50, matching: 50, score: 0.99,
                                at: fixture.clock.now, model: Self.backbone) + [shadowed], sequence: 3)

        let published = try #require(try await fixture.store.thresholdReleases().last { $0.state == .published })
        let thresholds = try DecodedReleases.decode(published.payload)
        let rows = RolloutComparisons.tallies(of: try await fixture.store.calibrationOutcomes(from: promotion, to: nil), modelVersion: Self.candidate,
                                              cohorts: [lobby], thresholds: thresholds)
        #expect(rows[lobby] == .init(impostors: 300, falseMatches: 6), "every row since the promotion where the release decided")
        let tallies = try await service.impostorTallies(modelVersion: Self.candidate, cohorts: [lobby], since: promotion, thresholds: thresholds)
        #expect(tallies[lobby] == .init(impostors: 301, falseMatches: 7), "the same, and the shadow score")
        // P(X ≥ 7 | 301, 1e-2) ≈ 0.03.
        #expect(try await service.rollBackOnDrift() == [1])
        let reason = try #require(try await fixture.store.modelRollout(version: 1)?.reason)
        #expect(reason.hasPrefix("automatic: cam-a at lobby: 7 false matches in 301 impostor attempts"), "\(reason)")
    }
}
