import AuditLog
import FeedbackWire
import Foundation
import PostgresTestSupport
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// Consent, withdrawal, erasure, requests and the audit log with the real binaries, and
    /// the role × endpoint matrix over every operation of `schemas/openapi.yaml`.
    @Suite("Compliance end to end")
    struct ComplianceEndToEndTests {
        func cli(_ server: ServerProcess, _ arguments: [String], token: String? = nil) throws -> CommandResult {
            var args = arguments + ["--server", server.baseURL, "--ca-file", server.caFile]
            if let token { args += ["--token", token] } else { args += ["--token-file", server.adminTokenFile] }
            return try runTool("faceloop", args)
        }

        func token(_ server: ServerProcess, role: String) throws -> String {
            let grant = try cli(server, ["tokens", "create", "--role", role, "--label", "\(role)-user"])
            #expect(grant.status == 0, "\(grant.stderr)")
            return grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func enroll(_ server: ServerProcess, id: String, sites: [String], directory: String) throws {
            try enrollKiosk(server, id: id, sites: sites, directory: directory)
        }

        /// Withdraws the subject's consent at the kiosk while the server is down, restarts it and
        /// uploads: asserts that the erasure's commit returned within 1 s of the kiosk sending
        /// the withdrawal, on one clock (kiosk and server run on this machine), and that the
        /// time the kiosk held it offline is reported as its queue delay, not counted in that.
        func withdrawWhileOffline(_ server: ServerProcess, officer: String, kiosk: String, pseudonym: String, site: String) async throws {
            let consent = try runTool("faceloop-agent", ["consent", "withdraw", "--data-dir", kiosk, "--subject-pseudonym", pseudonym,
                                                         "--purpose", "threshold-calibration", "--site", site,
                                                         "--text-version", TestConsent.version, "--text-sha256", TestConsent.sha256])
            #expect(consent.status == 0, "\(consent.stderr)")
            server.stop()
            let offline = try runTool("faceloop-agent", ["upload", "--json", "--max-attempts", "1", "--data-dir", kiosk])
            let undelivered = try JSONValue.parse(offline.stdout)
            #expect(offline.status != 0 && undelivered["withdrawals"]?.arrayValue?.isEmpty == true, "\(offline.stdout)")
            let offlineFor = Duration.milliseconds(500)
            try await Task.sleep(for: offlineFor)
            try server.start()
            let delivered = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", kiosk])
            #expect(delivered.status == 0, "\(delivered.stderr)")
            let sent = try #require(try JSONValue.parse(delivered.stdout)["withdrawals"]?.arrayValue?.first, "\(delivered.stdout)")
            let withdrawals = try JSONValue.parse(try cli(server, ["compliance", "withdrawals"], token: officer).stdout).arrayValue ?? []
            let blocked = try #require(withdrawals.first { $0["event_id"] == sent["event_id"] }, "\(withdrawals)")
            #expect(blocked["processed_after_withdrawal"]?.numberValue == 0)
            // RFC 3339 to the millisecond, truncated: truncation keeps the order.
            func time(_ value: JSONValue, _ field: String) throws -> Date {
                try #require(value[field]?.stringValue.flatMap(RFC3339.parse), "\(field) in \(value.serializedString)")
            }
            let (recordedAt, sentAt, receiptAt) = (try time(sent, "recorded_at"), try time(sent, "sent_at"), try time(sent, "receipt_at"))
            let (receivedAt, erasedAt, blockedAt) = (try time(blocked, "received_at"), try time(blocked, "erased_at"),
                                                     try time(blocked, "blocked_at"))
            #expect(recordedAt <= sentAt && sentAt <= receivedAt && receivedAt <= erasedAt && erasedAt <= blockedAt && blockedAt <= receiptAt,
                    "recorded \(recordedAt), sent \(sentAt), received \(receivedAt), erased \(erasedAt), blocked \(blockedAt), receipt \(receiptAt)")
            let sendToBlockedMilliseconds = blockedAt.timeIntervalSince(sentAt) * 1000
            let queueDelayMilliseconds = try #require(sent["queue_delay_ms"]?.numberValue)
            func milliseconds(_ value: Double?) -> String { value.map { String(Int($0.rounded())) } ?? "?" }
            print("withdrawal end to end (\(server.environment["FACELOOP_STORE_KIND"] ?? "sqlite")): "
                  + "held on the kiosk \(milliseconds(queueDelayMilliseconds)) ms; "
                  + "kiosk sent → erasure committed \(milliseconds(sendToBlockedMilliseconds)) ms; "
                  + "server received → committed (time_to_block_ms) \(milliseconds(blocked["time_to_block_ms"]?.numberValue)) ms; "
                  + "received → erasure's clock read in the transaction \(milliseconds(erasedAt.timeIntervalSince(receivedAt) * 1000)) ms; "
                  + "kiosk sent → receipt \(milliseconds(sent["round_trip_ms"]?.numberValue)) ms")
            #expect(sendToBlockedMilliseconds < 1000, "from the kiosk sending the withdrawal to the erasure's commit returning")
            #expect(queueDelayMilliseconds >= Double(offlineFor.components.seconds) * 1000 + Double(offlineFor.components.attoseconds) / 1e15,
                    "the time offline is the kiosk's queue delay")
        }

        @Test("on PostgreSQL too, a withdrawal is erased within 1 s of the kiosk sending it, and the kiosk's offline hold is reported apart",
              .enabled(if: PostgresTestDatabase.isAvailable))
        func withdrawalOnPostgres() async throws {
            let root = try temporaryDirectory("compliance-postgres")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            let server = ServerProcess(dataDirectory: path("server"),
                                       environment: ["FACELOOP_STORE_KIND": "postgres",
                                                     "FACELOOP_STORE_POSTGRES_URL": try await PostgresTestDatabase.create()])
            try server.start()
            defer { server.stop() }
            let officer = try token(server, role: "compliance")
            try enroll(server, id: "kiosk-p1", sites: ["branch-p"], directory: path("kiosk"))
            let lines = FeedbackPathEndToEndTests.outcomeLines(count: 40, site: "branch-p", seed: 12)
            #expect(try TestConsent.recordOutcomes(lines, server: server, directory: path("kiosk")).status == 0)
            #expect(try runTool("faceloop-agent", ["upload", "--data-dir", path("kiosk")]).status == 0)
            let first = try #require(String(decoding: lines, as: UTF8.self).split(separator: "\n").first)
            let pseudonym = try #require(try JSONValue.parse(Array(first.utf8))["subject"]?["pseudonym"]?.stringValue)
            try await withdrawWhileOffline(server, officer: officer, kiosk: path("kiosk"), pseudonym: pseudonym, site: "branch-p")
            let export = try JSONValue.parse(try cli(server, ["compliance", "subject", pseudonym], token: officer).stdout)
            #expect(export["outcomes"]?.arrayValue?.isEmpty == true, "the withdrawal erased the subject's outcomes")
        }

        @Test("no consent, no storage; a withdrawal erases within 1 s of the kiosk sending it (the kiosk's offline hold reported apart) and the next threshold computation equals a run that never had the subject; the audit bundle verifies offline and names any changed byte")
        func consentWithdrawalAudit() async throws {
            let root = try temporaryDirectory("compliance")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            let server = ServerProcess(dataDirectory: path("server"))
            try server.start()
            defer { server.stop() }
            let officer = try token(server, role: "compliance")
            try enroll(server, id: "kiosk-c1", sites: ["branch-c"], directory: path("kiosk"))
            try TestConsent.registerText(server)

            // Outcomes of 40 subjects; subject 0..<39 consent, subject 39 never does.
            let lines = FeedbackPathEndToEndTests.outcomeLines(count: 400, site: "branch-c", seed: 11)
            let allLines = String(decoding: lines, as: UTF8.self).split(separator: "\n").map(String.init)
            let unconsented = try #require(try JSONValue.parse(Array(allLines[39].utf8))["subject"]?["pseudonym"]?.stringValue)
            let consentedLines = allLines.filter { !$0.contains(unconsented) }
            let grants = try TestConsent.grants(forOutcomeLines: Data(consentedLines.joined(separator: "\n").utf8))
            #expect(try runTool("faceloop-agent", ["consent", "--stdin", "--data-dir", path("kiosk")], stdin: grants).status == 0)
            #expect(try runTool("faceloop-agent", ["record", "--stdin", "--data-dir", path("kiosk")], stdin: lines).status == 0)
            let upload = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", path("kiosk")])
            #expect(upload.status == 0, "\(upload.stderr)")
            let report = try JSONValue.parse(upload.stdout)
            #expect(report["outcomes_acknowledged"]?.numberValue == Double(consentedLines.count))
            #expect(report["events_refused"]?.numberValue == Double(allLines.count - consentedLines.count))
            let export = try JSONValue.parse(try cli(server, ["compliance", "subject", unconsented], token: officer).stdout)
            #expect(export["outcomes"]?.arrayValue?.isEmpty == true, "nothing of the unconsented subject is stored")

            // Withdraw subject A; compare the next threshold computation with a server that never had A.
            let withdrawn = try #require(try JSONValue.parse(Array(consentedLines[0].utf8))["subject"]?["pseudonym"]?.stringValue)
            try await withdrawWhileOffline(server, officer: officer, kiosk: path("kiosk"), pseudonym: withdrawn, site: "branch-c")
            let erasures = try JSONValue.parse(try cli(server, ["compliance", "erasures"], token: officer).stdout).arrayValue ?? []
            #expect(erasures.first?["outcomes_erased"]?.numberValue == Double(consentedLines.filter { $0.contains(withdrawn) }.count))
            let erasureID = try #require(erasures.first?["erasure_id"]?.stringValue)
            let receipt = try WireJSON.decoder().decode(SignedRelease.self, from: Data(try cli(server, ["compliance", "erasures", "--receipt", erasureID],
                                                                                                  token: officer).stdout.utf8))
            let auditKey = try #require(Data(base64Encoded: try String(contentsOfFile: path("server/audit-signing.pub"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(throws: Never.self) {
                _ = try receipt.verifiedPayload(kind: .erasureReceipt, publicKey: try .init(rawRepresentation: auditKey))
            }

            let reference = ServerProcess(dataDirectory: path("reference"))
            try reference.start()
            defer { reference.stop() }
            try enroll(reference, id: "kiosk-r1", sites: ["branch-c"], directory: path("reference-kiosk"))
            let remaining = consentedLines.filter { !$0.contains(withdrawn) }
            #expect(try TestConsent.recordOutcomes(Data(remaining.joined(separator: "\n").utf8), server: reference,
                                                   directory: path("reference-kiosk")).status == 0)
            #expect(try runTool("faceloop-agent", ["upload", "--data-dir", path("reference-kiosk")]).status == 0)
            func thresholds(_ server: ServerProcess) throws -> JSONValue? {
                let computed = try cli(server, ["thresholds", "compute", "--target-fmr", "0.1", "--json"])
                #expect(computed.status == 0, "\(computed.stderr)")
                let view = try JSONValue.parse(computed.stdout)
                return .array([view["release"]?["entries"] ?? .null, view["refused"] ?? .null])
            }
            let afterWithdrawal = try thresholds(server)
            #expect(afterWithdrawal != nil)
            #expect(afterWithdrawal == (try thresholds(reference)), "the computation excludes the withdrawn subject exactly")

            // Data-subject requests: the pseudonym from the subject's id, an access export, then erasure on request.
            let requested = try #require(try JSONValue.parse(Array(consentedLines[1].utf8))["subject"]?["pseudonym"]?.stringValue)
            let access = try cli(server, ["compliance", "request", "access", "--subject-pseudonym", requested], token: officer)
            #expect(access.status == 0, "\(access.stderr)")
            let accessAnswer = try JSONValue.parse(access.stdout)
            #expect(accessAnswer["result"]?["outcomes"]?.arrayValue?.count == consentedLines.filter { $0.contains(requested) }.count)
            #expect(accessAnswer["result"]?["consent_events"]?.arrayValue?.count == 1)
            #expect(accessAnswer["request"]?["due_at"]?.stringValue != nil)
            let erase = try cli(server, ["compliance", "request", "erasure", "--subject-pseudonym", requested], token: officer)
            #expect(erase.status == 0, "\(erase.stderr)")
            let after = try JSONValue.parse(try cli(server, ["compliance", "subject", requested], token: officer).stdout)
            #expect(after["outcomes"]?.arrayValue?.isEmpty == true)
            #expect(after["requests"]?.arrayValue?.count == 2)
            let requests = try JSONValue.parse(try cli(server, ["compliance", "requests"], token: officer).stdout).arrayValue ?? []
            #expect(requests.allSatisfy { $0["completed_at"]?.stringValue != nil })

            // Another kiosk asks before training: the server's view excludes the subject who withdrew at the
            // first kiosk and the one who asked for erasure, and keeps the others.
            try enroll(server, id: "kiosk-c2", sites: ["branch-d"], directory: path("kiosk-2"))
            let (other, otherKey) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: path("kiosk-2"))
            let kept = try #require(try JSONValue.parse(Array(consentedLines[2].utf8))["subject"]?["pseudonym"]?.stringValue)
            let question = JSONValue.object([("purpose", .string("threshold-calibration")),
                                             ("subject_pseudonyms", .array([withdrawn, requested, kept].map(JSONValue.string)))]).serialized()
            // A kiosk of another site learns nothing about the subjects, even once it has recorded consent of its own.
            let ownConsent = OutcomeBatch(deviceID: "kiosk-c2", sequence: 1, createdAt: Date(), outcomes: [],
                                          consentEvents: [TestConsent.grant(pseudonym: String(repeating: "12", count: 32), site: "branch-d")]).encoded()
            let recorded = try await other.send("POST", "/v1/outcomes",
                                                headers: try RawClient.signedHeaders(body: ownConsent, keyID: "kiosk-c2", key: otherKey),
                                                body: ownConsent)
            #expect(recorded.status == 202, "\(String(decoding: recorded.body, as: UTF8.self))")
            let stranger = try await other.send("POST", "/v1/kiosk/consent-status", headers: ["content-type": "application/json"], body: question)
            #expect(try JSONValue.parse(stranger.body)["covered"]?.arrayValue?.isEmpty == true)
            // Once an admin binds it to the subjects' site too, it is answered for the site's subjects.
            #expect(try cli(server, ["devices", "move", "kiosk-c2", "--site", "branch-c", "--site", "branch-d"]).status == 0)
            let status = try await other.send("POST", "/v1/kiosk/consent-status", headers: ["content-type": "application/json"], body: question)
            #expect(status.status == 200)
            let view = try JSONValue.parse(status.body)
            #expect(view["covered"]?.arrayValue?.compactMap(\.stringValue) == [kept])
            #expect(Set(view["refused"]?.arrayValue?.compactMap { $0["reason"]?.stringValue } ?? []) == ["consent-withdrawn"])

            // A revoked token opens nothing.
            let tokens = try JSONValue.parse(try cli(server, ["tokens", "list", "--json"]).stdout).arrayValue ?? []
            let officerID = try #require(tokens.first { $0["role"]?.stringValue == "compliance" }?["id"]?.stringValue)
            #expect(try cli(server, ["tokens", "revoke", officerID]).status == 0)
            let refused = try cli(server, ["compliance", "requests"], token: officer)
            #expect(refused.status != 0 && refused.stderr.contains("unauthorized"), "\(refused.stderr)")
            let auditor = try token(server, role: "compliance")

            // The audit log: export, verify offline, and flip bytes.
            // A checkpoint the reviewer kept, then more entries: the bundle proves the log only grew.
            let checkpoint = try JSONValue.parse(try cli(server, ["audit", "checkpoint"], token: auditor).stdout)
            let keptSize = try #require(checkpoint["tree_size"]?.numberValue)
            #expect(try cli(server, ["tokens", "create", "--role", "engineer", "--label", "late"]).status == 0)
            let bundle = path("audit.json")
            let exported = try cli(server, ["audit", "export", "--output", bundle, "--since", String(Int(keptSize))], token: auditor)
            #expect(exported.status == 0, "\(exported.stderr)")
            let verified = try runTool("faceloop", ["audit", "verify", bundle, "--public-key", path("server/audit-signing.pub")])
            #expect(verified.status == 0, "\(verified.stderr)")
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: bundle)))
            let text = String(decoding: bytes, as: UTF8.self)
            let target = try #require(text.range(of: "consent_event"))
            let offset = text.utf8.distance(from: text.startIndex, to: target.lowerBound)
            bytes[offset] = UInt8(ascii: "C")
            try Data(bytes).write(to: URL(fileURLWithPath: bundle))
            let tampered = try runTool("faceloop", ["audit", "verify", bundle, "--public-key", path("server/audit-signing.pub")])
            #expect(tampered.status != 0)
            #expect(tampered.stderr.contains("entry"), "\(tampered.stderr)")
        }

        /// A page or a page's form: without the session cookie (a bearer token or a kiosk
        /// certificate do not count) it redirects to the sign-in page; with it, each role gets
        /// the page or a refusal as x-faceloop-roles says, and a form needs the session's token.
        func checkPage(method: String, template: String, path: String, roles: [String], tokens: [String: String],
                       anonymous: RawClient, kiosk: RawClient, openAPI: OpenAPIConformance) async throws -> Int {
            let form = ["content-type": "application/x-www-form-urlencoded"]
            func send(_ headers: [String: String], body: String?, client: RawClient = anonymous) async throws -> RawResponse {
                try await client.send(method.uppercased(), path, headers: form.merging(headers) { $1 }, body: body.map { Array($0.utf8) })
            }
            let emptyForm: String? = method == "post" ? "" : nil
            #expect(try await send([:], body: emptyForm).status == 303, "\(method) \(template) without a session")
            #expect(try await send(["authorization": "Bearer \(tokens["admin"] ?? "")"], body: emptyForm).status == 303,
                    "\(method) \(template): a bearer token is no session")
            #expect(try await send([:], body: emptyForm, client: kiosk).status == 303, "\(method) \(template) with a kiosk certificate")
            var checked = 0
            for (role, token) in tokens {
                // A session of its own for each check: signing out ends it.
                let session = try #require(try await WebSignIn.session(anonymous, token: token), "\(role) signs in")
                #expect(try await send(["cookie": "faceloop_session=\(token)"], body: emptyForm).status == 303,
                        "\(method) \(template): the token itself is no session")
                let cookie = WebSignIn.cookie(session)
                let start = try await anonymous.send("GET", "/ui/federation", headers: cookie)
                let csrf = WebSignIn.formToken(start)
                #expect(csrf.count == 64, "\(role) gets a form token")
                let allowed = roles.contains(role) || role == "admin"
                // Refused forms first: the accepted one may be the sign-out that ends the session.
                if method == "post" && allowed {
                    let forged = try await send(cookie, body: "csrf=\(String(repeating: "0", count: 64))")
                    #expect(forged.status == 403, "\(role) \(method) \(template) with another form token: \(forged.status)")
                    let crossSite = try await send(cookie.merging(["sec-fetch-site": "cross-site"]) { $1 }, body: "csrf=\(csrf)")
                    #expect(crossSite.status == 403, "\(role) \(method) \(template) from another site: \(crossSite.status)")
                }
                let answer = try await send(cookie, body: method == "post" ? "csrf=\(csrf)" : nil)
                if !allowed {
                    #expect(answer.status == 403, "\(role) must not reach \(method) \(template): \(answer.status)")
                } else if template == "/ui/sign-out" {
                    #expect(answer.status == 303, "\(role) signs out")
                } else {
                    #expect(![303, 403].contains(answer.status), "\(role) must reach \(method) \(template): \(answer.status)")
                }
                if answer.status != 303 {
                    try openAPI.check(method: method, template: template, status: answer.status, contentType: answer.contentType, body: answer.body)
                }
                if template == "/ui/sign-out" && allowed {
                    #expect(try await send(cookie, body: nil).status == 303, "\(role): the session it signed out of is closed")
                }
                checked += 1
            }
            return checked
        }

        @Test("role × endpoint: every operation of the OpenAPI document answers each role as its x-faceloop-roles says")
        func roleMatrix() async throws {
            let root = try temporaryDirectory("roles")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"))
            try server.start()
            defer { server.stop() }
            let kioskDirectory = (root as NSString).appendingPathComponent("kiosk")
            try enroll(server, id: "kiosk-m1", sites: ["branch-m"], directory: kioskDirectory)
            let tokens = ["admin": server.adminToken, "engineer": try token(server, role: "engineer"),
                          "compliance": try token(server, role: "compliance")]
            let anonymous = RawClient(baseURL: server.baseURL, caPEM: try String(contentsOfFile: server.caFile, encoding: .utf8), identity: nil)
            let (kiosk, signingKey) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kioskDirectory)

            let openAPI = try OpenAPIConformance()
            let operations = try #require(openAPI.documents["openapi.yaml"]?["paths"]?.objectValue)
            var checked = 0
            for (template, item) in operations {
                let path = template.replacingOccurrences(of: "{pseudonym}", with: String(repeating: "a", count: 64))
                    .replacingOccurrences(of: #"\{[A-Za-z]+\}"#, with: "1", options: .regularExpression)
                for method in ["get", "post"] {
                    guard let operation = item[method], let roles = operation["x-faceloop-roles"]?.arrayValue?.compactMap(\.stringValue) else {
                        continue
                    }
                    if roles.contains("public") { continue }
                    if operation["x-faceloop-session"] == .bool(true) {
                        checked += try await checkPage(method: method, template: template, path: path, roles: roles, tokens: tokens,
                                                       anonymous: anonymous, kiosk: kiosk, openAPI: openAPI)
                        continue
                    }
                    let body: [UInt8]? = method == "post" ? Array("{}".utf8) : nil
                    let headers = method == "post" ? ["content-type": "application/json"] : [:]
                    let none = try await anonymous.send(method.uppercased(), path, headers: headers, body: body)
                    #expect(none.status == 401, "\(method) \(template) without credentials: \(none.status)")
                    for (role, token) in tokens {
                        let allowed = roles.contains(role) || (role == "admin" && !Set(roles).isDisjoint(with: ["engineer", "compliance"]))
                        var withToken = headers
                        withToken["authorization"] = "Bearer \(token)"
                        let answer = try await anonymous.send(method.uppercased(), path, headers: withToken, body: body)
                        if allowed {
                            #expect(![401, 403].contains(answer.status), "\(role) must reach \(method) \(template): \(answer.status) \(answer.problemSlug ?? "")")
                        } else {
                            #expect([401, 403].contains(answer.status), "\(role) must not reach \(method) \(template): \(answer.status)")
                        }
                        checked += 1
                    }
                    // Signed kiosk operations (uploads, certificate renewal) are reached with a signature too.
                    let signed = operation["parameters"]?.arrayValue?.contains { $0["name"]?.stringValue == "Signature" } == true
                    if roles.contains("kiosk") {
                        var kioskHeaders = headers
                        if signed, let body {
                            kioskHeaders.merge(try UploadSignaturePolicy.signUpload(method: "POST", path: path, authority: "", body: body,
                                                                                    keyID: "kiosk-m1", key: signingKey, now: Date())) { $1 }
                        }
                        let answer = try await kiosk.send(method.uppercased(), path, headers: kioskHeaders, body: body)
                        #expect(![401, 403].contains(answer.status), "a kiosk must reach \(method) \(template): \(answer.status) \(answer.problemSlug ?? "")")
                    } else if !roles.contains("kiosk") {
                        let answer = try await kiosk.send(method.uppercased(), path, headers: headers, body: body)
                        #expect(answer.status == 401, "a kiosk certificate alone must not open \(method) \(template): \(answer.status)")
                    }
                }
            }
            #expect(checked > 100)
        }
    }
}
