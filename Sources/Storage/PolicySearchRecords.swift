import AuditLog
import Crypto
import FeedbackWire
import Foundation
import StrictJSON

/// Where a search for one cohort's capture-normalisation policy is: its candidates are scored
/// in shadow while it is `searching`; once `proposed`, its leader is in canary and the others
/// have left shadow.
public enum PolicySearchState: String, Sendable, Codable, CaseIterable {
    case searching, proposed
}

/// One candidate of a search: a model release (the base's adapter, the candidate's policy for
/// the searched cohort), the refinement step that added it (0 for the first round), and
/// whether it is still scored.
public struct PolicySearchCandidate: Sendable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable {
        /// In shadow for the cohort: kiosks score it.
        case active
        /// Left out by a refinement's halving; its rollout was rolled back.
        case eliminated
        /// The leader the search proposed; it went to canary.
        case proposed
        /// Left shadow when another candidate was proposed.
        case retired
    }

    public var version: Int
    public var step: Int
    public var state: State

    public init(version: Int, step: Int, state: State) {
        self.version = version
        self.step = step
        self.state = state
    }
}

/// A policy search as stored. The candidates' policies are in their signed releases; the
/// search keeps which releases they are.
public struct StoredPolicySearch: Sendable, Equatable {
    /// Numbered by the store from 1; 0 in a search not yet stored.
    public var id: Int
    public var cohort: RolloutCohort
    /// The release whose adapter and other cohorts' policies every candidate carries; 0 is the backbone.
    public var baseVersion: Int
    public var targetFMR: Double
    public var state: PolicySearchState
    /// How many refinements have been made.
    public var step: Int
    /// Every candidate ever published by the search, in order.
    public var candidates: [PolicySearchCandidate]
    public var proposedVersion: Int?
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: Int, cohort: RolloutCohort, baseVersion: Int, targetFMR: Double, state: PolicySearchState, step: Int,
                candidates: [PolicySearchCandidate], proposedVersion: Int?, createdBy: String, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.cohort = cohort
        self.baseVersion = baseVersion
        self.targetFMR = targetFMR
        self.state = state
        self.step = step
        self.candidates = candidates
        self.proposedVersion = proposedVersion
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// One rollout change a search write makes, by compare-and-set like `transitionModelRollout`.
public struct PolicySearchMove: Sendable, Equatable {
    public var from: Set<RolloutState>
    public var next: StoredModelRollout

    public init(from: Set<RolloutState>, next: StoredModelRollout) {
        self.from = from
        self.next = next
    }
}

/// What starting, refining or proposing a search writes, all in one transaction: the new
/// candidate releases (which no round made: their `round_id` is NULL), the rollout moves, and
/// the search as it is afterwards.
public struct PolicySearchWrite: Sendable, Equatable {
    /// `id` 0 starts a new search (the store numbers it); otherwise the stored search must
    /// still be `searching` at `expectedStep`.
    public var search: StoredPolicySearch
    public var expectedStep: Int
    /// Consecutive versions after the newest stored release, signed by the caller.
    public var releases: [NewModelRelease]
    public var moves: [PolicySearchMove]
    public var actor: String

    public init(search: StoredPolicySearch, expectedStep: Int, releases: [NewModelRelease], moves: [PolicySearchMove], actor: String) {
        self.search = search
        self.expectedStep = expectedStep
        self.releases = releases
        self.moves = moves
        self.actor = actor
    }
}

/// What became of a search write; nothing is written unless it is `written`.
public enum PolicySearchWriteResult: Sendable, Equatable {
    case written(StoredPolicySearch)
    /// Another search of the same cohort is still searching.
    case cohortBusy(searchID: Int)
    case noSuchSearch
    /// The search moved on (another refinement or a proposal) since the caller read it.
    case searchChanged
    /// A release was stored meanwhile: the versions given are taken; sign again.
    case versionsTaken(newest: Int)
    /// The release's rollout is no longer in a state the move starts from.
    case rolloutChanged(version: Int)
}

/// The searches for per-cohort capture-normalisation policies.
public protocol PolicySearchStore: Sendable {
    func policySearches() async throws -> [StoredPolicySearch]
    func policySearch(id: Int) async throws -> StoredPolicySearch?
    /// Applies `write` in one transaction, with a `release_published` audit entry for each
    /// new release and a `model_rollout` entry for each move; nothing when it is refused.
    func writePolicySearch(_ write: PolicySearchWrite) async throws -> PolicySearchWriteResult
}

// MARK: Table and migration

extension StoreTables {
    /// Policy searches (SQLite's v16, PostgreSQL's v13). The candidates are JSON text
    /// (`PolicySearchColumns`).
    static let policySearches = StoreTable("policy_searches", [
        .integer("search_id", .primaryKey),
        .text("camera_model"),
        .text("site"),
        .integer("base_version"),
        .real("target_fmr"),
        .text("state", .oneOf(PolicySearchState.allCases.map(\.rawValue))),
        .integer("step"),
        .text("candidates"),
        .integer("proposed_version", .optional),
        .text("created_by"),
        .time("created_at"),
        .time("updated_at"),
    ])

