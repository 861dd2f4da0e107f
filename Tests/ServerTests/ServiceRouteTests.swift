import FeedbackWire
import Foundation
import HTTPSignatures
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

/// The services behind the routes, driven through the server's own router in process: the
/// real middleware, authentication and store (SQLite in a temporary directory), no socket.
@Suite("Services through the router")
struct ServiceRouteTests {
    /// A server as `faceloop-server` makes it on first start, with its admin token.
    struct Fixture {
        let server: FeedbackServer
        let directory: String
        let adminToken: String

        init(configure: (inout ServerConfiguration) throws -> Void = { _ in }) async throws {
            directory = temporaryPath("services")
            var configuration = ServerConfiguration()
            configuration.dataDirectory = directory
            try configure(&configuration)
            server = try await FeedbackServer.make(configuration: configuration, logger: Logger(label: "test"))
            adminToken = try String(contentsOfFile: (directory as NSString).appendingPathComponent(ServerIdentity.Files.adminToken),
                                    encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func run<Value: Sendable>(_ test: @Sendable (Client) async throws -> Value) async throws -> Value {
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let router = try server.router(closer: server.roundCloser(clock: { Date() }))
            return try await Application(router: router).test(.router) { client in
                try await test(Client(client: client, adminToken: adminToken))
            }
        }
    }

    /// Sends JSON with a bearer token and reads the JSON or problem details back.
    struct Client: Sendable {
        let client: any TestClientProtocol
        let adminToken: String

        struct Answer {
            let status: Int
            let json: JSONValue

            var slug: String? { json["type"]?.stringValue?.split(separator: "/").last.map(String.init) }
            var detail: String { json["detail"]?.stringValue ?? "" }
        }

        func send(_ method: HTTPRequest.Method, _ path: String, token: String, body: String? = nil) async throws -> Answer {
            var headers: HTTPFields = [.authorization: "Bearer \(token)"]
            if body != nil { headers[.contentType] = "application/json" }
            let response = try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
            let bytes = [UInt8](response.body.readableBytesView)
            return Answer(status: Int(response.status.code), json: bytes.isEmpty ? .null : try JSONValue.parse(bytes))
        }

        /// A new token of `role`, granted by the admin.
        func token(_ role: String, label: String) async throws -> String {
            let grant = try await send(.post, "/v1/admin/tokens", token: adminToken, body: #"{"role":"\#(role)","label":"\#(label)"}"#)
            return try #require(grant.json["token"]?.stringValue, "\(grant.json)")
        }
    }

    @Test("/readyz answers 503 while the usual windows are read after a start, and 200 once they are or the wait ran out")
    func readinessWaitsForTheWindows() async throws {
        let fixture = try await Fixture()
        try await fixture.run { client in
            #expect(try await client.send(.get, "/readyz", token: "").status == 200, "a server that is only routed is ready")
            fixture.server.statisticsWarmup.startReading()
            let reading = try await client.send(.get, "/readyz", token: "")
            #expect(reading.status == 503 && reading.slug == "unavailable" && reading.detail.contains("windows"), "\(reading.json)")
            #expect(try await client.send(.get, "/healthz", token: "").status == 200)
            try await fixture.server.thresholdService(clock: { Date() }).readUsualWindows()
            fixture.server.statisticsWarmup.finishReading()
            #expect(try await client.send(.get, "/readyz", token: "").status == 200)
        }
        let warmup = StatisticsWarmup(longest: .seconds(60))
        let start = ContinuousClock.now
        warmup.startReading()
        #expect(warmup.pending(at: start + .seconds(59)) != nil)
        #expect(warmup.pending(at: start + .seconds(61)) == nil, "a read that runs long does not keep the node out")
        warmup.finishReading()
        warmup.startReading()
        #expect(warmup.pending() == nil, "only the first read after a start holds readiness back")
    }

    @Test("a release is computed by one engineer, refused self-approval, approved by another and published for kiosks")
    func thresholdRelease() async throws {
        let fixture = try await Fixture()
        try await fixture.run { client in
            let (alice, bob) = (try await client.token("engineer", label: "alice"), try await client.token("engineer", label: "bob"))
            try await Self.storeOutcomes(fixture.server, client: client, genuine: 40, impostors: 80)

            let unknown = try await client.send(.post, "/v1/thresholds/releases", token: alice, body: #"{"target_fmr":0.05,"policy":"lenient"}"#)
            #expect(unknown.status == 400 && unknown.slug == "invalid-request")
            #expect(unknown.detail == "policy lenient is unknown; use conservative or exact-at-target")

            let computed = try await client.send(.post, "/v1/thresholds/releases", token: alice, body: #"{"target_fmr":0.05}"#)
            #expect(computed.status == 201, "\(computed.json)")
            #expect(computed.json["state"]?.stringValue == "computed")
            #expect(computed.json["release"]?["policy"]?.stringValue == "conservative")
            #expect(computed.json["required_approvals"]?.numberValue == 1)

            let own = try await client.send(.post, "/v1/thresholds/releases/1/approve", token: alice)
            #expect(own.status == 403 && own.slug == "self-approval")
            let early = try await client.send(.post, "/v1/thresholds/releases/1/publish", token: alice)
            #expect(early.status == 409 && early.slug == "release-state-conflict")
            #expect(early.detail == "release 1 has 0 of 1 approvals")

            let approved = try await client.send(.post, "/v1/thresholds/releases/1/approve", token: bob)
            #expect(approved.status == 200 && approved.json["state"]?.stringValue == "approved")
            let published = try await client.send(.post, "/v1/thresholds/releases/1/publish", token: alice)
            #expect(published.status == 200 && published.json["state"]?.stringValue == "published")

            let current = try await client.send(.get, "/v1/thresholds/current", token: bob)
            #expect(current.status == 200)
            #expect(current.json["version"]?.numberValue == 1)
            #expect(current.json["kind"]?.stringValue == SignedRelease.Kind.thresholds.rawValue)

            let exact = try await client.send(.post, "/v1/thresholds/releases", token: bob,
                                              body: #"{"target_fmr":0.05,"policy":"exact-at-target"}"#)
            #expect(exact.status == 201 && exact.json["release"]?["policy"]?.stringValue == "exact-at-target", "\(exact.json)")
            #expect(try await client.send(.get, "/v1/thresholds/releases/9", token: bob).slug == "not-found")
        }
    }

    @Test("tokens: an unknown role or label is refused, and only an admin grants tokens")
    func tokenGrants() async throws {
        let fixture = try await Fixture()
        try await fixture.run { client in
            let role = try await client.send(.post, "/v1/admin/tokens", token: client.adminToken, body: #"{"role":"auditor","label":"ann"}"#)
            #expect(role.status == 400 && role.detail == "role must be admin, engineer or compliance")
            let label = try await client.send(.post, "/v1/admin/tokens", token: client.adminToken, body: #"{"role":"engineer","label":"<b>"}"#)
            #expect(label.status == 400 && label.slug == "invalid-request")
            let engineer = try await client.token("engineer", label: "erin")
            let refused = try await client.send(.post, "/v1/admin/tokens", token: engineer, body: #"{"role":"admin","label":"eve"}"#)
            #expect(refused.status == 403 && refused.detail == "a engineer token may not do this; it needs admin")
            let listed = try await client.send(.get, "/v1/admin/tokens", token: client.adminToken)
            #expect(listed.json.arrayValue?.compactMap { $0["label"]?.stringValue }.sorted() == ["erin", "first admin"])
        }
    }

    @Test("compliance reference data: names, laws, request days, sites and retention are checked before anything is stored")
    func complianceValidation() async throws {
        let fixture = try await Fixture()
        try await fixture.run { client in
            let officer = try await client.token("compliance", label: "olga")
            let admin = client.adminToken
            func post(_ path: String, _ body: String, token: String = admin) async throws -> Client.Answer {
                try await client.send(.post, path, token: token, body: body)
            }
            let refusals: [(String, String, String)] = [
                ("/v1/compliance/jurisdictions", #"{"name":"eu de","data_region":"eu"}"#, "name must be 1 to 64 ASCII letters, digits or -_.:"),
                ("/v1/compliance/jurisdictions", #"{"name":"eu-de","data_region":"eu","biometric_law":"gdpr"}"#, "biometric_law is bipa or absent"),
                ("/v1/compliance/jurisdictions", #"{"name":"eu-de","data_region":"eu","request_days":0}"#, "request_days must be 1 to 365"),
                ("/v1/compliance/sites", #"{"site":"lobby-1","jurisdiction":"nowhere","public_place":false}"#,
                 "no jurisdiction nowhere; create it first"),
                ("/v1/compliance/retention", #"{"jurisdiction":"eu-de","purpose":"threshold-calibration","days":0}"#, "days must be 1 to 36500"),
                ("/v1/compliance/retention", #"{"jurisdiction":"nowhere","purpose":"threshold-calibration","days":30}"#, "no jurisdiction nowhere"),
            ]
            for (path, body, detail) in refusals {
                let answer = try await post(path, body)
                #expect(answer.status == 400 && answer.slug == "invalid-request" && answer.detail == detail, "\(path) \(body): \(answer.json)")
            }
            #expect(try await client.send(.get, "/v1/compliance/jurisdictions", token: officer).json.arrayValue?
                .contains { $0["name"]?.stringValue == "eu-de" } == false, "a refused jurisdiction is not stored")

            let forbidden = try await post("/v1/compliance/jurisdictions", #"{"name":"eu-de","data_region":"eu"}"#, token: officer)
            #expect(forbidden.status == 403 && forbidden.detail == "a compliance token may not do this; it needs admin")
            #expect(try await post("/v1/compliance/jurisdictions", #"{"name":"eu-de","data_region":"eu"}"#).status == 201)
            let again = try await post("/v1/compliance/jurisdictions", #"{"name":"eu-de","data_region":"eu-central","request_days":30}"#)
            #expect(again.status == 200 && again.json["data_region"]?.stringValue == "eu-central" && again.json["pseudonym_key"] == nil)
            #expect(try await post("/v1/compliance/sites", #"{"site":"lobby-1","jurisdiction":"eu-de","public_place":true}"#).status == 200)
            let rule = try await post("/v1/compliance/retention", #"{"jurisdiction":"eu-de","purpose":"threshold-calibration","days":90}"#,
                                      token: officer)
            #expect(rule.status == 200 && rule.json["days"]?.numberValue == 90, "\(rule.json)")
        }
    }

    @Test("a round that would spend more than the privacy budget is refused before it opens")
    func roundOverBudget() async throws {
        let directory = try temporaryDirectory("pairs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pairsPath = (directory as NSString).appendingPathComponent("held-out.json")
        let entries = RoundCloserTests.pairs(seed: 3).map { pair in
            JSONValue.object([("first", .array(pair.first.map { .number(Double($0)) })), ("second", .array(pair.second.map { .number(Double($0)) })),
                              ("genuine", .bool(pair.isGenuine))])
        }
        try Data(JSONValue.object([("pairs", .array(entries))]).serializedString.utf8).write(to: URL(fileURLWithPath: pairsPath))
        let fixture = try await Fixture { configuration in
            configuration.federationEvaluationPairs = pairsPath
            configuration.federationEpsilonBudget = 0.5
        }
        try await fixture.run { client in
            let engineer = try await client.token("engineer", label: "erin")
            let round = #"{"clipping_norm":0.1,"noise_multiplier":0.3,"sampling_rate":1,"minimum_clients":1,"deadline_seconds":600}"#
            let refused = try await client.send(.post, "/v1/federation/rounds", token: engineer, body: round)
            #expect(refused.status == 409 && refused.slug == "privacy-budget-exhausted", "\(refused.json)")
            let noNoise = round.replacingOccurrences(of: #""noise_multiplier":0.3"#, with: #""noise_multiplier":0"#)
            let invalid = try await client.send(.post, "/v1/federation/rounds", token: engineer, body: noNoise)
            #expect(invalid.status == 400 && invalid.detail.hasPrefix("noise_multiplier must be positive"))
            let rounds = try await client.send(.get, "/v1/federation/rounds", token: engineer)
            #expect(rounds.json["rounds"]?.arrayValue?.isEmpty == true && rounds.json["epsilon_spent"]?.numberValue == 0, "\(rounds.json)")
        }
    }

    /// One kiosk's batch of labelled outcomes at one cohort, with its subject's consent: genuine
    /// scores high, impostor scores low, so every target has a clean threshold.
    static func storeOutcomes(_ server: FeedbackServer, client: Client, genuine: Int, impostors: Int) async throws {
        let now = Date()
        let text = "I agree that my match outcomes are used to calibrate this kiosk."
        let registered = try await client.send(.post, "/v1/compliance/consent-texts", token: client.adminToken, body: """
            {"purpose":"threshold-calibration","version":"v1","language":"en","text":"\(text)","effective_at":"2020-01-01T00:00:00Z","material":false}
            """)
        #expect(registered.status == 201, "\(registered.json)")
        let textSHA256 = try #require(registered.json["sha256"]?.stringValue)
        try await server.store.addEnrollmentToken(.init(sha256: "t", deviceID: "kiosk-1", createdAt: now, expiresAt: now.addingTimeInterval(60)))
        _ = try await server.store.redeemEnrollmentToken(sha256: "t", device: NewDevice(
            deviceID: "kiosk-1", signingKey: Data(repeating: 1, count: 32), certificateDER: Data([0x30, 0x00]),
            certificateFingerprint: "fp", certificateSerial: "01", certificateNotAfter: now.addingTimeInterval(86_400)), now: now)
        // 20 subjects, the fewest a threshold's subject-level bound accepts.
        let subjects = (1...20).map { String(format: "%064x", $0) }
        let consents = subjects.map {
            ConsentEvent(eventID: UUID(), occurredAt: now.addingTimeInterval(-3600), pseudonym: $0, purpose: "threshold-calibration",
                         kind: .grant, method: .touch, site: "s1", textVersion: "v1", textSHA256: textSHA256)
        }
        func outcome(_ label: MatchOutcome.Label, score: Double, index: Int) -> MatchOutcome {
            SampleBatch.outcome(label: label, score: score, decision: score > 0.5 ? .accept : .reject, attemptedAt: now.addingTimeInterval(-60),
                                modelVersion: "m1", thresholdVersion: "t0", cohort: .init(site: "s1", cameraModel: "c1"),
                                subject: .init(pseudonym: subjects[index % subjects.count], consentRef: "c"))
        }
        let outcomes = (0..<genuine).map { outcome(.genuine, score: 0.8 + 0.1 * Double($0) / Double(genuine), index: $0) }
            + (0..<impostors).map { outcome(.impostor, score: 0.3 * Double($0) / Double(impostors), index: $0) }
        let batch = OutcomeBatch(deviceID: "kiosk-1", sequence: 1, createdAt: now, outcomes: outcomes, consentEvents: consents)
        let body = batch.encoded()
        let stored = try await server.store.storeBatch(IncomingBatch(
            batch: batch, body: body, contentDigest: ContentDigest.sha256Field(for: body), signatureInput: "sig1=()",
            signature: "sig1=:AA==:", nonce: UUID().uuidString, receivedAt: now))
        guard case .stored = stored else { throw RoundCloserTests.ConfigurationError("the batch was not stored: \(stored)") }
    }
}
