import Crypto
import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing
@testable import Agent

/// The kiosk applies a normalisation policy only from a verified release, and scores a policy
/// search's candidates only for subjects with model-improvement consent in force, within the
/// per-verification budget, rotating which candidates it scores across verifications.
@Suite("Probe normalisation and shadow candidates on the kiosk")
struct ShadowCandidateScoringTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)
    static let site = "lobby"
    static let camera = "cam-a"
    static let gamma = NormalizationPolicy(exposure: .init(method: .gamma, targetMean: 0.45))

    /// Candidate `index`'s policy: distinct for every index.
    static func candidatePolicy(_ index: Int) -> NormalizationPolicy {
        NormalizationPolicy(clahe: .init(tilesX: 8, tilesY: 8, clipLimit: Double(index + 1)))
    }

    static func signedRelease(version: Int, key: Curve25519.Signing.PrivateKey, policy: NormalizationPolicy?) throws -> (ModelRelease, Data) {
        let outcome = RoundOutcome(accepted: [], rejected: [], adjusted: [], baseline: nil, candidate: nil, releaseVersion: version, reason: nil)
        var release = ModelRelease(version: version, baseVersion: 0, roundID: version, backbone: "dlib_face_recognition_resnet_model_v1",
                                   adapter: try Adapter(dimension: 4, weights: Adapter.identity(dimension: 4).weights.map { $0 * Float(version) }, bias: nil),
                                   privacy: try ShadowRecordingTests.privacy.get(), outcome: ReleasedRoundSummary(outcome), createdAt: now)
        if let policy { release.setNormalisation(policy, cameraModel: camera, site: site) }
        let envelope = try SignedRelease.sign(kind: .model, version: version, payload: try ModelReleaseCoding.canonicalBytes(release), key: key)
        return (release, try WireJSON.encoder().encode(envelope))
    }

    /// A kiosk whose last sync applied release 4 (deciding, with `gamma` for the cohort) and
    /// candidate releases 10, 11, … (`candidates` of them), every envelope kept and signed with
    /// the pinned key.
    struct Kiosk {
        var agent: KioskAgent
        var key: Curve25519.Signing.PrivateKey
        var active: AssignedModel
        var candidates: [AssignedModel]
        var directory: String
    }

    static func kiosk(candidates count: Int) throws -> Kiosk {
        let directory = try temporaryDirectory("shadow-candidates")
        let files = AgentFiles(directory: directory)
        let agent = KioskAgent(files: files)
        let key = Curve25519.Signing.PrivateKey()
        try files.write(Data((key.publicKey.rawRepresentation.base64EncodedString() + "\n").utf8), to: files.releaseSigningKey, mode: 0o600)
        try files.ensureModelReleasesDirectory()
        let (release4, envelope4) = try signedRelease(version: 4, key: key, policy: gamma)
        try files.write(envelope4, to: files.modelRelease(version: 4), mode: 0o600)
        var candidates: [AssignedModel] = []
        for index in 0..<count {
            let (release, envelope) = try signedRelease(version: 10 + index, key: key, policy: candidatePolicy(index))
            try files.write(envelope, to: files.modelRelease(version: release.version), mode: 0o600)
            candidates.append(AssignedModel(version: release.version, modelVersion: release.modelVersion))
        }
        let active = AssignedModel(version: 4, modelVersion: release4.modelVersion)
        let assignment = ModelAssignment(deviceID: "kiosk-1", site: site, cameraModel: camera, decide: active, shadow: nil,
                                         rolloutVersion: nil, rolloutStage: nil, reason: "policy search", shadowCandidates: candidates)
        let applied = AppliedModels.decide(assignment: assignment, thresholds: nil, current: ActiveModel(model: active, threshold: nil), at: now)
        #expect(applied.shadowCandidates == candidates)
        try files.write(try WireJSON.encoder().encode(applied), to: files.modelState, mode: 0o600)
        return Kiosk(agent: agent, key: key, active: active, candidates: candidates, directory: directory)
    }

    static func pseudonym(_ index: Int) -> String { ConsentedTrainingTests.pseudonym(index) }

    // MARK: The probe's policy

    @Test("the deciding release's policy for the kiosk's cohort is applied; another cohort and the backbone get the identity")
    func policyFromVerifiedRelease() throws {
        let kiosk = try Self.kiosk(candidates: 0)
        defer { try? FileManager.default.removeItem(atPath: kiosk.directory) }
        #expect(try kiosk.agent.probeNormalisation(for: kiosk.active, cameraModel: Self.camera, site: Self.site) == Self.gamma)
        #expect(try kiosk.agent.probeNormalisation(for: kiosk.active, cameraModel: "cam-b", site: Self.site) == .identity)
        #expect(try kiosk.agent.probeNormalisation(for: kiosk.active, cameraModel: Self.camera, site: "hall") == .identity)
        let backbone = AssignedModel(version: 0, modelVersion: "dlib_face_recognition_resnet_model_v1")
        #expect(try kiosk.agent.probeNormalisation(for: backbone, cameraModel: Self.camera, site: Self.site) == .identity)
    }

    /// Release `version` naming `policy` for the cohort, in an envelope that must not verify:
    /// its payload swapped under the genuine signature, signed by another key, or unsigned.
    static func tampered(_ tampering: String, version: Int, key: Curve25519.Signing.PrivateKey, policy: NormalizationPolicy) throws -> Data {
        switch tampering {
        case "altered":
            let (_, original) = try signedRelease(version: version, key: key, policy: .identity)
            var altered = try WireJSON.decoder().decode(SignedRelease.self, from: original)
            let (release, _) = try signedRelease(version: version, key: key, policy: policy)
            altered.payload = Data(try ModelReleaseCoding.canonicalBytes(release)).base64EncodedString()
            return try WireJSON.encoder().encode(altered)
        case "foreign":
            return try signedRelease(version: version, key: Curve25519.Signing.PrivateKey(), policy: policy).1
        default:
            var unsigned = try WireJSON.decoder().decode(SignedRelease.self, from: try signedRelease(version: version, key: key, policy: policy).1)
            unsigned.signature = ""
            return try WireJSON.encoder().encode(unsigned)
        }
    }

    @Test("a policy in an altered, foreign-signed or unsigned envelope is never applied: the kiosk refuses instead of using it",
          arguments: ["altered", "foreign", "unsigned"])
    func policyFromUnverifiedReleaseRefused(tampering: String) throws {
        let stolen = NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 500))
        let kiosk = try Self.kiosk(candidates: 2)
        defer { try? FileManager.default.removeItem(atPath: kiosk.directory) }
        let files = kiosk.agent.files
        #expect(try kiosk.agent.shadowCandidates(cameraModel: Self.camera, site: Self.site).usable.count == 2)

        // The deciding release: refused, so `verify` stops rather than normalise with its policy.
        try files.write(try Self.tampered(tampering, version: 4, key: kiosk.key, policy: stolen), to: files.modelRelease(version: 4), mode: 0o600)
        #expect(throws: (any Error).self) { try kiosk.agent.probeNormalisation(for: kiosk.active, cameraModel: Self.camera, site: Self.site) }

        // A candidate: left out of the candidates, its policy never applied to a probe.
        let bad = kiosk.candidates[1]
        try files.write(try Self.tampered(tampering, version: bad.version, key: kiosk.key, policy: stolen),
                        to: files.modelRelease(version: bad.version), mode: 0o600)
        let (usable, refused) = try kiosk.agent.shadowCandidates(cameraModel: Self.camera, site: Self.site)
        #expect(usable.map(\.model) == [kiosk.candidates[0]])
        #expect(usable.first?.policy == Self.candidatePolicy(0))
        #expect(refused == [bad.modelVersion])
        #expect(!usable.contains { $0.policy == stolen })
    }

    // MARK: Consent

    @Test("without model-improvement consent in force (never given, withdrawn, limited, or no pseudonym) no candidate is computed and nothing is recorded")
    func consentGate() throws {
        let kiosk = try Self.kiosk(candidates: 3)
        defer { try? FileManager.default.removeItem(atPath: kiosk.directory) }
        let granted = Self.now
        _ = try kiosk.agent.recordConsent([0, 1, 2].map { ConsentedTrainingTests.consent("grant", $0, at: granted) })
        _ = try kiosk.agent.recordConsent([ConsentedTrainingTests.consent("withdraw", 1, at: granted.addingTimeInterval(60)),
                                           ConsentedTrainingTests.consent("limit", 2, at: granted.addingTimeInterval(60))])
        let later = granted.addingTimeInterval(120)
        var calls = 0
        func run(_ pseudonym: String?) throws -> ShadowCandidateReport {
            try kiosk.agent.scoreShadowCandidates(subjectPseudonym: pseudonym, cameraModel: Self.camera, site: Self.site, budgetMilliseconds: 150,
                                                  firstEstimateMilliseconds: 10, at: later) { _ in
                calls += 1
                return (0.5, 10)
            }
        }
        for pseudonym in [Self.pseudonym(1), Self.pseudonym(2), Self.pseudonym(3), nil] {
            let report = try run(pseudonym)
            #expect(report.scored.isEmpty && report.shadowScores.isEmpty)
            #expect(report.skipped != nil)
            #expect(report.assigned == 3)
        }
        #expect(calls == 0, "no candidate is even computed without consent")
        #expect(try kiosk.agent.shadowRotation() == 0, "the rotation does not move for attempts that score nothing")
        // Before the grant, subject 0 was not covered either.
        #expect(try !kiosk.agent.modelImprovementConsentInForce(pseudonym: Self.pseudonym(0), at: granted.addingTimeInterval(-1)))

        let consented = try run(Self.pseudonym(0))
        #expect(calls == 3)
        #expect(consented.skipped == nil)
        #expect(consented.shadowScores.map(\.modelVersion) == kiosk.candidates.map(\.modelVersion))

        // What is recorded: the consented attempt carries the scores, in a batch the validator accepts.
        var outcome = UploadQueueTests.outcome()
        outcome.modelVersion = kiosk.active.modelVersion
        outcome.shadowScores = consented.shadowScores
        #expect(try kiosk.agent.record([outcome], now: later) == [outcome])
        let queued = try #require(try RecordPathTests.sealed(kiosk.agent, "outcomes").first)
        #expect(try JSONValue.parse(queued)["shadow_scores"]?.arrayValue?.count == 3)
    }

    // MARK: Budget and rotation

    @Test("the budget stops before a candidate whose expected cost (the last one measured) would exceed it",
          arguments: [
              // (costs of the candidates in order, budget, first estimate, how many are scored)
              ([40.0, 40, 40, 40, 40], 150.0, 40.0, 3),
              ([40.0, 40, 40, 40, 40], 200.0, 40.0, 5),
              ([40.0, 40, 40, 40, 40], 0.0, 40.0, 0),
              ([40.0, 40, 40, 40, 40], 150.0, 200.0, 0),
              ([100.0, 10, 10, 10, 10], 150.0, 40.0, 1),
              ([10.0, 10, 100, 10, 10], 150.0, 40.0, 3),
              ([40.0, 40, 40], 1000.0, 40.0, 3),
          ])
    func budget(costs: [Double], budget: Double, firstEstimate: Double, expected: Int) {
        var computed: [Int] = []
        let results = ShadowBudget.run(Array(costs.indices), start: 0, budgetMilliseconds: budget, firstEstimateMilliseconds: firstEstimate) { index in
            computed.append(index)
            return (0.5, costs[index])
        }
        #expect(results.count == expected)
        #expect(computed == Array(0..<expected), "only the candidates that fit are computed, each once")
    }

    @Test("the rotation starts each verification where the last one stopped, so every candidate is scored within ceil(n / fitting) verifications")
    func rotationCoversAll() throws {
        let kiosk = try Self.kiosk(candidates: 5)
        defer { try? FileManager.default.removeItem(atPath: kiosk.directory) }
        _ = try kiosk.agent.recordConsent([ConsentedTrainingTests.consent("grant", 0, at: Self.now)])
        var rounds: [[String]] = []
        for attempt in 0..<5 {
            // Two candidates fit: 60 ms each against 150 ms.
            let report = try kiosk.agent.scoreShadowCandidates(subjectPseudonym: Self.pseudonym(0), cameraModel: Self.camera, site: Self.site,
                                                               budgetMilliseconds: 150, firstEstimateMilliseconds: 60,
                                                               at: Self.now.addingTimeInterval(Double(attempt + 1))) { candidate in
                #expect(candidate.policy == Self.candidatePolicy(candidate.model.version - 10), "each candidate under its own release's policy")
                return (Double(candidate.model.version) / 100, 60)
            }
            #expect(report.millisecondsSpent == 120)
            rounds.append(report.shadowScores.map(\.modelVersion))
        }
        let names = kiosk.candidates.map(\.modelVersion)
        #expect(rounds[0] == [names[0], names[1]])
        #expect(rounds[1] == [names[2], names[3]])
        #expect(rounds[2] == [names[4], names[0]])
        #expect(Set(rounds.prefix(3).joined()) == Set(names), "all five candidates within three verifications")
        let counts = Dictionary(grouping: rounds.joined(), by: { $0 }).mapValues(\.count)
        #expect(counts.values.allSatisfy { $0 == 2 }, "ten scores over five verifications: each candidate twice")
        #expect(try kiosk.agent.shadowRotation() == 0, "the counter is kept in the data directory")
        #expect(FileManager.default.fileExists(atPath: kiosk.agent.files.shadowRotation))

        // A verification whose first candidate is not expected to fit scores none, says why, and
        // leaves the rotation where it was.
        var calls = 0
        let none = try kiosk.agent.scoreShadowCandidates(subjectPseudonym: Self.pseudonym(0), cameraModel: Self.camera, site: Self.site,
                                                         budgetMilliseconds: 150, firstEstimateMilliseconds: 151,
                                                         at: Self.now.addingTimeInterval(10)) { _ in
            calls += 1
            return (0.5, 1)
        }
        #expect(calls == 0 && none.scored.isEmpty)
        #expect(none.skipped?.contains("more than the budget") == true)
        #expect(try kiosk.agent.shadowRotation() == 0)
    }

    @Test("the applied candidates leave out the deciding model, the shadow, repeats and the backbone")
    func appliedCandidates() throws {
        let active = AssignedModel(version: 4, modelVersion: "m:adapter-4")
        let shadow = AssignedModel(version: 5, modelVersion: "m:adapter-5")
        let many = (10..<21).map { AssignedModel(version: $0, modelVersion: "m:adapter-\($0)") }
        let offered = [active, shadow, AssignedModel(version: 0, modelVersion: "m"), many[0], many[0]] + many
        let assignment = ModelAssignment(deviceID: "kiosk-1", site: Self.site, cameraModel: Self.camera, decide: active, shadow: shadow,
                                         rolloutVersion: nil, rolloutStage: nil, reason: "search", shadowCandidates: offered)
        let applied = AppliedModels.decide(assignment: assignment, thresholds: nil, current: ActiveModel(model: active, threshold: nil), at: Self.now)
        #expect(offered.count == ModelAssignment.maxShadowCandidates)
        #expect(applied.shadowCandidates == many)
        // A state kept before candidates existed reads as none.
        var json = try JSONValue.parse([UInt8](try WireJSON.encoder().encode(applied)))
        if case let .object(members) = json { json = .object(members.filter { $0.key != "shadow_candidates" }) }
        #expect(try WireJSON.decoder().decode(AppliedModels.self, from: Data(json.serialized())).shadowCandidates.isEmpty)
    }
}