    /// `model_releases` as v3 (SQLite) and v1 (PostgreSQL) created it: every release came from a round.
    static let modelReleasesFromRounds = StoreTable("model_releases", [
        .integer("version", .primaryKey),
        .integer("round_id", .unique, .references("federation_rounds", "round_id")),
        .blob("payload"),
        .blob("envelope"),
        .time("published_at"),
    ])

    /// PostgreSQL's step: the table, and a release's round becomes optional (a search's
    /// candidates have none; NULLs do not collide under UNIQUE).
    static func policySearchTablesPostgres() -> [String] {
        [policySearches.create(.postgres), "ALTER TABLE model_releases ALTER COLUMN round_id DROP NOT NULL"]
    }

    /// SQLite's step: SQLite cannot drop a NOT NULL, so `model_releases` is rebuilt under its
    /// own name (the migrator defers foreign-key checks to the end of the step, so
    /// `model_rollouts` keeps pointing at it).
    static func policySearchTablesSQLite() -> [String] {
        let rebuilt = StoreTable("model_releases_rebuilt", modelReleases.columns)
        return [
            policySearches.create(.sqlite),
            rebuilt.create(.sqlite),
            "INSERT INTO model_releases_rebuilt (version, round_id, payload, envelope, published_at) "
                + "SELECT version, round_id, payload, envelope, published_at FROM model_releases",
            "DROP TABLE model_releases",
            "ALTER TABLE model_releases_rebuilt RENAME TO model_releases",
        ]
    }
}

/// The candidates column as JSON text, the same in both back ends:
/// `[{"version": 7, "step": 0, "state": "active"}]`.
enum PolicySearchColumns {
    static func candidates(_ candidates: [PolicySearchCandidate]) -> String {
        JSONValue.array(candidates.map {
            .object([("version", .number(Double($0.version))), ("step", .number(Double($0.step))), ("state", .string($0.state.rawValue))])
        }).serializedString
    }

    static func candidates(from text: String, id: Int) throws -> [PolicySearchCandidate] {
        guard let items = (try? JSONValue.parse(text))?.arrayValue else { throw PolicySearchStoreError.unreadableCandidates(id: id) }
        return try items.map { item in
            guard let version = item["version"]?.numberValue, let step = item["step"]?.numberValue,
                  let state = item["state"]?.stringValue.flatMap(PolicySearchCandidate.State.init(rawValue:)) else {
                throw PolicySearchStoreError.unreadableCandidates(id: id)
            }
            return PolicySearchCandidate(version: Int(version), step: Int(step), state: state)
        }
    }
}

public enum PolicySearchStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadableCandidates(id: Int)

    public var description: String {
        switch self {
        case let .unreadableCandidates(id): "policy_searches.candidates of search \(id) is not the JSON the store writes"
        }
    }
}

extension StoreSQL {
    var policySearches: StoreStatement { StoreStatement("SELECT * FROM policy_searches ORDER BY search_id") }

    func policySearch(id: Int) -> StoreStatement {
        StoreStatement("SELECT * FROM policy_searches WHERE search_id = ?", id)
    }

    func searchingPolicySearch(cohort: RolloutCohort) -> StoreStatement {
        StoreStatement("SELECT search_id FROM policy_searches WHERE state = 'searching' AND camera_model = ? AND site = ?",
                       cohort.cameraModel, cohort.site)
    }

    var newestPolicySearchID: StoreStatement { StoreStatement("SELECT MAX(search_id) FROM policy_searches") }
    var newestModelReleaseVersion: StoreStatement { StoreStatement("SELECT MAX(version) FROM model_releases") }

