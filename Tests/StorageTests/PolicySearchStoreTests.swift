import AuditLog
import Compliance
import FeedbackWire
import Foundation
import GRDB
import PostgresTestSupport
@testable import Storage
import TestSupport
import Testing

/// Policy searches, the same contract on every back end: a write stores the candidate releases
/// (without a round), their rollouts and the search in one transaction with its audit entries,
/// or nothing at all.
@Suite("Policy searches in the store")
struct PolicySearchStoreTests {
    static let now = FeedbackStoreTests.now
    static let cohort = RolloutCohort(cameraModel: "cam-x1", site: "branch-042")

    static func release(_ version: Int) -> NewModelRelease {
        NewModelRelease(version: version, payload: Array("p\(version)".utf8), envelope: Array("e\(version)".utf8))
    }

    static func shadow(_ version: Int, at time: Date = now) -> PolicySearchMove {
        PolicySearchMove(from: [.candidate], next: StoredModelRollout(version: version, state: .shadow, cohorts: [cohort], updatedAt: time))
    }

    static func search(candidates: [Int], step: Int = 0, id: Int = 0, at time: Date = now) -> StoredPolicySearch {
        StoredPolicySearch(id: id, cohort: cohort, baseVersion: 1, targetFMR: 1e-3, state: .searching, step: step,
                           candidates: candidates.map { PolicySearchCandidate(version: $0, step: step, state: .active) },
                           proposedVersion: nil, createdBy: "token:erin (engineer)", createdAt: now, updatedAt: time)
    }

