import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
@testable import Server
import Storage
import StrictJSON
import TestSupport
import Testing

/// The pages' sessions through the server's own router, on a real SQLite store, with the
/// clock in the test's hand: what the cookie holds, when a session ends, and what ends it.
@Suite("Web sessions through the router, with an injected clock")
struct WebSessionRouteTests {
    /// A clock the test moves by hand.
    final class TestClock: @unchecked Sendable {
        private let lock = NSLock()
        private var current = Date(timeIntervalSince1970: 1_800_000_000)

        var now: Date { lock.withLock { current } }
        func advance(_ seconds: TimeInterval) { lock.withLock { current = current.addingTimeInterval(seconds) } }
    }

    struct Fixture {
        let server: FeedbackServer
        let directory: String
        let adminToken: String
        let clock = TestClock()

        init(idleSeconds: Int = 1800, absoluteSeconds: Int = 43_200) async throws {
            directory = temporaryPath("web-sessions")
            var configuration = ServerConfiguration()
            configuration.dataDirectory = directory
            configuration.webSessionIdleSeconds = idleSeconds
            configuration.webSessionAbsoluteSeconds = absoluteSeconds
            server = try await FeedbackServer.make(configuration: configuration, logger: Logger(label: "test"))
            adminToken = try String(contentsOfFile: (directory as NSString).appendingPathComponent(ServerIdentity.Files.adminToken),
                                    encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func run<Value: Sendable>(_ test: @Sendable (Browser) async throws -> Value) async throws -> Value {
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let clock = self.clock
            let router = try server.router(closer: server.roundCloser(clock: { clock.now }), clock: { clock.now })
            return try await Application(router: router).test(.router) { client in
                try await test(Browser(client: client))
            }
        }

        /// The stored session behind a cookie value.
        func stored(_ session: String) async throws -> WebSessionRecord? {
            try await server.sessions.webSession(sha256: WebSessions.sha256(session))
        }
    }

    /// Sends what a browser sends to the pages: the session cookie and form posts.
    struct Browser: Sendable {
        let client: any TestClientProtocol

        struct Answer {
            let status: Int
            let location: String?
            let setCookies: [String]
            let body: String
        }

        func send(_ method: HTTPRequest.Method, _ path: String, session: String? = nil, form: String? = nil) async throws -> Answer {
            var headers: HTTPFields = [:]
            if let session { headers[.cookie] = "\(WebSessions.cookieName)=\(session)" }
            if form != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
            let response = try await client.execute(uri: path, method: method, headers: headers, body: form.map { ByteBuffer(string: $0) })
            return Answer(status: Int(response.status.code), location: response.headers[.location],
                          setCookies: response.headers[values: .setCookie], body: String(buffer: response.body))
        }

        /// Signs in with a token: the session id the cookie holds and the cookie's attributes.
        func signIn(_ token: String) async throws -> (session: String, attributes: [String]) {
            let answer = try await send(.post, "/ui/sign-in", form: "token=\(token)")
            #expect(answer.status == 303 && answer.location == "/ui", "sign-in: \(answer.status) \(answer.body)")
            let cookie = try #require(answer.setCookies.first { $0.hasPrefix(WebSessions.cookieName + "=") }, "\(answer.setCookies)")
            let parts = cookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            return (String(parts[0].dropFirst(WebSessions.cookieName.count + 1)), Array(parts.dropFirst()))
        }

        /// A page of the pages, 200 while the session is open, 303 to sign in otherwise.
        func opens(_ session: String, _ path: String = "/ui/fleet") async throws -> Bool {
            let answer = try await send(.get, path, session: session)
            if answer.status == 303 { #expect(answer.location == "/ui/sign-in") }
            return answer.status == 200
        }

        func formToken(_ session: String) async throws -> String {
            let page = try await send(.get, "/ui/fleet", session: session)
            return String(page.body.components(separatedBy: "name=\"csrf-token\" content=\"").dropFirst().first?.prefix { $0 != "\"" } ?? "")
        }
    }

    @Test("the cookie holds a fresh random session id with the right attributes, never the token; the token as a cookie opens nothing")
    func cookieIsNotTheToken() async throws {
        let fixture = try await Fixture()
        try await fixture.run { browser in
            let (session, attributes) = try await browser.signIn(fixture.adminToken)
            #expect(session != fixture.adminToken && !session.contains(fixture.adminToken) && !fixture.adminToken.contains(session))
            #expect(session.count == 43 && WebSessions.isWellFormed(session), "256 bits, base64url")
            #expect(Set(attributes) == ["Max-Age=43200", "Path=/ui", "Secure", "HttpOnly", "SameSite=Strict"], "\(attributes)")
            #expect(try await browser.signIn(fixture.adminToken).session != session, "every sign-in gets a new id")
            #expect(try await browser.opens(session))
            #expect(try await browser.opens(fixture.adminToken) == false, "the token itself is no session")
            #expect(try await fixture.stored(session)?.token.role == "admin")
            #expect(try await fixture.server.sessions.webSession(sha256: APIToken.sha256(fixture.adminToken)) == nil)

            // The form token comes from the session: one derived from the API token is refused.
            let formToken = try await browser.formToken(session)
            #expect(formToken == WebSessions.formToken(forSession: session))
            let fromToken = HMAC<SHA256>.authenticationCode(for: Data("faceloop-web-form/2".utf8),
                                                             using: SymmetricKey(data: Data(fixture.adminToken.utf8))).lowercaseHex
            #expect(try await browser.send(.post, "/ui/sign-out", session: session, form: "csrf=\(fromToken)").status == 403)
            #expect(try await browser.opens(session))
        }
    }

    @Test("requests within the idle time keep a session open past it; an idle time of silence ends it, and the lookup deletes it")
    func idleExpiry() async throws {
        let fixture = try await Fixture(idleSeconds: 1800, absoluteSeconds: 43_200)
        try await fixture.run { browser in
            let (session, _) = try await browser.signIn(fixture.adminToken)
            fixture.clock.advance(1700)
            #expect(try await browser.opens(session))
            fixture.clock.advance(1700)
            #expect(try await browser.opens(session), "3400 s after sign-in, 1700 s after the last request")
            fixture.clock.advance(1799)
            #expect(try await browser.opens(session), "just inside the idle time")
            fixture.clock.advance(1800)
            #expect(try await browser.opens(session) == false, "idle for 1800 s")
            #expect(try await fixture.stored(session) == nil, "deleted when found expired")
        }
    }

    @Test("activity is written at most once a minute: a page view within the minute is a read")
    func activityWrites() async throws {
        let fixture = try await Fixture()
        try await fixture.run { browser in
            let signedIn = fixture.clock.now
            let (session, _) = try await browser.signIn(fixture.adminToken)
            fixture.clock.advance(59)
            #expect(try await browser.opens(session))
            #expect(try await fixture.stored(session)?.lastSeenAt == signedIn)
            fixture.clock.advance(1)
            #expect(try await browser.opens(session))
            #expect(try await fixture.stored(session)?.lastSeenAt == signedIn.addingTimeInterval(60))
            #expect(try await fixture.stored(session)?.openedAt == signedIn)
        }
    }

    @Test("a session in use ends at its absolute expiry")
    func absoluteExpiry() async throws {
        let fixture = try await Fixture(idleSeconds: 1800, absoluteSeconds: 43_200)
        try await fixture.run { browser in
            let (session, _) = try await browser.signIn(fixture.adminToken)
            for _ in 1..<36 {
                fixture.clock.advance(1200)
                #expect(try await browser.opens(session))
            }
            fixture.clock.advance(1199)
            #expect(try await browser.opens(session), "a second before twelve hours")
            fixture.clock.advance(1)
            #expect(try await browser.opens(session) == false, "twelve hours after sign-in")
            #expect(try await fixture.stored(session) == nil)
        }
    }

    @Test("signing out ends the session and clears the cookie; revoking the token ends all of its sessions and signs no one in")
    func signOutAndRevocation() async throws {
        let fixture = try await Fixture()
        try await fixture.run { browser in
            let (session, _) = try await browser.signIn(fixture.adminToken)
            let signedOut = try await browser.send(.post, "/ui/sign-out", session: session, form: "csrf=\(try await browser.formToken(session))")
            #expect(signedOut.status == 303 && signedOut.location == "/ui/sign-in")
            #expect(signedOut.setCookies.contains { $0.hasPrefix(WebSessions.cookieName + "=;") && $0.contains("Max-Age=0") }, "\(signedOut.setCookies)")
            #expect(try await browser.opens(session) == false)
            #expect(try await fixture.stored(session) == nil)

            let grant = try await browser.client.execute(uri: "/v1/admin/tokens", method: .post,
                                                         headers: [.authorization: "Bearer \(fixture.adminToken)", .contentType: "application/json"],
                                                         body: ByteBuffer(string: #"{"role":"engineer","label":"erin"}"#))
            let engineer = try #require(String(buffer: grant.body).split(separator: "\"").first { $0.hasPrefix("fl_") }.map(String.init))
            let (first, _) = try await browser.signIn(engineer)
            let (second, _) = try await browser.signIn(engineer)
            let (admin, _) = try await browser.signIn(fixture.adminToken)
            #expect(try await browser.opens(first))
            #expect(try await browser.opens(second))
            let revoked = try await browser.client.execute(uri: "/v1/admin/tokens/\(APIToken.sha256(engineer).prefix(16))/revoke", method: .post,
                                                           headers: [.authorization: "Bearer \(fixture.adminToken)"], body: nil)
            #expect(revoked.status == .ok)
            #expect(try await browser.opens(first) == false)
            #expect(try await browser.opens(second) == false)
            #expect(try await fixture.stored(first) == nil, "deleted with the revocation")
            #expect(try await fixture.stored(second) == nil, "deleted with the revocation")
            #expect(try await browser.opens(admin), "another token's session stays")
            #expect(try await browser.send(.post, "/ui/sign-in", form: "token=\(engineer)").status == 401)
        }
    }

    @Test("the sweep deletes the sessions past either expiry and keeps the open ones")
    func sweep() async throws {
        let fixture = try await Fixture(idleSeconds: 1800, absoluteSeconds: 7200)
        try await fixture.run { browser in
            let sessions = fixture.server.webSessions(clock: { fixture.clock.now })
            let (old, _) = try await browser.signIn(fixture.adminToken)
            fixture.clock.advance(1000)
            #expect(try await browser.opens(old))
            let (idle, _) = try await browser.signIn(fixture.adminToken)
            for _ in 0..<5 {
                fixture.clock.advance(1000)
                #expect(try await browser.opens(old))
            }
            let (fresh, _) = try await browser.signIn(fixture.adminToken)
            fixture.clock.advance(500)
            #expect(try await sessions.sweep() == 1, "at 6500 s: the one idle since 1000 s; the old one is in use and within its 7200 s")
            #expect(try await fixture.stored(idle) == nil)
            #expect(try await fixture.stored(old) != nil)
            fixture.clock.advance(800)
            #expect(try await sessions.sweep() == 1, "at 7300 s: the old one, though it was used 1300 s ago")
            #expect(try await fixture.stored(old) == nil)
            #expect(try await fixture.stored(fresh) != nil)
        }
    }
}