    /// A release no round made: a search's candidate.
    func insertCandidateRelease(_ release: NewModelRelease, at time: Date) -> StoreStatement {
        StoreStatement("INSERT INTO model_releases (version, round_id, payload, envelope, published_at) VALUES (?, NULL, ?, ?, ?)",
                       release.version, release.payload, release.envelope, time)
    }

    func upsertPolicySearch(_ search: StoredPolicySearch) -> StoreStatement {
        StoreStatement("""
            INSERT INTO policy_searches (search_id, camera_model, site, base_version, target_fmr, state, step, candidates,
                                         proposed_version, created_by, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (search_id) DO UPDATE SET state = excluded.state, step = excluded.step, candidates = excluded.candidates,
                proposed_version = excluded.proposed_version, updated_at = excluded.updated_at
            """, search.id, search.cohort.cameraModel, search.cohort.site, search.baseVersion, search.targetFMR, search.state.rawValue,
                       search.step, PolicySearchColumns.candidates(search.candidates), search.proposedVersion, search.createdBy,
                       search.createdAt, search.updatedAt)
    }
}

extension StoreRows {
    static func policySearch(_ row: some StoreRow) throws -> StoredPolicySearch {
        let id = try row.integer("search_id")
        return StoredPolicySearch(
            id: id, cohort: RolloutCohort(cameraModel: try row.text("camera_model"), site: try row.text("site")),
            baseVersion: try row.integer("base_version"), targetFMR: try row.real("target_fmr"),
            // A state this version does not know reads as proposed: it is no longer searching.
            state: PolicySearchState(rawValue: try row.text("state")) ?? .proposed, step: try row.integer("step"),
            candidates: try PolicySearchColumns.candidates(from: try row.text("candidates"), id: id),
            proposedVersion: try row.optionalInteger("proposed_version"), createdBy: try row.text("created_by"),
            createdAt: try row.date("created_at"), updatedAt: try row.date("updated_at"))
    }
}

extension StoreAuditDetails {
    /// A candidate release a policy search published (no round made it).
    static func policySearchPublication(version: Int, searchID: Int, cohort: RolloutCohort, envelope: [UInt8]) -> JSONValue {
        .object([
            ("release", .string("model")), ("version", .number(Double(version))), ("policy_search", .number(Double(searchID))),
            ("cohorts", ModelRolloutColumns.cohortsJSON([cohort])),
            ("envelope_sha256", .string(SHA256.hash(data: envelope).lowercaseHex)),
        ])
    }
}

/// A search write as both stores apply it inside their transaction, from what they read there.
enum PolicySearchWorkflow {
    /// What the store read in the write's transaction.
    struct Reads {
        /// The stored search (nil for a new one, or when there is no such search).
        var stored: StoredPolicySearch?
        /// The search still searching in the write's cohort, if any.
        var searchingInCohort: Int?
        var newestSearchID: Int?
        var newestRelease: Int?
        /// Each moved existing release's `modelRolloutState` row: nil when there is no such
        /// release, `.some(nil)` for a candidate without a rollout.
        var rolloutStates: [Int: String?]
    }

    enum Plan {
        case refused(PolicySearchWriteResult)
        case change(StoreChange, StoredPolicySearch)
    }

    static func plan(_ write: PolicySearchWrite, reads: Reads, sql: StoreSQL) throws -> Plan {
        var search = write.search
        if search.id == 0 {
            if let busy = reads.searchingInCohort { return .refused(.cohortBusy(searchID: busy)) }
            search.id = (reads.newestSearchID ?? 0) + 1
        } else {
            guard let stored = reads.stored else { return .refused(.noSuchSearch) }
            guard stored.state == .searching, stored.step == write.expectedStep else { return .refused(.searchChanged) }
        }
        let newest = reads.newestRelease ?? 0
        guard write.releases.map(\.version) == Array((newest + 1)..<(newest + 1 + write.releases.count)) else {
            return .refused(.versionsTaken(newest: newest))
        }
        var change = StoreChange([])
        for release in write.releases {
            change.statements.append(sql.insertCandidateRelease(release, at: search.updatedAt))
            change.audit.append(try PendingAuditEntry(
                .releasePublished, actor: write.actor,
                details: StoreAuditDetails.policySearchPublication(version: release.version, searchID: search.id, cohort: search.cohort,
                                                                   envelope: release.envelope),
                at: search.updatedAt))
        }
        let added = Set(write.releases.map(\.version))
        for move in write.moves {
            let version = move.next.version
            let exists = added.contains(version) || reads.rolloutStates[version] != nil
            let state = added.contains(version) ? nil : reads.rolloutStates[version] ?? nil
            guard let moved = try RolloutWorkflow.transition(version: version, releaseExists: exists, storedState: state, from: move.from,
                                                             to: move.next, actor: write.actor, sql: sql) else {
                return .refused(.rolloutChanged(version: version))
            }
            change.statements += moved.statements
            change.audit += moved.audit
        }
        change.statements.append(sql.upsertPolicySearch(search))
        return .change(change, search)
    }
}

