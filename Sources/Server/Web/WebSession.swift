import Crypto
import FeedbackWire
import Foundation
import HTTPTypes
import Hummingbird
import Storage
import StrictJSON

/// When a page session ends: after `idle` without a request, and `absolute` after sign-in
/// whatever happens. Activity is written at most once a minute (or every tenth of the idle
/// time when that is shorter), so that an ordinary page view is a read; a session therefore
/// ends up to that much before `idle` has passed since its last request.
public struct WebSessionPolicy: Sendable, Equatable {
    public var idle: TimeInterval
    public var absolute: TimeInterval

    public init(idle: TimeInterval, absolute: TimeInterval) {
        self.idle = idle
        self.absolute = absolute
    }

    init(configuration: ServerConfiguration) {
        self.init(idle: TimeInterval(configuration.webSessionIdleSeconds), absolute: TimeInterval(configuration.webSessionAbsoluteSeconds))
    }

    enum State: Equatable {
        /// Open; `recordActivity` when its last-seen time is old enough to be written again.
        case open(recordActivity: Bool)
        case expired
    }

    var activityInterval: TimeInterval { min(60, idle / 10) }

    func state(of session: WebSessionRecord, at now: Date) -> State {
        if now >= session.openedAt.addingTimeInterval(absolute) || now >= session.lastSeenAt.addingTimeInterval(idle) { return .expired }
        return .open(recordActivity: now.timeIntervalSince(session.lastSeenAt) >= activityInterval)
    }
}

/// Sign-in for the pages. Signing in with a role token opens a session in the store (every
/// node behind a balancer sees it); the cookie (HttpOnly, Secure, SameSite=Strict, scoped to
/// /ui) holds the session's random id, never the token, and the store keeps only the id's
/// SHA-256. A session ends when it has been idle or open too long (`WebSessionPolicy`), when
/// its person signs out, and when its token is revoked. Forms post back a token derived from
/// the session id, which a page of another site cannot know.
struct WebSessions: Sendable {
    static let cookieName = "faceloop_session"
    static let path = "/ui"
    let tokens: any FeedbackStore
    let store: any WebSessionStore
    let policy: WebSessionPolicy
    let now: @Sendable () -> Date

    struct Session: Sendable {
        let record: APITokenRecord
        /// The SHA-256 of the session's id, as the store knows it.
        let sha256: String
        let csrf: String

        func may(_ roles: Set<Role>) -> Bool { record.may(roles) }
    }

    /// The signed-in person: nil without a cookie, for an unknown session, one whose token was
    /// revoked, or one past its expiry (which is deleted on the way).
    func session(_ request: Request) async throws -> Session? {
        guard let id = Self.sessionID(in: request) else { return nil }
        let sha256 = Self.sha256(id)
        guard let stored = try await store.webSession(sha256: sha256) else { return nil }
        let now = now()
        switch policy.state(of: stored, at: now) {
        case .expired:
            _ = try await store.closeWebSession(sha256: sha256)
            return nil
        case let .open(recordActivity):
            if recordActivity { try await store.touchWebSession(sha256: sha256, at: now) }
        }
        return Session(record: stored.token, sha256: sha256, csrf: Self.formToken(forSession: id))
    }

    /// Opens a session for a token pasted into the sign-in form: the session's id for the
    /// cookie and who signed in, nil if the token opens nothing. A session the browser still
    /// had ends.
    func signIn(token: String, replacing request: Request) async throws -> (id: String, record: APITokenRecord)? {
        guard Self.isWellFormed(token) else { return nil }
        let tokenSHA256 = APIToken.sha256(token)
        guard let record = try await tokens.apiToken(sha256: tokenSHA256) else { return nil }
        let id = Self.newSessionID()
        guard try await store.openWebSession(sha256: Self.sha256(id), tokenSHA256: tokenSHA256, at: now()) else { return nil }
        if let previous = Self.sessionID(in: request) { _ = try await store.closeWebSession(sha256: Self.sha256(previous)) }
        return (id, record)
    }

    func signOut(_ session: Session) async throws {
        _ = try await store.closeWebSession(sha256: session.sha256)
    }

    /// Deletes the sessions past their expiry; returns how many.
    func sweep() async throws -> Int {
        let now = now()
        return try await store.sweepWebSessions(lastSeenBefore: now.addingTimeInterval(-policy.idle),
                                                openedBefore: now.addingTimeInterval(-policy.absolute))
    }

    private static func sessionID(in request: Request) -> String? {
        guard let id = request.cookies[cookieName]?.value, isWellFormed(id) else { return nil }
        return id
    }

    /// 256 bits from the system's cryptographically secure generator, base64url.
    static func newSessionID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func sha256(_ id: String) -> String {
        SHA256.hash(data: Data(id.utf8)).lowercaseHex
    }

    /// Tokens and session ids are base64url (older tokens lack the `fl_` prefix): nothing else
    /// can be a cookie value or a token.
    static func isWellFormed(_ value: String) -> Bool {
        (1...128).contains(value.count) && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-".contains($0)) }
    }

    static func formToken(forSession id: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data("faceloop-web-form/2".utf8), using: SymmetricKey(data: Data(id.utf8))).lowercaseHex
    }

    /// Refuses a form that did not come from one of this person's pages: a missing or wrong
    /// form token, or a browser that says the request is cross-site.
    static func checkForm(_ request: Request, fields: [String: String], session: Session) throws {
        try checkOrigin(request)
        guard let sent = fields["csrf"], constantTimeEqual(sent, session.csrf) else {
            throw ProblemResponse(.forbidden, "the form is stale or did not come from this server's pages; reload the page and try again")
        }
    }

    /// Refuses a post the browser marks as coming from another site (`Sec-Fetch-Site`).
    static func checkOrigin(_ request: Request) throws {
        if let site = request.headers[.secFetchSite], site != "same-origin", site != "none" {
            throw ProblemResponse(.forbidden, "forms are accepted only from this server's own pages")
        }
    }

    /// The browser may drop the cookie once the session cannot be open any more.
    func signedIn(sessionID: String) -> Cookie {
        Cookie(name: Self.cookieName, value: sessionID, maxAge: Int(policy.absolute), path: Self.path, secure: true, httpOnly: true,
               sameSite: .strict)
    }

    static var signedOut: Cookie {
        Cookie(name: cookieName, value: "", maxAge: 0, path: path, secure: true, httpOnly: true, sameSite: .strict)
    }

    private static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8), b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

extension HTTPField.Name {
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
