import Crypto
import Foundation
import GRDB
@testable import Storage
import TestSupport
import Testing

/// The pages' sessions on both back ends: stored by hash only, tied to an active token, ended
/// by revoking it in the same commit, seen by a second store on the same database (another
/// node), swept by their times.
@Suite("Web sessions in the store")
struct WebSessionStoreTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static let alice = sha256("fl_alice-token"), bob = sha256("fl_bob-token")

    /// A store with two engineer tokens, as `sessions`.
    static func open(_ backEnd: StoreBackEnd) async throws
        -> (any FeedbackStore, any WebSessionStore, reopen: @Sendable () async throws -> any FeedbackStore, cleanup: () -> Void) {
        let (store, reopen, cleanup) = try await backEnd.open()
        try await store.addAPIToken(sha256: alice, role: "engineer", label: "alice", at: now, actor: "test")
        try await store.addAPIToken(sha256: bob, role: "engineer", label: "bob", at: now, actor: "test")
        return (store, try #require(store as? any WebSessionStore), reopen, cleanup)
    }

    /// What the table holds, read past the protocol: the key column and the token column.
    static func storedRows(_ store: any FeedbackStore) async throws -> [[String]] {
        let statement = StoreStatement("SELECT session_sha256, token_sha256 FROM web_sessions ORDER BY session_sha256")
        if let sqlite = store as? SQLiteStore {
            return try await sqlite.pool.read { db in try db.fetchAll(statement).map { [try $0.text("session_sha256"), try $0.text("token_sha256")] } }
        }
        let postgres = try #require(store as? PostgresStore)
        return try await postgres.read { db in try await db.fetchAll(statement).map { [try $0.text("session_sha256"), try $0.text("token_sha256")] } }
    }

    @Test("a session is stored by its hash for an active token only, and read back with its token and times", arguments: StoreBackEnd.available)
    func openAndRead(backEnd: StoreBackEnd) async throws {
        let (store, sessions, _, cleanup) = try await Self.open(backEnd)
        defer { cleanup() }
        let id = "session-id-of-alice", hash = Self.sha256(id)
        #expect(try await sessions.openWebSession(sha256: hash, tokenSHA256: Self.alice, at: Self.now))
        #expect(try await Self.storedRows(store) == [[hash, Self.alice]], "only the hash of the id is stored")
        let read = try #require(try await sessions.webSession(sha256: hash))
        #expect(read == WebSessionRecord(token: APITokenRecord(role: "engineer", label: "alice", sha256: Self.alice),
                                         openedAt: Self.now, lastSeenAt: Self.now))
        #expect(try await sessions.webSession(sha256: Self.sha256("another id")) == nil)

        #expect(try await sessions.openWebSession(sha256: Self.sha256("x"), tokenSHA256: Self.sha256("unknown token"), at: Self.now) == false)
        #expect(try await store.revokeAPIToken(id: String(Self.bob.prefix(16)), at: Self.now, actor: "test"))
        #expect(try await sessions.openWebSession(sha256: Self.sha256("y"), tokenSHA256: Self.bob, at: Self.now) == false,
                "a revoked token opens no session")
        #expect(try await Self.storedRows(store).count == 1)
    }

    @Test("activity moves the last-seen time forward only; closing ends the session once", arguments: StoreBackEnd.available)
    func touchAndClose(backEnd: StoreBackEnd) async throws {
        let (_, sessions, _, cleanup) = try await Self.open(backEnd)
        defer { cleanup() }
        let hash = Self.sha256("s")
        #expect(try await sessions.openWebSession(sha256: hash, tokenSHA256: Self.alice, at: Self.now))
        try await sessions.touchWebSession(sha256: hash, at: Self.now.addingTimeInterval(120))
        #expect(try await sessions.webSession(sha256: hash)?.lastSeenAt == Self.now.addingTimeInterval(120))
        // A node whose request was older (or whose clock lags) does not move it back.
        try await sessions.touchWebSession(sha256: hash, at: Self.now.addingTimeInterval(60))
        #expect(try await sessions.webSession(sha256: hash)?.lastSeenAt == Self.now.addingTimeInterval(120))
        #expect(try await sessions.webSession(sha256: hash)?.openedAt == Self.now)
        #expect(try await sessions.closeWebSession(sha256: hash))
        #expect(try await sessions.webSession(sha256: hash) == nil)
        #expect(try await sessions.closeWebSession(sha256: hash) == false)
    }

    @Test("revoking a token deletes all of its sessions in the revocation's commit, and only its", arguments: StoreBackEnd.available)
    func revocationEndsSessions(backEnd: StoreBackEnd) async throws {
        let (store, sessions, _, cleanup) = try await Self.open(backEnd)
        defer { cleanup() }
        for (id, token) in [("a1", Self.alice), ("a2", Self.alice), ("b1", Self.bob)] {
            #expect(try await sessions.openWebSession(sha256: Self.sha256(id), tokenSHA256: token, at: Self.now))
        }
        #expect(try await store.revokeAPIToken(id: String(Self.alice.prefix(16)), at: Self.now, actor: "test"))
        #expect(try await Self.storedRows(store) == [[Self.sha256("b1"), Self.bob]], "the rows are gone, not merely refused")
        #expect(try await sessions.webSession(sha256: Self.sha256("a1")) == nil)
        #expect(try await sessions.webSession(sha256: Self.sha256("b1"))?.token.label == "bob")
    }

    @Test("another store on the same database sees, extends and ends the same session", arguments: StoreBackEnd.available)
    func everyNodeSeesIt(backEnd: StoreBackEnd) async throws {
        let (_, sessions, reopen, cleanup) = try await Self.open(backEnd)
        defer { cleanup() }
        let hash = Self.sha256("shared")
        #expect(try await sessions.openWebSession(sha256: hash, tokenSHA256: Self.alice, at: Self.now))
        let other = try #require(try await reopen() as? any WebSessionStore)
        #expect(try await other.webSession(sha256: hash)?.token.label == "alice")
        try await other.touchWebSession(sha256: hash, at: Self.now.addingTimeInterval(300))
        #expect(try await sessions.webSession(sha256: hash)?.lastSeenAt == Self.now.addingTimeInterval(300))
        #expect(try await other.closeWebSession(sha256: hash))
        #expect(try await sessions.webSession(sha256: hash) == nil)
    }

    @Test("the sweep deletes sessions idle too long, open too long, or of a revoked token, and keeps the rest", arguments: StoreBackEnd.available)
    func sweep(backEnd: StoreBackEnd) async throws {
        let (store, sessions, _, cleanup) = try await Self.open(backEnd)
        defer { cleanup() }
        let idle = Self.sha256("idle"), old = Self.sha256("old"), fresh = Self.sha256("fresh"), orphan = Self.sha256("orphan")
        #expect(try await sessions.openWebSession(sha256: idle, tokenSHA256: Self.alice, at: Self.now))
        #expect(try await sessions.openWebSession(sha256: old, tokenSHA256: Self.alice, at: Self.now.addingTimeInterval(-13 * 3600)))
        try await sessions.touchWebSession(sha256: old, at: Self.now.addingTimeInterval(3500))
        #expect(try await sessions.openWebSession(sha256: fresh, tokenSHA256: Self.alice, at: Self.now.addingTimeInterval(3000)))
        #expect(try await sessions.openWebSession(sha256: orphan, tokenSHA256: Self.bob, at: Self.now.addingTimeInterval(3000)))
        // A session that slipped in beside a revocation on another node: its token's row says revoked.
        let revokeOnly = StoreStatement("UPDATE api_tokens SET revoked_at = ? WHERE token_sha256 = ?", Self.now, Self.bob)
        if let sqlite = store as? SQLiteStore {
            try await sqlite.pool.write { db in try db.execute(revokeOnly) }
        } else {
            let postgres = try #require(store as? PostgresStore)
            try await postgres.write { db in try await db.execute(revokeOnly) }
        }
        let at = Self.now.addingTimeInterval(3600)
        let removed = try await sessions.sweepWebSessions(lastSeenBefore: at.addingTimeInterval(-1800), openedBefore: at.addingTimeInterval(-12 * 3600))
        #expect(removed == 3)
        #expect(try await Self.storedRows(store).map { $0[0] } == [fresh])
    }
}