// MARK: Back ends

extension SQLiteStore: PolicySearchStore {
    public func policySearches() async throws -> [StoredPolicySearch] {
        try await pool.read { db in try db.fetchAll(Self.sql.policySearches).map(StoreRows.policySearch) }
    }

    public func policySearch(id: Int) async throws -> StoredPolicySearch? {
        try await pool.read { db in try db.fetchOne(Self.sql.policySearch(id: id)).map(StoreRows.policySearch) }
    }

    public func writePolicySearch(_ change: PolicySearchWrite) async throws -> PolicySearchWriteResult {
        try await pool.write { db in
            var states: [Int: String?] = [:]
            for move in change.moves {
                if let row = try db.fetchOne(Self.sql.modelRolloutState(version: move.next.version)) {
                    states[move.next.version] = .some(try row.optionalText("state"))
                }
            }
            let reads = PolicySearchWorkflow.Reads(
                stored: try db.fetchOne(Self.sql.policySearch(id: change.search.id)).map(StoreRows.policySearch),
                searchingInCohort: try db.scalar(Int.self, Self.sql.searchingPolicySearch(cohort: change.search.cohort)),
                newestSearchID: try db.scalar(Int.self, Self.sql.newestPolicySearchID),
                newestRelease: try db.scalar(Int.self, Self.sql.newestModelReleaseVersion), rolloutStates: states)
            switch try PolicySearchWorkflow.plan(change, reads: reads, sql: Self.sql) {
            case let .refused(result): return result
            case let .change(statements, search):
                try db.apply(statements)
                return .written(search)
            }
        }
    }
}

extension PostgresStore: PolicySearchStore {
    public func policySearches() async throws -> [StoredPolicySearch] {
        try await read { db in try await db.fetchAll(Self.sql.policySearches).map(StoreRows.policySearch) }
    }

    public func policySearch(id: Int) async throws -> StoredPolicySearch? {
        try await read { db in try await db.fetchOne(Self.sql.policySearch(id: id)).map(StoreRows.policySearch) }
    }

    public func writePolicySearch(_ change: PolicySearchWrite) async throws -> PolicySearchWriteResult {
        try await write { db in
            // The rollouts' lock: searches, rollout steps and other searches take turns, so the
            // reads below stay true until the commit. (A round's release is not under it; a
            // version taken by one meanwhile fails the insert, and nothing is written.)
            try await db.execute("SELECT pg_advisory_xact_lock(?)", AdvisoryLock.modelRollouts)
            var states: [Int: String?] = [:]
            for move in change.moves {
                if let row = try await db.fetchOne(Self.sql.modelRolloutState(version: move.next.version)) {
                    states[move.next.version] = .some(try row.optionalText("state"))
                }
            }
            let reads = PolicySearchWorkflow.Reads(
                stored: try await db.fetchOne(Self.sql.policySearch(id: change.search.id)).map(StoreRows.policySearch),
                searchingInCohort: try await db.scalar(Int.self, Self.sql.searchingPolicySearch(cohort: change.search.cohort)),
                newestSearchID: try await db.scalar(Int.self, Self.sql.newestPolicySearchID),
                newestRelease: try await db.scalar(Int.self, Self.sql.newestModelReleaseVersion), rolloutStates: states)
            switch try PolicySearchWorkflow.plan(change, reads: reads, sql: Self.sql) {
            case let .refused(result): return result
            case let .change(statements, search):
                try await db.apply(statements)
                return .written(search)
            }
        }
    }
}
