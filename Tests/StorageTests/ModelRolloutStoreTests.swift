import AuditLog
import Compliance
import FeedbackWire
import Foundation
import PostgresTestSupport
@testable import Storage
import TestSupport
import Testing

/// Model rollouts and shadow scores, the same contract on every back end.
@Suite("Model rollouts and shadow scores in the store")
struct ModelRolloutStoreTests {
    typealias Fixture = FeedbackStoreTests
    static let now = Fixture.now

    /// Publishes model releases 1…`count`, each by a round of its own, at `now`.
    static func publishReleases(_ count: Int, in store: any FederationStore) async throws {
        for version in 1...count {
            guard case let .opened(round) = try await store.openRound(FederationStoreTests.round(), ledgerLength: version - 1) else {
                Issue.record("round \(version) did not open")
                return
            }
            #expect(try await store.closeRound(id: round.id, state: .published, outcome: Array("{}".utf8), at: now,
                                               release: NewModelRelease(version: version, payload: Array("p\(version)".utf8),
                                                                        envelope: Array("e\(version)".utf8)),
                                               verdicts: [:]))
        }
    }

    /// A rollout in canary with every field set, times with fractions of a second. The
    /// fractions are binary (a Date converted to seconds since 1970 and back may otherwise
    /// move by a rounding step, as every stored time does).
    static func canary(_ version: Int = 1) -> StoredModelRollout {
        StoredModelRollout(
            version: version, state: .canary,
            cohorts: [RolloutCohort(cameraModel: "cam-x1", site: "branch-042"), RolloutCohort(cameraModel: "cam-y2", site: "lobby")],
            canaryDevices: ["kiosk-001", "kiosk-007"], canaryPercent: 12.5,
            approvals: [RolloutApproval(step: .shadow, tokenID: "0123456789abcdef", actor: "token:erin (engineer)",
                                        at: now.addingTimeInterval(0.375)),
                        RolloutApproval(step: .canary, tokenID: "fedcba9876543210", actor: "token:olga (admin)",
                                        at: now.addingTimeInterval(3600.5))],
            comparison: Array(#"{"cohorts":[{"verdict":"not_worse"}]}"#.utf8), reason: "not worse at FMR 1e-3",
            updatedAt: now.addingTimeInterval(3600.75))
    }

    /// Every entry of the log reads back in canonical form at its own index, the stored leaf
    /// hashes are the entries' hashes, and the log of `earlier` entries is a prefix of it.
    static func verifyAuditLog(_ store: any ComplianceStore, extending earlier: [[UInt8]]) async throws -> [AuditEntry] {
        let size = try await store.auditTreeSize()
        let bytes = try await store.auditEntries(from: 0, to: size)
        let entries = try bytes.map { try AuditEntry(entryBytes: $0) }
        #expect(entries.map(\.index) == Array(0..<size))
        #expect(try await store.auditLeafHashes(count: size) == bytes.map { MerkleTree.leafHash($0).bytes })
        #expect(Array(bytes.prefix(earlier.count)) == earlier, "appending rewrote earlier entries")
        let old = MerkleTree(entries: earlier)
        let new = MerkleTree(entries: bytes)
        if !earlier.isEmpty {
            #expect(MerkleProof.verifyConsistency(oldSize: earlier.count, oldRoot: old.rootHash, newSize: size, newRoot: new.rootHash,
                                                  proof: try new.consistencyProof(from: earlier.count)))
        }
        return entries
    }

    @Test("a release without a stored rollout is a candidate since its publication; an unknown release has none",
          arguments: StoreBackEnd.available)
    func candidates(backEnd: StoreBackEnd) async throws {
        let (store, _, cleanup) = try await FederationStoreTests.open(backEnd)
        defer { cleanup() }
        #expect(try await store.modelRollouts().isEmpty)
        try await Self.publishReleases(2, in: store)
        let expected = [1, 2].map { StoredModelRollout(version: $0, state: .candidate, updatedAt: Self.now) }
        #expect(try await store.modelRollouts() == expected)
        #expect(try await store.modelRollout(version: 2) == expected[1])
        #expect(try await store.modelRollout(version: 3) == nil)
    }

    @Test("a transition happens only from an expected state, and only for a release that exists; a rollout of another release is refused",
          arguments: StoreBackEnd.available)
    func compareAndSet(backEnd: StoreBackEnd) async throws {
        let (store, _, cleanup) = try await FederationStoreTests.open(backEnd)
        defer { cleanup() }
        let audit = try #require(store as? any ComplianceStore)
        try await Self.publishReleases(2, in: store)
        let shadow = StoredModelRollout(version: 1, state: .shadow, updatedAt: Self.now.addingTimeInterval(60))

        #expect(try await store.transitionModelRollout(version: 1, from: [.shadow], to: shadow, actor: "erin") == false,
                "a release without a rollout is a candidate, not in shadow")
        #expect(try await store.transitionModelRollout(version: 1, from: [.candidate], to: shadow, actor: "erin"))
        #expect(try await store.modelRollout(version: 1) == shadow)

        let size = try await audit.auditTreeSize()
        var late = shadow
        late.reason = "a second approver acting on a stale read"
        #expect(try await store.transitionModelRollout(version: 1, from: [.candidate], to: late, actor: "olga") == false)
        #expect(try await store.modelRollout(version: 1) == shadow, "a refused transition writes nothing")
        #expect(try await audit.auditTreeSize() == size, "and logs nothing")

        #expect(try await store.transitionModelRollout(version: 1, from: [.shadow, .canary], to: Self.canary(), actor: "olga"))
        #expect(try await store.modelRollout(version: 1) == Self.canary())
        #expect(try await store.modelRollout(version: 2)?.state == .candidate, "the other release is untouched")

        #expect(try await store.transitionModelRollout(version: 9, from: Set(RolloutState.allCases), to: Self.canary(9), actor: "olga")
                == false, "no such release")
        #expect(try await audit.auditTreeSize() == size + 1)
        await #expect(throws: ModelRolloutStoreError.versionMismatch(version: 2, rolloutVersion: 1)) {
            try await store.transitionModelRollout(version: 2, from: [.candidate], to: shadow, actor: "olga")
        }
        #expect(try await store.modelRollout(version: 2)?.state == .candidate)
    }

    @Test("every field of a rollout reads back exactly, after a restart too, and a rollback keeps its reason",
          arguments: StoreBackEnd.available)
    func roundTrip(backEnd: StoreBackEnd) async throws {
        let (store, reopen, cleanup) = try await FederationStoreTests.open(backEnd)
        defer { cleanup() }
        try await Self.publishReleases(2, in: store)
        #expect(try await store.transitionModelRollout(version: 2, from: [.candidate], to: Self.canary(2), actor: "olga"))
        let reopened = try #require(try await reopen() as? any FederationStore)
        #expect(try await reopened.modelRollout(version: 2) == Self.canary(2))

        var rolledBack = Self.canary(2)
        rolledBack.state = .rolledBack
        rolledBack.canaryDevices = []
        rolledBack.canaryPercent = nil
        rolledBack.comparison = []
        rolledBack.reason = "FNMR worse at branch-042 (McNemar p = 0.003)"
        rolledBack.updatedAt = Self.now.addingTimeInterval(7200.125)
        #expect(try await reopened.transitionModelRollout(version: 2, from: [.canary, .fleet], to: rolledBack, actor: "olga"))
        #expect(try await store.modelRollouts()
                == [StoredModelRollout(version: 1, state: .candidate, updatedAt: Self.now), rolledBack])
    }

    @Test("each transition appends one model_rollout entry by its actor in the same transaction, and the log still verifies",
          arguments: StoreBackEnd.available)
    func auditEntries(backEnd: StoreBackEnd) async throws {
        let (store, _, cleanup) = try await FederationStoreTests.open(backEnd)
        defer { cleanup() }
        let audit = try #require(store as? any ComplianceStore)
        try await Self.publishReleases(1, in: store)
        let before = try await audit.auditEntries(from: 0, to: try await audit.auditTreeSize())

        let shadow = StoredModelRollout(version: 1, state: .shadow, updatedAt: Self.now.addingTimeInterval(60))
        #expect(try await store.transitionModelRollout(version: 1, from: [.candidate], to: shadow, actor: "token:erin (engineer)"))
        #expect(try await store.transitionModelRollout(version: 1, from: [.shadow], to: Self.canary(), actor: "token:olga (admin)"))

        let entries = try await Self.verifyAuditLog(audit, extending: before)
        let added = Array(entries.dropFirst(before.count))
        #expect(added.map(\.kind) == [.modelRollout, .modelRollout])
        #expect(added.map(\.actor) == ["token:erin (engineer)", "token:olga (admin)"])
        #expect(added.map(\.time) == ["2026-09-21T14:14:20.000Z", "2026-09-21T15:13:20.750Z"], "dated when the rollout changed")
        let details = try #require(added.last).details
        let detail = { (key: String) in details.first { $0.key == key }?.value }
        #expect(detail("version") == .number(1))
        #expect(detail("from_state") == .string("shadow"))
        #expect(detail("to_state") == .string("canary"))
        #expect(detail("cohorts") == .array([
            .object([("camera_model", .string("cam-x1")), ("site", .string("branch-042"))]),
            .object([("camera_model", .string("cam-y2")), ("site", .string("lobby"))]),
        ]))
        #expect(detail("canary_devices") == .array([.string("kiosk-001"), .string("kiosk-007")]))
        #expect(detail("canary_percent") == .number(12.5))
        #expect(detail("approvals") == .number(2))
        #expect(detail("reason") == .string("not worse at FMR 1e-3"))
        #expect(added.first.flatMap { entry in entry.details.first { $0.key == "from_state" }?.value } == .string("candidate"))
    }

    @Test("two nodes moving the same release at once: exactly one transition wins", arguments: StoreBackEnd.available)
    func concurrentTransitions(backEnd: StoreBackEnd) async throws {
        let (first, reopen, cleanup) = try await FederationStoreTests.open(backEnd)
        defer { cleanup() }
        let second = try #require(try await reopen() as? any FederationStore)
        try await Self.publishReleases(1, in: first)
        let nodes: [any FederationStore] = [first, second]
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for attempt in 0..<12 {
                group.addTask {
                    try await nodes[attempt % 2].transitionModelRollout(
                        version: 1, from: [.candidate],
                        to: StoredModelRollout(version: 1, state: .shadow, reason: "attempt \(attempt)", updatedAt: Self.now),
                        actor: "node-\(attempt % 2)")
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 1)
        let audit = try #require(first as? any ComplianceStore)
        let entries = try await Self.verifyAuditLog(audit, extending: [])
        #expect(entries.filter { $0.kind == .modelRollout }.count == 1)
    }

    // MARK: Shadow scores

    static func shadowed(_ label: MatchOutcome.Label, score: Double, shadow: MatchOutcome.ShadowScore?,
                         pseudonym: String = Fixture.subject) -> MatchOutcome {
        var outcome = Fixture.outcome(label: label)
        outcome.score = score
        outcome.shadow = shadow
        outcome.subject.pseudonym = pseudonym
        return outcome
    }

    @Test("outcomes keep their shadow score; calibration reads it with the subject's pseudonym, and an access request shows it",
          arguments: StoreBackEnd.available)
    func shadowScores(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        let other = String(repeating: "1", count: 64)
        let outcomes = [
            Self.shadowed(.genuine, score: 0.75, shadow: .init(modelVersion: "m2", score: 0.8125)),
            Self.shadowed(.impostor, score: -0.25, shadow: .init(modelVersion: "m2", score: -0.5), pseudonym: other),
            Self.shadowed(.genuine, score: 0.5, shadow: nil),
        ]
        let batch = Fixture.incoming("kiosk-1", sequence: 1, outcomes: outcomes,
                                     consentEvents: [Fixture.consent(.grant), Fixture.consent(.grant, pseudonym: other)])
        guard case .stored = try await store.storeBatch(batch) else { Issue.record("not stored"); return }

        let read = try await store.calibrationOutcomes(from: nil, to: nil).sorted { $0.score > $1.score }
        #expect(read.map(\.score) == [0.75, 0.5, -0.25])
        #expect(read.map(\.subjectPseudonym) == [Fixture.subject, Fixture.subject, other])
        #expect(read.map(\.shadowModelVersion) == ["m2", nil, "m2"])
        #expect(read.map(\.shadowScore) == [0.8125, nil, -0.5])
        #expect(read.allSatisfy { $0.modelVersion == "m1" })

        let export = try await #require(store as? any ComplianceStore).subjectExport(pseudonym: other)
        #expect(export.outcomes.first?["shadow_model_version"] == .string("m2"))
        #expect(export.outcomes.first?["shadow_score"] == .number(-0.5))
    }

    @Test("a store from before shadow scores and rollouts is migrated: its outcomes have none, its releases are candidates",
          arguments: StoreBackEnd.available)
    func upgrade(backEnd: StoreBackEnd) async throws {
        let batch = Fixture.incoming("kiosk-1", sequence: 1, outcomes: [Fixture.outcome()])
        let undo = ["DROP TABLE model_rollouts", "ALTER TABLE outcomes DROP COLUMN shadow_model_version",
                    "ALTER TABLE outcomes DROP COLUMN shadow_score"]
        let migrated: any FeedbackStore & FederationStore
        var shutdown: (() async -> Void)?
        var directory: String?
        switch backEnd {
        case .sqlite:
            let path = (try temporaryDirectory("store") as NSString).appendingPathComponent("store.sqlite")
            directory = (path as NSString).deletingLastPathComponent
            do {
                let store = try SQLiteStore(path: path)
                try await Fixture.enrolled(store, "kiosk-1")
                _ = try await store.storeBatch(batch)
                try await Self.publishReleases(1, in: store)
                // Back to the schema of before the step.
                try await store.pool.write { db in
                    for statement in undo { try db.execute(sql: statement) }
                    try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v7-model-rollout'")
                }
            }
            migrated = try SQLiteStore(path: path)
        case .postgres:
            let url = try await PostgresTestDatabase.create()
            let store = try await PostgresStore(url: url, maximumConnections: 2)
            try await Fixture.enrolled(store, "kiosk-1")
            _ = try await store.storeBatch(batch)
            try await Self.publishReleases(1, in: store)
            await store.shutdown()
            try await PostgresTestDatabase.execute(undo + ["DELETE FROM schema_migrations WHERE name = 'v4-model-rollout'"], on: url)
            let reopened = try await PostgresStore(url: url, maximumConnections: 2)
            migrated = reopened
            shutdown = { await reopened.shutdown() }
        }
        defer { if let directory { try? FileManager.default.removeItem(atPath: directory) } }
        let read = try await migrated.calibrationOutcomes(from: nil, to: nil)
        #expect(read.count == 1)
        #expect(read.first?.shadowModelVersion == nil && read.first?.shadowScore == nil)
        #expect(read.first?.subjectPseudonym == Fixture.subject)
        #expect(try await migrated.modelRollouts() == [StoredModelRollout(version: 1, state: .candidate, updatedAt: Self.now)])
        #expect(try await migrated.transitionModelRollout(version: 1, from: [.candidate],
                                                          to: StoredModelRollout(version: 1, state: .shadow, updatedAt: Self.now),
                                                          actor: "erin"))
        await shutdown?()
    }
}