/// `models sync` keeps the candidate releases' envelopes, verified like any release.
@Suite("Syncing shadow candidates")
struct ShadowCandidateSyncTests {
    @Test("the candidates' envelopes are fetched, verified and kept; one that does not verify stops the sync and changes nothing")
    func syncKeepsCandidates() async throws {
        let directory = try temporaryDirectory("candidate-sync")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let identity = try FakeKioskServer.Identity.make(deviceID: "kiosk-1")
        let server = FakeKioskServer()
        let baseURL = try await server.start(identity: identity)
        let key = Curve25519.Signing.PrivateKey()
        let agent = try ModelSyncTests.enrolledAgent(directory, identity: identity, serverURL: baseURL, releaseKey: key)
        let site = ShadowCandidateScoringTests.site, camera = ShadowCandidateScoringTests.camera
        var candidates: [AssignedModel] = []
        for version in [6, 7] {
            let (release, envelope) = try ShadowCandidateScoringTests.signedRelease(
                version: version, key: key, policy: ShadowCandidateScoringTests.candidatePolicy(version))
            server.answer("/v1/models/releases/\(version)/envelope", body: [UInt8](envelope))
            candidates.append(AssignedModel(version: version, modelVersion: release.modelVersion))
        }
        let backbone = ModelSyncTests.backbone
        let target = "/v1/kiosk/model-assignment?site=\(site)&camera_model=\(camera)"
        func assign(_ candidates: [AssignedModel]) throws {
            let assignment = ModelAssignment(deviceID: "kiosk-1", site: site, cameraModel: camera, decide: backbone, shadow: nil,
                                             rolloutVersion: nil, rolloutStage: nil, reason: "policy search", shadowCandidates: candidates)
            server.answer(target, body: [UInt8](try WireJSON.encoder().encode(assignment)))
        }
        server.problem("/v1/thresholds/current", status: 404, slug: "not-found", detail: "none yet")
        try assign(candidates)
        let applied = try await agent.syncModels(site: site, cameraModel: camera, backbone: backbone.modelVersion)
        #expect(applied.shadowCandidates == candidates)
        #expect(server.requests.contains("/v1/models/releases/6/envelope") && server.requests.contains("/v1/models/releases/7/envelope"))
        let (usable, refused) = try agent.shadowCandidates(cameraModel: camera, site: site)
        #expect(usable.map(\.policy) == [6, 7].map(ShadowCandidateScoringTests.candidatePolicy))
        #expect(refused.isEmpty)

        // A new candidate whose envelope is signed by another key: the sync fails, the state stays.
        let (foreign, foreignEnvelope) = try ShadowCandidateScoringTests.signedRelease(
            version: 8, key: Curve25519.Signing.PrivateKey(), policy: ShadowCandidateScoringTests.candidatePolicy(8))
        server.answer("/v1/models/releases/8/envelope", body: [UInt8](foreignEnvelope))
        try assign(candidates + [AssignedModel(version: 8, modelVersion: foreign.modelVersion)])
        await #expect(throws: (any Error).self) {
            try await agent.syncModels(site: site, cameraModel: camera, backbone: backbone.modelVersion)
        }
        try await server.stop()
        #expect(try agent.appliedModels() == applied)
        #expect(!FileManager.default.fileExists(atPath: agent.files.modelRelease(version: 8)))
    }
}
