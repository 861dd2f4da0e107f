import Crypto
import FeedbackWire
import Foundation
import HTTPTypes
import Hummingbird
import Storage
import StrictJSON

/// Sign-in for the pages. The cookie holds the role token itself (HttpOnly, Secure,
/// SameSite=Strict, scoped to /ui), so every server node behind a balancer checks it against
/// the shared store and a revoked token closes the pages at once. Forms post back a token
/// derived from it, which a page of another site cannot know.
struct WebSessions: Sendable {
    static let cookieName = "faceloop_session"
    static let path = "/ui"
    let store: any FeedbackStore

    struct Session: Sendable {
        let record: APITokenRecord
        let csrf: String

        func may(_ roles: Set<Role>) -> Bool { record.may(roles) }
    }

    /// The signed-in person, nil without a cookie or when its token is unknown or revoked.
    func session(_ request: Request) async throws -> Session? {
        guard let token = request.cookies[Self.cookieName]?.value, Self.isWellFormed(token),
              let record = try await store.apiToken(sha256: APIToken.sha256(token)) else { return nil }
        return Session(record: record, csrf: Self.formToken(for: token))
    }

    /// The record of a token pasted into the sign-in form, nil if it opens nothing.
    func record(forToken token: String) async throws -> APITokenRecord? {
        guard Self.isWellFormed(token) else { return nil }
        return try await store.apiToken(sha256: APIToken.sha256(token))
    }

    /// Tokens are base64url (older ones lack the `fl_` prefix): nothing else can be a cookie value.
    static func isWellFormed(_ token: String) -> Bool {
        (1...128).contains(token.count) && token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-".contains($0)) }
    }

    static func formToken(for token: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data("faceloop-web-form/1".utf8), using: SymmetricKey(data: Data(token.utf8))).lowercaseHex
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

    static func signedIn(token: String) -> Cookie {
        Cookie(name: cookieName, value: token, path: path, secure: true, httpOnly: true, sameSite: .strict)
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