    @Test("start: releases without a round, rollouts in shadow for the cohort, the search and their audit entries; refusals write nothing",
          arguments: StoreBackEnd.available)
    func start(backEnd: StoreBackEnd) async throws {
        let (store, reopen, cleanup) = try await FederationStoreTests.open(backEnd)
        defer { cleanup() }
        let searches = try #require(store as? any PolicySearchStore)
        let audit = try #require(store as? any ComplianceStore)
        try await ModelRolloutStoreTests.publishReleases(1, in: store)
        let size = try await audit.auditTreeSize()

        // Versions that are not the next ones after the newest release: nothing is written.
        let stale = PolicySearchWrite(search: Self.search(candidates: [1, 2]), expectedStep: 0, releases: [Self.release(1), Self.release(2)],
                                      moves: [Self.shadow(1), Self.shadow(2)], actor: "token:erin (engineer)")
        #expect(try await searches.writePolicySearch(stale) == .versionsTaken(newest: 1))
        #expect(try await audit.auditTreeSize() == size)
        #expect(try await searches.policySearches().isEmpty)

        let write = PolicySearchWrite(search: Self.search(candidates: [2, 3]), expectedStep: 0, releases: [Self.release(2), Self.release(3)],
                                      moves: [Self.shadow(2), Self.shadow(3)], actor: "token:erin (engineer)")
        var expected = Self.search(candidates: [2, 3], id: 1)
        #expect(try await searches.writePolicySearch(write) == .written(expected))
        let reopened = try #require(try await reopen() as? any FederationStore & PolicySearchStore)
        #expect(try await reopened.policySearch(id: 1) == expected)
        #expect(try await reopened.modelReleases().map(\.roundID) == [1, 0, 0], "a search's release has no round")
        #expect(try await reopened.modelRollouts().map(\.state) == [.candidate, .shadow, .shadow])
        #expect(try await reopened.modelRollout(version: 3)?.cohorts == [Self.cohort])
        let entries = try await audit.auditEntries(from: size, to: try await audit.auditTreeSize()).map { try AuditEntry(entryBytes: $0) }
        #expect(entries.map(\.kind) == [.releasePublished, .releasePublished, .modelRollout, .modelRollout])
        #expect(entries[0].details.first { $0.key == "policy_search" }?.value == .number(1))

        // A second search of the cohort while the first searches: refused, nothing written.
        let second = PolicySearchWrite(search: Self.search(candidates: [4]), expectedStep: 0, releases: [Self.release(4)],
                                       moves: [Self.shadow(4)], actor: "olga")
        let after = try await audit.auditTreeSize()
        #expect(try await searches.writePolicySearch(second) == .cohortBusy(searchID: 1))
        #expect(try await store.modelReleases().count == 3)
        #expect(try await audit.auditTreeSize() == after)

        // A refinement from a stale step, or moving a rollout that is no longer where it was: nothing written.
        expected.step = 1
        expected.candidates[1].state = .eliminated
        let eliminate = PolicySearchMove(from: [.shadow], next: StoredModelRollout(version: 3, state: .rolledBack, cohorts: [Self.cohort],
                                                                                   reason: "halved", updatedAt: Self.now))
        #expect(try await searches.writePolicySearch(PolicySearchWrite(search: expected, expectedStep: 5, releases: [], moves: [eliminate],
                                                                       actor: "olga")) == .searchChanged)
        let wrongState = PolicySearchMove(from: [.canary], next: eliminate.next)
        #expect(try await searches.writePolicySearch(PolicySearchWrite(search: expected, expectedStep: 0, releases: [Self.release(4)],
                                                                       moves: [Self.shadow(4), wrongState], actor: "olga"))
                == .rolloutChanged(version: 3))
        #expect(try await store.modelReleases().count == 3)
        #expect(try await audit.auditTreeSize() == after)
        #expect(try await searches.policySearch(id: 1)?.step == 0)

        expected.candidates.append(PolicySearchCandidate(version: 4, step: 1, state: .active))
        #expect(try await searches.writePolicySearch(PolicySearchWrite(search: expected, expectedStep: 0, releases: [Self.release(4)],
                                                                       moves: [Self.shadow(4), eliminate], actor: "olga"))
                == .written(expected))
        #expect(try await store.modelRollout(version: 3)?.state == .rolledBack)
        #expect(try await searches.policySearches() == [expected])
        #expect(try await searches.policySearch(id: 2) == nil)
    }

    /// A release from a round in canary, which the upgrade must keep as it is.
    static func populate(_ store: any FederationStore) async throws -> [StoredModelRollout] {
        try await ModelRolloutStoreTests.publishReleases(2, in: store)
        #expect(try await store.transitionModelRollout(version: 2, from: [.candidate], to: ModelRolloutStoreTests.canary(2), actor: "olga"))
        return try await store.modelRollouts()
    }

    /// After the upgrade: the releases and rollouts as they were, and a search can be written.
    static func checkUpgraded(_ store: any FederationStore & PolicySearchStore, releases: [StoredModelRelease],
                              rollouts: [StoredModelRollout]) async throws {
        #expect(try await store.modelReleases() == releases)
        #expect(try await store.modelRollouts() == rollouts)
        let write = PolicySearchWrite(search: search(candidates: [3]), expectedStep: 0, releases: [release(3)], moves: [shadow(3)],
                                      actor: "olga")
        #expect(try await store.writePolicySearch(write) == .written(search(candidates: [3], id: 1)))
        #expect(try await store.modelReleases().map(\.roundID) == [1, 2, 0])
    }

    @Test("SQLite v16 rebuilds model_releases of an older file with its releases and the rollouts that point at them")
    func sqliteUpgrade() async throws {
        let directory = try temporaryDirectory("policy-search-upgrade")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let store = try SQLiteStore(path: path)
        let rollouts = try await Self.populate(store)
        let releases = try await store.modelReleases()
        // The file as it was before the step: the table as v3 made it, no policy_searches.
        try await store.pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try db.inTransaction {
                try db.execute(sql: "DROP TABLE policy_searches")
                try db.execute(sql: StoreTables.modelReleasesFromRounds.create(.sqlite).replacingOccurrences(
                    of: "CREATE TABLE model_releases", with: "CREATE TABLE old_releases"))
                try db.execute(sql: "INSERT INTO old_releases SELECT * FROM model_releases")
                try db.execute(sql: "DROP TABLE model_releases")
                try db.execute(sql: "ALTER TABLE old_releases RENAME TO model_releases")
                try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v16-policy-searches'")
                return .commit
            }
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        let notNull = try await store.pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT \"notnull\" FROM pragma_table_info('model_releases') WHERE name = 'round_id'")
        }
        #expect(notNull == true, "the older file's round_id is NOT NULL")
        let upgraded = try SQLiteStore(path: path)
        try await Self.checkUpgraded(upgraded, releases: releases, rollouts: rollouts)
        let violations = try await upgraded.pool.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }
        #expect(violations.isEmpty)
    }

    @Test("PostgreSQL v13 makes round_id optional in an older database and keeps its releases", .enabled(if: PostgresTestDatabase.isAvailable))
    func postgresUpgrade() async throws {
        let url = try await PostgresTestDatabase.create()
        let store = try await PostgresStore(url: url, maximumConnections: 2)
        let rollouts: [StoredModelRollout], releases: [StoredModelRelease]
        do {
            rollouts = try await Self.populate(store)
            releases = try await store.modelReleases()
            try await store.write { db in
                try await db.execute("DROP TABLE policy_searches")
                try await db.execute("ALTER TABLE model_releases ALTER COLUMN round_id SET NOT NULL")
                try await db.execute("DELETE FROM schema_migrations WHERE name = 'v13-policy-searches'")
            }
        } catch {
            await store.shutdown()
            throw error
        }
        await store.shutdown()
        let upgraded = try await PostgresStore(url: url, maximumConnections: 2)
        do {
            try await Self.checkUpgraded(upgraded, releases: releases, rollouts: rollouts)
        } catch {
            await upgraded.shutdown()
            throw error
        }
        await upgraded.shutdown()
    }
}
