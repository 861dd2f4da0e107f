import AuditLog
import Calibration
import Compliance
import Crypto
import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import HTTPSignatures
import Foundation
@testable import Server
import Storage
import StrictJSON
import TestSupport
import Testing
import ThresholdAPI

/// Policy searches on a real store (SQLite in a temporary directory): the candidates are
/// signed releases in shadow for the searched cohort only, ranked by their paired comparison
/// with the model that decides, refined by halving, and the leader proposed to canary; bad
/// input is refused and changes nothing.
@Suite("Policy search service")
struct PolicySearchServiceTests {
    static let backbone = RolloutSettings.backboneModelVersion
    static let alice = APITokenRecord(role: "engineer", label: "alice", sha256: String(repeating: "a", count: 64))
    static let subjects = (1...6).map { String(repeating: String($0), count: 64) }
    static let cohort = MatchOutcome.Cohort(site: "lobby", cameraModel: "cam-a")
    /// Candidate policies: A helps, B changes nothing, C hurts (the scores below say so).
    static let policyA = NormalizationPolicy(clahe: .init(tilesX: 8, tilesY: 8, clipLimit: 2))
    static let policyB = NormalizationPolicy(whiteBalance: .init(strength: 1))
    static let policyC = NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 200, threshold: 0))
    static let policyD = NormalizationPolicy(exposure: .init(method: .gamma, targetMean: 0.45))

    final class Fixture: @unchecked Sendable {
        let store: SQLiteStore
        let directory: String
        let clock = ModelRolloutServiceTests.TestClock()
        let key = Curve25519.Signing.PrivateKey()
        private var sequence: Int64 = 0

        var service: PolicySearchService {
            PolicySearchService(store: store, federation: store, searches: store,
                                settings: RolloutSettings(targetFMR: 0.1, bootstrapResamples: 200),
                                releaseKey: { [key] in key }, now: { [clock] in clock.now })
        }

        var rollouts: ModelRolloutService {
            ModelRolloutService(store: store, federation: store, settings: RolloutSettings(targetFMR: 0.1, bootstrapResamples: 200),
                                now: { [clock] in clock.now })
        }

        /// A kiosk of cam-a at lobby with one outcome stored, every subject consenting to
        /// threshold calibration and model improvement.
        init() async throws {
            directory = try temporaryDirectory("policy-search")
            store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
            let now = clock.now
            #expect(try await store.upsertSite(SiteRecord(site: "lobby", jurisdiction: JurisdictionRecord.defaultName, publicPlace: false),
                                               actor: "test", at: now))
            try await store.addEnrollmentToken(.init(sha256: "t", deviceID: "kiosk-1", createdAt: now, expiresAt: now.addingTimeInterval(60),
                                                     sites: ["lobby"]))
            _ = try await store.redeemEnrollmentToken(sha256: "t", device: NewDevice(
                deviceID: "kiosk-1", signingKey: Data(repeating: 1, count: 32), certificateDER: Data([0x30, 0x00]),
                certificateFingerprint: "fp", certificateSerial: "01", certificateNotAfter: now.addingTimeInterval(86_400)), now: now)
            var consents: [ConsentEvent] = []
            for (purpose, digest) in [(Purpose.thresholdCalibration, "c"), (.modelImprovement, "d")] {
                let sha256 = String(repeating: digest, count: 64)
                #expect(try await store.addConsentText(ConsentText(purpose: purpose, version: "v1", language: "en", sha256: sha256,
                                                                   effectiveAt: Date(timeIntervalSince1970: 0), material: false),
                                                       actor: "test", at: now))
                consents += PolicySearchServiceTests.subjects.map { subject in
                    ConsentEvent(eventID: UUID(), occurredAt: Date(timeIntervalSince1970: 1_000), pseudonym: subject, purpose: purpose.rawValue,
                                 kind: .grant, method: .touch, site: "lobby", textVersion: "v1", textSHA256: sha256)
                }
            }
            try await upload([PolicySearchServiceTests.outcome(subject: 0, label: .genuine, score: 0.8, shadowScores: [])], consents: consents)
        }

        /// Stores `outcomes` from kiosk-1 in one batch.
        func upload(_ outcomes: [MatchOutcome], consents: [ConsentEvent] = []) async throws {
            sequence += 1
            let batch = OutcomeBatch(deviceID: "kiosk-1", sequence: sequence, createdAt: clock.now, outcomes: outcomes, consentEvents: consents)
            let body = batch.encoded()
            let stored = try await store.storeBatch(IncomingBatch(
                batch: batch, body: body, contentDigest: ContentDigest.sha256Field(for: body), signatureInput: "sig1=()",
                signature: "sig1=:AA==:", nonce: UUID().uuidString, receivedAt: clock.now))
            guard case let .stored(receipt) = stored else { throw RoundCloserTests.ConfigurationError("the batch was not stored: \(stored)") }
            let decoded = try WireJSON.decoder().decode(BatchReceipt.self, from: Data(receipt))
            #expect(decoded.refusedEvents.isEmpty, "\(decoded.refusedEvents)")
        }

        /// Publishes `threshold` for every model named, in cam-a at lobby.
        func publishThresholds(version: Int, models: [String], threshold: Double = 0.6) async throws {
            let entries = models.map { model in
                CohortThreshold(cohort: CohortKey(modelVersion: model, cameraModel: "cam-a", cohort: "lobby"), fallbackLevel: .cohort,
                                targetFMR: 0.1, threshold: threshold, estimatedFMR: 0, fmrUpperBound: 0.1, confidence: 0.95,
                                estimatedFNMR: nil, impostorCount: 100, falseMatchCount: 0, genuineCount: 100, unknownCount: 0, precision: .exact)
            }
            let release = try ThresholdRelease(version: version, previousVersion: nil, policy: "conservative",
                                               window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 1), entries: entries)
            #expect(try await store.addThresholdRelease(StoredThresholdRelease(
                version: version, state: .approved, payload: try ThresholdReleaseCoding.canonicalBytes(release), refused: Array("[]".utf8),
                largestChange: nil, requiredApprovals: 1, approvals: ["x"], computedAt: clock.now, computedBy: "alice",
                computedByToken: PolicySearchServiceTests.alice.id)))
            #expect(try await store.publishThresholdRelease(version: version, from: [.approved], envelope: Array("e".utf8), at: clock.now,
                                                            retiring: .superseded, actor: "bob"))
        }

        /// What a bad request must leave as it was.
        func snapshot() async throws -> [String] {
            [
                "\(try await store.modelReleases().map(\.version))",
                "\(try await store.modelRollouts().map { "\($0.version):\($0.state.rawValue):\($0.cohorts)" })",
                "\(try await store.policySearches().map { "\($0.id):\($0.state.rawValue):\($0.step):\($0.candidates)" })",
                "\(try await store.auditTreeSize())",
            ]
        }

        func assignment(site: String = "lobby", cameraModel: String = "cam-a") async throws -> ModelAssignment {
            try await rollouts.assignment(device: try #require(try await store.device(id: "kiosk-1")), site: site, cameraModel: cameraModel)
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }
    }

    static func outcome(subject: Int, label: MatchOutcome.Label, score: Double, shadowScores: [MatchOutcome.ShadowScore],
                        at time: Date = Date(timeIntervalSince1970: 1_800_000_000)) -> MatchOutcome {
        var outcome = SampleBatch.outcome(label: label, score: score, decision: score >= 0.6 ? .accept : .reject, attemptedAt: time,
                                          modelVersion: backbone, thresholdVersion: "t-1", cohort: cohort,
                                          subject: .init(pseudonym: subjects[subject], consentRef: "c"))
        outcome.shadowScores = shadowScores
        return outcome
    }

    /// The attempts of `people` (every subject by default): five genuine each (three below 0.6)
    /// and five impostors, all at 0.2 but the first of subjects 0 to 2 at 0.6, so that on all
    /// thirty, every model's exact threshold at FMR 0.1 (3 of 30 impostors at or above it) is 0.6.
    /// `candidates` maps each candidate's model version to how it scores a genuine attempt the
    /// deciding model scored `current`; impostors score alike under every model.
    static func attempts(_ candidates: [(modelVersion: String, genuine: (Double) -> Double)],
                         people: Range<Int> = subjects.indices) -> [MatchOutcome] {
        var outcomes: [MatchOutcome] = []
        for subject in people {
            for attempt in 0..<5 {
                let current = attempt < 3 ? 0.5 : 0.8
                outcomes.append(outcome(subject: subject, label: .genuine, score: current,
                                        shadowScores: candidates.map { .init(modelVersion: $0.modelVersion, score: $0.genuine(current)) }))
                let impostor = attempt == 0 && subject < 3 ? 0.6 : 0.2
                outcomes.append(outcome(subject: subject, label: .impostor, score: impostor,
                                        shadowScores: candidates.map { .init(modelVersion: $0.modelVersion, score: impostor) }))
            }
        }
        return outcomes
    }

    static func start(_ fixture: Fixture, _ policies: [NormalizationPolicy]?, site: String = "lobby", cameraModel: String = "cam-a",
                      baseVersion: Int? = nil) async throws -> PolicySearchView {
        try await fixture.service.start(PolicySearchRequest(cameraModel: cameraModel, site: site, baseVersion: baseVersion,
                                                            candidates: policies), by: alice)
    }

    @Test("start: one signed release per policy with the base's adapter, in shadow for the searched cohort only; bad requests change nothing")
    func start() async throws {
        let fixture = try await Fixture()
        let before = try await fixture.snapshot()
        func refused(_ type: ProblemType, _ start: () async throws -> PolicySearchView) async throws {
            do {
                _ = try await start()
                Issue.record("accepted, expected \(type.slug)")
            } catch let problem as ProblemResponse {
                #expect(problem.type == type, "\(problem.details)")
            }
            #expect(try await fixture.snapshot() == before)
        }
        try await refused(.invalidRequest) { try await Self.start(fixture, [Self.policyA], cameraModel: "cam-z") }
        try await refused(.schemaViolation) { try await Self.start(fixture, Array(repeating: Self.policyA, count: 9)) }
        try await refused(.schemaViolation) { try await Self.start(fixture, []) }
        try await refused(.invalidRequest) { try await Self.start(fixture, [Self.policyA, Self.policyB, Self.policyA]) }
        try await refused(.invalidRequest) { try await Self.start(fixture, [.identity]) }
        try await refused(.invalidRequest) { try await Self.start(fixture, [Self.policyA], baseVersion: 4) }

        let search = try await Self.start(fixture, [Self.policyA, Self.policyB, Self.policyC])
        #expect(search.id == 1 && search.state == .searching && search.step == 0 && search.baseVersion == 0)
        #expect(search.candidates.map(\.version) == [1, 2, 3])
        #expect(search.candidates.map(\.policy) == [Self.policyA, Self.policyB, Self.policyC])
        #expect(search.candidates.allSatisfy { $0.state == .active && $0.rank == nil && $0.verdict == .insufficientData })
        #expect(search.candidates.map(\.policyID) == [Self.policyA, Self.policyB, Self.policyC].map(PolicyCandidates.identifier))
        for (stored, policy) in zip(try await fixture.store.modelReleases(), [Self.policyA, Self.policyB, Self.policyC]) {
            let envelope = try WireJSON.decoder().decode(SignedRelease.self, from: Data(stored.envelope))
            let release = try ModelReleaseCoding.verify(envelope, publicKey: fixture.key.publicKey.rawRepresentation)
            #expect(release.adapter == Adapter.identity() && release.baseVersion == 0 && stored.roundID == 0)
            #expect(release.normalisation == [CohortNormalisation(cameraModel: "cam-a", site: "lobby", policy: policy)])
        }
        await #expect(throws: ProblemResponse.self, "a candidate is never the current release") {
            _ = try await ModelReleaseService(federation: fixture.store).currentEnvelope()
        }
        let rollouts = try await fixture.store.modelRollouts()
        #expect(rollouts.allSatisfy { $0.state == .shadow && $0.cohorts == [RolloutCohort(cameraModel: "cam-a", site: "lobby")] })

        // The searched cohort's kiosks score the candidates; the model that decides is unchanged, elsewhere nothing is scored.
        let assignment = try await fixture.assignment()
        #expect(assignment.decide.version == 0 && assignment.shadow == nil && assignment.rolloutVersion == nil)
        #expect(assignment.shadowCandidates.map(\.version) == [1, 2, 3])
        #expect(assignment.shadowCandidates.map(\.modelVersion) == search.candidates.map(\.modelVersion))
        #expect(try await fixture.assignment(cameraModel: "cam-b").shadowCandidates.isEmpty)

        // One release_published (naming the search) and one model_rollout entry per candidate.
        let entries = try await fixture.store.auditEntries(from: Int(before[3]) ?? 0, to: try await fixture.store.auditTreeSize())
            .map { try AuditEntry(entryBytes: $0) }
        #expect(entries.map(\.kind) == Array(repeating: .releasePublished, count: 3) + Array(repeating: .modelRollout, count: 3))
        #expect(entries.prefix(3).allSatisfy { entry in entry.details.contains { $0.key == "policy_search" && $0.value == .number(1) } })

        // One search per cohort at a time; nothing changes when a second is refused.
        let started = try await fixture.snapshot()
        do {
            _ = try await Self.start(fixture, [Self.policyD])
            Issue.record("a second search in the same cohort was accepted")
        } catch let problem as ProblemResponse {
            #expect(problem.type == .releaseStateConflict && problem.details.detail?.contains("policy search 1") == true)
        }
        #expect(try await fixture.snapshot() == started)
        #expect(try await fixture.service.list().searches.map(\.activeCandidates) == [[1, 2, 3]])
    }

    @Test("show ranks each model at its exact threshold for the target FMR, not a published one; propose needs a better leader with a published threshold, moves it to canary, retires the others")
    func rankAndPropose() async throws {
        let fixture = try await Fixture()
        let search = try await Self.start(fixture, [Self.policyC, Self.policyB, Self.policyA])
        let (c, b, a) = (search.candidates[0].modelVersion, search.candidates[1].modelVersion, search.candidates[2].modelVersion)
        let candidates: [(modelVersion: String, genuine: (Double) -> Double)] = [(a, { _ in 0.8 }), (b, { $0 }), (c, { _ in 0.5 })]
        let impostorsNeeded = try OutcomesNeeded.impostorAttempts(targetFMR: 0.1, confidence: RolloutSettings(targetFMR: 0.1).confidence)

        // Too few impostor attempts for a threshold at FMR 0.1: nothing ranks, each says what it lacks, nothing is proposed.
        try await fixture.upload(Self.attempts(candidates, people: 0..<1))
        let early = try await fixture.service.show("1")
        #expect(early.candidates.allSatisfy { $0.rank == nil && $0.verdict == .insufficientData && $0.candidateThreshold == nil })
        #expect(early.candidates.map(\.outcomesNeeded?.impostors) == Array(repeating: impostorsNeeded - 5, count: 3))
        #expect(early.candidates[0].reason.contains("5 impostor attempts scored by both"), "\(early.candidates[0].reason)")
        let unranked = try await fixture.snapshot()
        await #expect(throws: ProblemResponse.self) { _ = try await fixture.service.propose("1", proposal: .init(percent: 100), by: Self.alice) }
        #expect(try await fixture.snapshot() == unranked)

        // Published thresholds far from the target FMR's (0.9: every genuine attempt rejected) change nothing in the ranking.
        try await fixture.upload(Self.attempts(candidates, people: 1..<Self.subjects.count))
        try await fixture.publishThresholds(version: 1, models: [Self.backbone, b, c], threshold: 0.9)
        let ranked = try await fixture.service.show("1")
        #expect(ranked.candidates.map(\.modelVersion) == [a, b, c], "better, not worse, worse")
        #expect(ranked.candidates.map(\.rank) == [1, 2, 3])
        #expect(ranked.candidates.map(\.verdict) == [.better, .notWorse, .worse])
        #expect(ranked.candidates.allSatisfy { $0.currentThreshold == 0.6 && $0.candidateThreshold == 0.6 })
        #expect(ranked.leader == 3)
        let figures = try #require(ranked.candidates[0].figures)
        #expect(figures.genuineAttempts == 30 && figures.impostorAttempts == 30)
        #expect(figures.currentFNMR == 0.6 && figures.candidateFNMR == 0 && figures.candidateBetter == 18)
        #expect(figures.currentFMR == 0.1 && figures.candidateFMR == 0.1)
        #expect(ranked.candidates[0].outcomesNeeded == nil, "decided")
        #expect(ranked.candidates[1].outcomesNeeded?.impostors == 0)

        // The leader has no published threshold: canary kiosks could not decide with it, so it is not proposed.
        let beforeThresholds = try await fixture.snapshot()
        do {
            _ = try await fixture.service.propose("1", proposal: .init(percent: 100), by: Self.alice)
            Issue.record("proposed a leader without a published threshold")
        } catch let problem as ProblemResponse {
            #expect(problem.type == .insufficientData && problem.details.detail?.contains("no published threshold for \(a)") == true)
        }
        #expect(try await fixture.snapshot() == beforeThresholds)
        try await fixture.publishThresholds(version: 2, models: [Self.backbone, a, b, c])

        // Propose: A to canary on every kiosk of the cohort, B and C out of shadow.
        let proposed = try await fixture.service.propose("1", proposal: .init(percent: 100), by: Self.alice)
        #expect(proposed.state == .proposed && proposed.proposedVersion == 3 && proposed.leader == nil)
        let rollouts = Dictionary(uniqueKeysWithValues: try await fixture.store.modelRollouts().map { ($0.version, $0) })
        #expect(rollouts[3]?.state == .canary && rollouts[3]?.cohorts == [RolloutCohort(cameraModel: "cam-a", site: "lobby")])
        #expect(rollouts[3]?.canaryPercent == 100)
        #expect(rollouts[1]?.state == .rolledBack && rollouts[2]?.state == .rolledBack)
        #expect(rollouts[1]?.reason == "policy search 1 proposed release 3")
        let comparison = try WireJSON.decoder().decode(RolloutComparison.self, from: Data(try #require(rollouts[3]?.comparison)))
        #expect(comparison.cohorts.map(\.verdict) == [.better] && comparison.thresholds == .exactAtTarget)
        #expect(comparison.cohorts.first?.candidateThreshold == 0.6 && comparison.thresholdReleaseVersion == nil)
        let assignment = try await fixture.assignment()
        #expect(assignment.decide.version == 3 && assignment.rolloutStage == .canary)
        #expect(assignment.shadow == nil && assignment.shadowCandidates.isEmpty,
                "the backbone it replaces normalises differently and has no release to score under")
        #expect(try await fixture.assignment(cameraModel: "cam-b").decide.version == 0, "other cohorts keep their model")

        // Proposed once: a second proposal or refinement is refused and changes nothing.
        let after = try await fixture.snapshot()
        await #expect(throws: ProblemResponse.self) { _ = try await fixture.service.propose("1", proposal: .init(percent: 100), by: Self.alice) }
        await #expect(throws: ProblemResponse.self) { _ = try await fixture.service.refine("1", by: Self.alice) }
        #expect(try await fixture.snapshot() == after)
    }

    @Test("refine keeps the better half (never a worse one) and adds the lattice around the best; nothing to rank changes nothing")
    func refine() async throws {
        let fixture = try await Fixture()
        let search = try await Self.start(fixture, [Self.policyC, Self.policyB, Self.policyA, Self.policyD])
        let versions = search.candidates.map(\.modelVersion)
        let (c, b, a, d) = (versions[0], versions[1], versions[2], versions[3])

        let early = try await fixture.snapshot()
        await #expect(throws: ProblemResponse.self) { _ = try await fixture.service.refine("1", by: Self.alice) }
        #expect(try await fixture.snapshot() == early)

        // D scores as the base does, like B.
        try await fixture.upload(Self.attempts([(a, { _ in 0.8 }), (b, { $0 }), (c, { _ in 0.5 }), (d, { $0 })]))
        // D rolled back by hand: no longer ranked, and the search lets it go.
        _ = try await fixture.rollouts.rollBack("4", reason: "dropped by hand", actor: Self.alice.actor)
        #expect(try await fixture.service.show("1").candidates.first { $0.modelVersion == d }.map { $0.state == .retired && $0.rank == nil } == true)
        let refined = try await fixture.service.refine("1", by: Self.alice)
        #expect(refined.step == 1)
        let lattice = try PolicyCandidates.refine(around: Self.policyA, step: 1)
        let added = refined.candidates.filter { $0.step == 1 }
        #expect(added.map(\.policy) == lattice)
        #expect(added.map(\.version) == Array(5..<(5 + lattice.count)))
        let states = Dictionary(uniqueKeysWithValues: refined.candidates.map { ($0.modelVersion, $0.state) })
        #expect(states[a] == .active && states[b] == .active, "the better half of the three ranked: A, then B")
        #expect(states[c] == .eliminated, "a worse candidate never stays")
        #expect(states[d] == .retired && refined.candidates.first { $0.modelVersion == d }?.rank == nil)
        let rollouts = Dictionary(uniqueKeysWithValues: try await fixture.store.modelRollouts().map { ($0.version, $0) })
        #expect(rollouts[1]?.state == .rolledBack && rollouts[1]?.reason?.contains("successive halving") == true)
        #expect(rollouts[4]?.reason == "dropped by hand")
        let active = refined.candidates.filter { $0.state == .active }.map(\.version).sorted()
        #expect(try await fixture.assignment().shadowCandidates.map(\.version) == active)
    }

    @Test("a candidate policy refused in the request names its path and the policy's own message")
    func requestDecoding() throws {
        let body = #"{"camera_model":"cam-a","site":"lobby","candidates":[{"clahe":{"tiles_x":8,"tiles_y":8,"clip_limit":2}},{"clahe":{"tiles_x":0,"tiles_y":8,"clip_limit":2}}]}"#
        do {
            _ = try WireJSON.decoder().decode(PolicySearchRequest.self, from: Data(body.utf8))
            Issue.record("decoded a policy with 0 tiles")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(JSONBody.pointer(context.codingPath) == "/candidates/1/clahe/tiles_x")
            #expect(context.debugDescription.contains("clahe.tiles_x must be an integer from 1 to 16, not 0"), "\(context.debugDescription)")
        }
        let grid = try WireJSON.decoder().decode(PolicySearchRequest.self, from: Data(#"{"camera_model":"cam-a","site":"lobby"}"#.utf8))
        #expect(grid.candidates == nil && grid.baseVersion == nil)
    }
}
