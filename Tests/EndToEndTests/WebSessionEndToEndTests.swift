import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// The pages' sessions and the operations surface with the real binaries: the cookie, the
    /// expiries (configured tiny here), signing out, revoking a token through the CLI, the
    /// metrics listener apart from the kiosks' port, and `tokens list --json`.
    @Suite("Web sessions and the metrics listener end to end")
    struct WebSessionEndToEndTests {
        static let idleSeconds = 4.0, absoluteSeconds = 10.0

        func cli(_ server: ServerProcess, _ arguments: [String]) throws -> CommandResult {
            try runTool("faceloop", arguments + ["--server", server.baseURL, "--ca-file", server.caFile, "--token-file", server.adminTokenFile])
        }

        /// 200 while the session is open; 303 to the sign-in page once it is not.
        static func opens(_ client: RawClient, _ session: String) async throws -> Bool {
            let page = try await client.send("GET", "/ui/fleet", headers: WebSignIn.cookie(session))
            if page.status != 200 {
                #expect(page.status == 303 && page.header("location") == "/ui/sign-in", "\(page.status) \(page.header("location") ?? "")")
            }
            return page.status == 200
        }

        static func endsWhenIdle(_ client: RawClient, token: String) async throws {
            let session = try #require(try await WebSignIn.session(client, token: token))
            #expect(try await opens(client, session))
            try await Task.sleep(for: .seconds(idleSeconds + 1))
            #expect(try await opens(client, session) == false, "idle for longer than \(idleSeconds) s")
        }

        static func endsAtAbsoluteExpiry(_ client: RawClient, token: String) async throws {
            let signedIn = Date()
            let session = try #require(try await WebSignIn.session(client, token: token))
            var openPastIdle = false
            while Date().timeIntervalSince(signedIn) < absoluteSeconds - 1.5 {
                try await Task.sleep(for: .milliseconds(500))
                let open = try await opens(client, session)
                #expect(open, "in use \(Date().timeIntervalSince(signedIn)) s after sign-in")
                if open && Date().timeIntervalSince(signedIn) > idleSeconds + 1 { openPastIdle = true }
            }
            #expect(openPastIdle, "requests kept it open past the idle time")
            try await Task.sleep(for: .seconds(max(0, absoluteSeconds + 0.5 - Date().timeIntervalSince(signedIn))))
            #expect(try await opens(client, session) == false, "\(absoluteSeconds) s after sign-in, though in use")
        }

        @Test("the cookie is a session id, not the token; idle and absolute expiry, sign-out and token revocation each end a session",
              .timeLimit(.minutes(3)))
        func sessions() async throws {
            let root = try temporaryDirectory("web-sessions")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"), environment: [
                "FACELOOP_WEB_SESSION_IDLE_SECONDS": String(Int(Self.idleSeconds)),
                "FACELOOP_WEB_SESSION_ABSOLUTE_SECONDS": String(Int(Self.absoluteSeconds)),
            ])
            try server.start()
            defer { server.stop() }
            let client = RawClient(baseURL: server.baseURL, caPEM: try String(contentsOfFile: server.caFile, encoding: .utf8), identity: nil)

            // Sign in: the cookie holds a random id with the attributes a session cookie needs.
            let signIn = try await client.send("POST", "/ui/sign-in", headers: ["content-type": "application/x-www-form-urlencoded"],
                                               body: Array("token=\(server.adminToken)".utf8))
            #expect(signIn.status == 303 && signIn.header("location") == "/ui")
            let cookie = try #require(WebSignIn.sessionCookie(signIn))
            #expect(cookie.value != server.adminToken && !cookie.value.contains(server.adminToken) && cookie.value.count == 43)
            #expect(Set(cookie.attributes) == ["Max-Age=\(Int(Self.absoluteSeconds))", "Path=/ui", "Secure", "HttpOnly", "SameSite=Strict"],
                    "\(cookie.attributes)")
            #expect(try await Self.opens(client, cookie.value))
            #expect(try await Self.opens(client, server.adminToken) == false, "the token itself is no session")

            // One session left alone, another kept busy until its absolute expiry, side by side.
            async let idle: Void = Self.endsWhenIdle(client, token: server.adminToken)
            async let busy: Void = Self.endsAtAbsoluteExpiry(client, token: server.adminToken)
            try await idle
            try await busy

            // Signing out ends the session on the server, not only in the browser.
            let leaving = try #require(try await WebSignIn.session(client, token: server.adminToken))
            let page = try await client.send("GET", "/ui/fleet", headers: WebSignIn.cookie(leaving))
            let signOut = try await client.send("POST", "/ui/sign-out",
                                                headers: WebSignIn.cookie(leaving).merging(["content-type": "application/x-www-form-urlencoded"]) { $1 },
                                                body: Array("csrf=\(WebSignIn.formToken(page))".utf8))
            #expect(signOut.status == 303 && signOut.header("location") == "/ui/sign-in")
            #expect(try await Self.opens(client, leaving) == false, "the old cookie replayed after sign-out")

            // Revoking the token through the CLI ends each of its sessions.
            let grant = try cli(server, ["tokens", "create", "--role", "engineer", "--label", "erin"])
            #expect(grant.status == 0, "\(grant.stderr)")
            let engineer = grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let sessions = [try #require(try await WebSignIn.session(client, token: engineer)),
                            try #require(try await WebSignIn.session(client, token: engineer))]
            let admin = try #require(try await WebSignIn.session(client, token: server.adminToken))
            for session in sessions { #expect(try await Self.opens(client, session)) }
            let listed = try cli(server, ["tokens", "list", "--json"])
            #expect(listed.status == 0, "\(listed.stderr)")
            let tokens = try JSONValue.parse(Array(listed.stdout.utf8)).arrayValue ?? []
            #expect(tokens.count == 2)
            let erin = try #require(tokens.first { $0["label"]?.stringValue == "erin" })
            #expect(erin["role"]?.stringValue == "engineer")
            #expect(erin["revoked_at"] == nil || erin["revoked_at"] == .null)
            #expect(erin["created_at"]?.stringValue.flatMap(RFC3339.parse) != nil)
            let id = try #require(erin["id"]?.stringValue)
            #expect(id.count == 16 && !listed.stdout.contains(engineer), "the list names tokens by id, never the token")
            let table = try cli(server, ["tokens", "list"])
            #expect(table.stdout.contains(id) && table.stdout.contains("erin"), "\(table.stdout)")
            #expect(try cli(server, ["tokens", "revoke", id]).status == 0)
            for session in sessions { #expect(try await Self.opens(client, session) == false, "a session of the revoked token") }
            #expect(try await Self.opens(client, admin), "another token's session stays open")
            let revokedList = try JSONValue.parse(Array(try cli(server, ["tokens", "list", "--json"]).stdout.utf8)).arrayValue ?? []
            #expect(revokedList.first { $0["id"]?.stringValue == id }?["revoked_at"]?.stringValue.flatMap(RFC3339.parse) != nil)
        }

        @Test("/metrics is served on the metrics listener, over plain HTTP, and not on the kiosks' port")
        func metricsListener() async throws {
            let root = try temporaryDirectory("metrics")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"))
            try server.start()
            defer { server.stop() }
            #expect(server.metricsPort > 0 && server.metricsPort != server.port)
            let caPEM = try String(contentsOfFile: server.caFile, encoding: .utf8)
            let api = RawClient(baseURL: server.baseURL, caPEM: caPEM, identity: nil)
            #expect(try await api.send("GET", "/healthz").status == 200)
            let onKioskPort = try await api.send("GET", "/metrics")
            #expect(onKioskPort.status == 404, "the kiosks' port answered /metrics with \(onKioskPort.status)")
            #expect(!String(decoding: onKioskPort.body, as: UTF8.self).contains("faceloop_http_request_duration_seconds"))

            let scraper = RawClient(baseURL: "http://127.0.0.1:\(server.metricsPort)", caPEM: caPEM, identity: nil)
            let metrics = try await scraper.send("GET", "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.contentType?.hasPrefix("text/plain") == true)
            #expect(String(decoding: metrics.body, as: UTF8.self).contains("faceloop_http_request_duration_seconds_bucket"),
                    "the request to /healthz above is counted")
            #expect(try await scraper.send("GET", "/v1/admin/devices").status == 404, "the metrics listener serves nothing else")
            #expect(try await scraper.send("GET", "/healthz").status == 404)
        }
    }
}
