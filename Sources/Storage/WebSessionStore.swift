import Foundation
import GRDB

/// The web pages' sign-in sessions, kept in the store so that every node behind a balancer
/// sees the same ones. A session is known only by the SHA-256 of its id (the id lives in the
/// browser's cookie) and belongs to the API token it was opened with: revoking the token
/// deletes its sessions in the revocation's transaction (`StoreChange.revokeAPIToken`).
/// When a session expires is the server's rule (`WebSessionPolicy`); the store keeps the
/// times it needs.
public protocol WebSessionStore: Sendable {
    /// Stores a session for the token, if the token is active; false, storing nothing, when it
    /// is unknown or revoked.
    func openWebSession(sha256: String, tokenSHA256: String, at time: Date) async throws -> Bool
    /// The session and its token; nil when there is no such session or its token was revoked.
    func webSession(sha256: String) async throws -> WebSessionRecord?
    /// Records activity: the session's last-seen time moves forward to `time`, never back.
    func touchWebSession(sha256: String, at time: Date) async throws
    /// Ends a session; false when there was none.
    func closeWebSession(sha256: String) async throws -> Bool
    /// Deletes the sessions last seen before `lastSeenBefore`, those opened before
    /// `openedBefore`, and any whose token is revoked; returns how many.
    func sweepWebSessions(lastSeenBefore: Date, openedBefore: Date) async throws -> Int
}

public struct WebSessionRecord: Sendable, Equatable {
    public var token: APITokenRecord
    public var openedAt: Date
    public var lastSeenAt: Date

    public init(token: APITokenRecord, openedAt: Date, lastSeenAt: Date) {
        self.token = token
        self.openedAt = openedAt
        self.lastSeenAt = lastSeenAt
    }
}

// MARK: The table

extension StoreTables {
    /// Not among `all`: `faceloop admin migrate-store` leaves sessions behind on purpose
    /// (they are short-lived stand-ins for tokens; people sign in again on the new store).
    static let webSessions = StoreTable("web_sessions", [
        .text("session_sha256", .primaryKey),
        .text("token_sha256", .references("api_tokens", "token_sha256")),
        .time("opened_at"),
        .time("last_seen_at"),
    ], indexes: ["web_sessions_by_token": ["token_sha256"]])

    /// Server-side sessions for the pages (SQLite's v10, PostgreSQL's v7).
    static func webSessionTable(_ dialect: StoreDialect) -> [String] {
        [webSessions.create(dialect), webSessions.createIndex("web_sessions_by_token")]
    }
}

// MARK: Statements

extension StoreSQL {
    /// Read-locks the token's row when it is active, so that a revocation committing meanwhile
    /// is waited for rather than missed.
    func activeAPITokenForSession(sha256: String) -> StoreStatement {
        StoreStatement("SELECT 1 FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL" + forShare, sha256)
    }

    func insertWebSession(sha256: String, tokenSHA256: String, at time: Date) -> StoreStatement {
        StoreStatement("INSERT INTO web_sessions (session_sha256, token_sha256, opened_at, last_seen_at) VALUES (?, ?, ?, ?)",
                       sha256, tokenSHA256, time, time)
    }

    func webSession(sha256: String) -> StoreStatement {
        StoreStatement("""
            SELECT t.role, t.label, t.token_sha256, s.opened_at, s.last_seen_at
            FROM web_sessions s JOIN api_tokens t ON t.token_sha256 = s.token_sha256
            WHERE s.session_sha256 = ? AND t.revoked_at IS NULL
            """, sha256)
    }

    func touchWebSession(sha256: String, at time: Date) -> StoreStatement {
        StoreStatement("UPDATE web_sessions SET last_seen_at = ? WHERE session_sha256 = ? AND last_seen_at < ?", time, sha256, time)
    }

    func deleteWebSession(sha256: String) -> StoreStatement {
        StoreStatement("DELETE FROM web_sessions WHERE session_sha256 = ?", sha256)
    }

    /// Every session of the token with this id (the first 16 hex digits of its SHA-256, as
    /// `revokeAPIToken` picks the token).
    func deleteWebSessions(tokenID: String) -> StoreStatement {
        StoreStatement("DELETE FROM web_sessions WHERE substr(token_sha256, 1, 16) = ?", tokenID)
    }

    func sweepWebSessions(lastSeenBefore: Date, openedBefore: Date) -> StoreStatement {
        StoreStatement("""
            DELETE FROM web_sessions
            WHERE last_seen_at < ? OR opened_at < ?
               OR token_sha256 IN (SELECT token_sha256 FROM api_tokens WHERE revoked_at IS NOT NULL)
            """, lastSeenBefore, openedBefore)
    }
}

extension StoreRows {
    static func webSession(_ row: some StoreRow) throws -> WebSessionRecord {
        WebSessionRecord(token: APITokenRecord(role: try row.text("role"), label: try row.text("label"), sha256: try row.text("token_sha256")),
                         openedAt: try row.date("opened_at"), lastSeenAt: try row.date("last_seen_at"))
    }
}

// MARK: Back ends

extension SQLiteStore: WebSessionStore {
    public func openWebSession(sha256: String, tokenSHA256: String, at time: Date) async throws -> Bool {
        try await pool.write { db in
            guard try db.exists(Self.sql.activeAPITokenForSession(sha256: tokenSHA256)) else { return false }
            try db.execute(Self.sql.insertWebSession(sha256: sha256, tokenSHA256: tokenSHA256, at: time))
            return true
        }
    }

    public func webSession(sha256: String) async throws -> WebSessionRecord? {
        try await pool.read { db in try db.fetchOne(Self.sql.webSession(sha256: sha256)).map(StoreRows.webSession) }
    }

    public func touchWebSession(sha256: String, at time: Date) async throws {
        try await pool.write { db in try db.execute(Self.sql.touchWebSession(sha256: sha256, at: time)) }
    }

    public func closeWebSession(sha256: String) async throws -> Bool {
        try await pool.write { db in try db.changes(Self.sql.deleteWebSession(sha256: sha256)) > 0 }
    }

    public func sweepWebSessions(lastSeenBefore: Date, openedBefore: Date) async throws -> Int {
        try await pool.write { db in try db.changes(Self.sql.sweepWebSessions(lastSeenBefore: lastSeenBefore, openedBefore: openedBefore)) }
    }
}

extension PostgresStore: WebSessionStore {
    public func openWebSession(sha256: String, tokenSHA256: String, at time: Date) async throws -> Bool {
        try await write { db in
            guard try await db.exists(Self.sql.activeAPITokenForSession(sha256: tokenSHA256)) else { return false }
            try await db.execute(Self.sql.insertWebSession(sha256: sha256, tokenSHA256: tokenSHA256, at: time))
            return true
        }
    }

    public func webSession(sha256: String) async throws -> WebSessionRecord? {
        try await single { db in try await db.fetchOne(Self.sql.webSession(sha256: sha256)).map(StoreRows.webSession) }
    }

    public func touchWebSession(sha256: String, at time: Date) async throws {
        try await single { db in try await db.execute(Self.sql.touchWebSession(sha256: sha256, at: time)) }
    }

    public func closeWebSession(sha256: String) async throws -> Bool {
        try await single { db in try await db.changes(Self.sql.deleteWebSession(sha256: sha256)) > 0 }
    }

    public func sweepWebSessions(lastSeenBefore: Date, openedBefore: Date) async throws -> Int {
        try await single { db in try await db.changes(Self.sql.sweepWebSessions(lastSeenBefore: lastSeenBefore, openedBefore: openedBefore)) }
    }
}
