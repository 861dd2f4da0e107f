import Charts
import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing
import WebPages

extension EndToEnd {
    /// The pages in a real browser against a server filled by the fleet simulator: each page
    /// loads without console errors, shows what the API answers, and shows each role only
    /// what it may see. Screenshots for the docs are written on the way.
    @Suite("Web pages in headless Chromium")
    struct WebPagesEndToEndTests {
        /// CI always runs it (and fails without Chromium); elsewhere it needs Chromium installed.
        static let enabled = HeadlessChromium.isInstalled || ProcessInfo.processInfo.environment["CI"] != nil

        /// Where the screenshots go: `FACELOOP_SCREENSHOT_DIR` (docs/screenshots to refresh
        /// the docs), otherwise the test's own temporary directory.
        static func screenshotDirectory(default fallback: String) -> String {
            ProcessInfo.processInfo.environment["FACELOOP_SCREENSHOT_DIR"] ?? fallback
        }

        struct API {
            let client: RawClient

            func get(_ path: String, token: String) async throws -> JSONValue {
                let response = try await client.send("GET", path, headers: ["authorization": "Bearer \(token)"])
                guard response.status == 200 else { throw HeadlessChromium.Failure(description: "GET \(path): \(response.status)") }
                return try JSONValue.parse(response.body)
            }

            func post(_ path: String, _ body: JSONValue, token: String) async throws -> RawResponse {
                try await client.send("POST", path, headers: ["authorization": "Bearer \(token)", "content-type": "application/json"],
                                      body: body.serialized())
            }
        }

        @Test("fleet, calibration, federation and compliance pages match the API, keep to each role, and log no console error",
              .enabled(if: enabled), .timeLimit(.minutes(5)))
        func pages() async throws {
            let root = try temporaryDirectory("web")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            try FederatedRoundEndToEndTests.pairs(seed: 100, subjects: 30, perSubject: 2).write(to: URL(fileURLWithPath: path("held-out.json")))
            let server = ServerProcess(dataDirectory: path("server"), environment: ["FACELOOP_FEDERATION_EVALUATION_PAIRS": path("held-out.json")])
            try server.start()
            defer { server.stop() }
            let connection = ["--server", server.baseURL, "--ca-file", server.caFile]
            let simulated = try runTool("faceloop", ["simulate", "fleet", "--kiosks", "8", "--outcomes-per-kiosk", "250", "--batch-size", "50",
                                                     "--concurrency", "4", "--target-fmr", "0.05", "--json", "--work-dir", path("fleet"),
                                                     "--token-file", server.adminTokenFile] + connection)
            #expect(simulated.status == 0, "\(simulated.stderr)")
            try await Self.reportBacklogRefusalAndWithdrawal(server, kioskDirectory: path("fleet/sim-0001"))

            func token(_ role: String) throws -> String {
                let grant = try runTool("faceloop", ["tokens", "create", "--role", role, "--label", "\(role)-web", "--token-file", server.adminTokenFile] + connection)
                #expect(grant.status == 0, "\(grant.stderr)")
                return grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let tokens = (admin: server.adminToken, engineer: try token("engineer"), officer: try token("compliance"))
            // A round that spends ε and closes below its quorum, and a signed audit checkpoint.
            let opened = try runTool("faceloop", ["rounds", "open", "--clipping-norm", "0.5", "--noise-multiplier", "1", "--sampling-rate", "1",
                                                  "--minimum-clients", "8", "--deadline", "600", "--token", tokens.engineer] + connection)
            #expect(opened.status == 0, "\(opened.stderr)")
            #expect(try runTool("faceloop", ["rounds", "close", "1", "--token", tokens.engineer] + connection).status == 0)
            #expect(try runTool("faceloop", ["audit", "checkpoint", "--token", tokens.officer] + connection).status == 0)

            let api = API(client: RawClient(baseURL: server.baseURL, caPEM: try String(contentsOfFile: server.caFile, encoding: .utf8), identity: nil))
            let browser = try await HeadlessChromium.start(logFile: path("chromedriver.log"))
            do {
                let pages = PageChecks(browser: browser, api: api, baseURL: server.baseURL,
                                       screenshots: Self.screenshotDirectory(default: path("screenshots")))
                try await pages.anonymous()
                try await pages.fleet(token: tokens.admin)
                try await pages.calibrationAndFederation(engineer: tokens.engineer)
                try await pages.compliance(officer: tokens.officer)
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        }

        /// From the simulated kiosk sim-0001, signed as the agent signs: a batch with impostor
        /// scores far above the usual ones (so that site-1/cam-a drifts after the release) and
        /// one outcome whose subject never consented, then a withdrawal reporting a backlog of 42.
        static func reportBacklogRefusalAndWithdrawal(_ server: ServerProcess, kioskDirectory: String) async throws {
            try TestConsent.registerText(server)
            let (kiosk, key) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kioskDirectory)
            let withdrawing = String(repeating: "ab", count: 32)
            let impostor = String(repeating: "ef", count: 32)
            func outcome(_ pseudonym: String, score: Double = 0.8, label: MatchOutcome.Label = .genuine) -> MatchOutcome {
                SampleBatch.outcome(label: label, score: score, attemptedAt: Date(), modelVersion: "dlib_face_recognition_resnet_model_v1",
                                    thresholdVersion: "initial", cohort: .init(site: "site-1", cameraModel: "cam-a"),
                                    subject: .init(pseudonym: pseudonym, consentRef: "web"))
            }
            var withdrawal = TestConsent.grant(pseudonym: withdrawing, site: "site-1")
            withdrawal.eventID = UUID()
            withdrawal.kind = .withdraw
            withdrawal.occurredAt = Date()
            let batches = [
                OutcomeBatch(deviceID: "sim-0001", sequence: 6, createdAt: Date().addingTimeInterval(-1),
                             outcomes: [outcome(withdrawing), outcome(String(repeating: "cd", count: 32))]
                                + (0..<40).map { outcome(impostor, score: 0.5 + Double($0) / 200, label: .impostor) },
                             consentEvents: [TestConsent.grant(pseudonym: withdrawing, site: "site-1"), TestConsent.grant(pseudonym: impostor, site: "site-1")],
                             queueBacklog: 43),
                OutcomeBatch(deviceID: "sim-0001", sequence: 7, createdAt: Date(), outcomes: [], consentEvents: [withdrawal], queueBacklog: 42),
            ]
            for batch in batches {
                let body = batch.encoded()
                let response = try await kiosk.send("POST", "/v1/outcomes", headers: try RawClient.signedHeaders(body: body, keyID: "sim-0001", key: key),
                                                    body: body)
                #expect(response.status == 202, "\(String(decoding: response.body, as: UTF8.self))")
            }
        }
    }

    /// The browser's walk through the pages, with each figure compared to the API's JSON.
    struct PageChecks {
        let browser: HeadlessChromium
        let api: WebPagesEndToEndTests.API
        let baseURL: String
        let screenshots: String

        func signIn(_ token: String) async throws {
            try await browser.open(baseURL + "/ui/sign-in")
            try await browser.type(token, into: try await browser.element("#token"))
            try await submit("#sign-in")
        }

        func signOut() async throws {
            try await submit("header form button")
            #expect(try await arrived(at: "/ui/sign-in"))
        }

        /// Clicks a form's button and waits (up to ten seconds) for the page it leads to: the
        /// click returns once the form is submitted, while the answer may still be on its way.
        func submit(_ selector: String) async throws {
            let before = try await browser.element("body")
            try await browser.click(try await browser.element(selector))
            let deadline = Date().addingTimeInterval(10)
            while try await browser.find("body").first == before {
                guard Date() < deadline else { throw HeadlessChromium.Failure(description: "\(selector) led nowhere") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }

        /// Whether the browser shows `path` within ten seconds.
        func arrived(at path: String) async throws -> Bool {
            let deadline = Date().addingTimeInterval(10)
            while try await browser.currentURL() != baseURL + path {
                guard Date() < deadline else { return false }
                try await Task.sleep(for: .milliseconds(50))
            }
            return true
        }

        /// Opens a page and expects it to load without a console error.
        func open(_ page: String) async throws {
            try await browser.open(baseURL + page)
            try await expectCleanConsole(page)
        }

        func expectCleanConsole(_ page: String) async throws {
            let errors = try await browser.consoleLog().filter { $0.level == "SEVERE" }
            #expect(errors.isEmpty, "\(page): \(errors.map(\.message))")
        }

        /// A page the signed-in role may not open: refused with 403, nothing of it shown.
        func expectRefused(_ page: String, hiding selector: String) async throws {
            try await browser.open(baseURL + page)
            #expect(try await browser.attribute("data-status", of: try await browser.element("#error-status")) == "403", "\(page)")
            #expect(try await browser.find(selector).isEmpty, "\(page) leaked \(selector)")
            // The refusal itself is logged by the browser as a failed load; that is expected here.
            _ = try await browser.consoleLog()
        }

        func screenshot(_ name: String, height: Int = 1400) async throws {
            try await browser.resize(width: 1280, height: height)
            let png = try await browser.screenshot()
            #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "a PNG")
            try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
            try png.write(to: URL(fileURLWithPath: (screenshots as NSString).appendingPathComponent("\(name).png")))
            try await browser.resize(width: 1280, height: 1400)
        }

        func anonymous() async throws {
            try await browser.open(baseURL + "/ui/compliance")
            #expect(try await browser.currentURL() == baseURL + "/ui/sign-in", "no session: sent to sign in")
            #expect(try await browser.find("#consent-records").isEmpty)
            try await expectCleanConsole("sign-in")
            try await signIn("fl_not-a-token")
            #expect(try await browser.text(of: "#sign-in-error").contains("opens nothing"))
            _ = try await browser.consoleLog()
            try await screenshot("sign-in", height: 700)
        }

        func fleet(token: String) async throws {
            try await signIn(token)
            #expect(try await arrived(at: "/ui/fleet"))
            try await expectCleanConsole("fleet")
            let devices = try await api.get("/v1/admin/devices", token: token)["devices"]?.arrayValue ?? []
            #expect(devices.count == 8)
            #expect(try await browser.find("#kiosks tbody tr").count == devices.count)
            var rejections: [String: Int] = [:]
            for device in devices {
                let id = device["device_id"]?.stringValue ?? ""
                let row = try await browser.element("#kiosks tr[data-kiosk='\(id)']")
                #expect(try await browser.text(of: "[data-field=events]", in: row) == "\(Int(device["events"]?.numberValue ?? -1))")
                #expect(try await browser.text(of: "[data-field=batches]", in: row) == "\(Int(device["batches"]?.numberValue ?? -1))")
                #expect(try await browser.text(of: "[data-field=backlog]", in: row)
                        == (device["reported_backlog"]?.numberValue).map { "\(Int($0))" } ?? "not reported")
                var refused = 0
                for (reason, count) in device["refused_events"]?.objectValue ?? [] {
                    refused += Int(count.numberValue ?? 0)
                    rejections[reason, default: 0] += Int(count.numberValue ?? 0)
                }
                #expect(try await browser.text(of: "[data-field=refused]", in: row) == "\(refused)")
            }
            #expect(try await browser.text(of: "#kiosks tr[data-kiosk='sim-0001'] [data-field=backlog]") == "42")
            #expect(rejections == ["no-consent": 1])
            for (reason, count) in rejections {
                #expect(try await browser.text(of: "#rejections tr[data-reason='\(reason)'] [data-field=events]") == "\(count)")
            }
            let stats = try await api.get("/v1/admin/outcomes/stats", token: token)
            #expect(try await browser.text(of: "[data-field=total-events]") == "\(Int(stats["total_events"]?.numberValue ?? -1))")
            #expect(try await browser.text(of: "[data-field=impostor]") == "\(Int(stats["by_label"]?["impostor"]?.numberValue ?? -1))")
            try await screenshot("fleet")
            try await signOut()
        }

        func calibrationAndFederation(engineer token: String) async throws {
            try await signIn(token)
            #expect(try await arrived(at: "/ui/fleet"))
            #expect(try await browser.find("#kiosks").isEmpty, "the kiosk list is for administrators")
            #expect(try await browser.find("[data-field=total-events]").count == 1)
            #expect(try await browser.find("header nav a").count == 3)

            // The release the simulation computed, approved and published by clicking.
            try await open("/ui/calibration")
            #expect(try await browser.text(of: "tr[data-release='1'] [data-field=state]") == "computed")
            try await submit("tr[data-release='1'] button[data-action=approve]")
            try await expectCleanConsole("calibration after approve")
            #expect(try await browser.text(of: "tr[data-release='1'] [data-field=state]") == "approved")
            try await submit("tr[data-release='1'] button[data-action=publish]")
            try await expectCleanConsole("calibration after publish")
            #expect(try await browser.text(of: "tr[data-release='1'] [data-field=state]") == "published")
            #expect(try await api.get("/v1/thresholds/releases/1", token: token)["state"]?.stringValue == "published")
            // A newer computation is the proposal beside it.
            #expect(try await api.post("/v1/thresholds/releases", .object([("target_fmr", .number(0.05))]), token: token).status == 201)
            try await open("/ui/calibration")
            let released = try await api.get("/v1/thresholds/releases/1", token: token)["release"]?["entries"]?.arrayValue ?? []
            let proposed = try await api.get("/v1/thresholds/releases/2", token: token)["release"]?["entries"]?.arrayValue ?? []
            let drift = try await api.get("/v1/thresholds/drift", token: token)["cohorts"]?.arrayValue ?? []
            var compared = 0
            // The proposal is computed from every stored outcome, as the page's charts are.
            for entry in proposed where entry["fallbackLevel"]?.stringValue == "cohort" {
                let cohort = entry["cohort"]
                let key = [cohort?["modelVersion"], cohort?["cameraModel"], cohort?["cohort"]].compactMap { $0?.stringValue }.joined(separator: "/")
                let section = try await browser.element("section[data-cohort='\(key)']")
                let release = released.first { $0["cohort"] == cohort }
                #expect(try await browser.text(of: "tr[data-kind=released] [data-field=threshold]", in: section)
                        == Format.score(release?["threshold"]?.numberValue ?? .nan), "\(key)")
                #expect(try await browser.text(of: "tr[data-kind=proposed] [data-field=threshold]", in: section)
                        == Format.score(entry["threshold"]?.numberValue ?? .nan), "\(key)")
                #expect(try await browser.text(of: "[data-field=impostors]", in: section) == "\(Int(entry["impostorCount"]?.numberValue ?? -1))")
                #expect(try await browser.text(of: "[data-field=genuine]", in: section) == "\(Int(entry["genuineCount"]?.numberValue ?? -1))")
                #expect(try await browser.find("svg", in: section).count == 2, "histogram and DET curve")
                var flags: [String] = []
                for flag in try await browser.find("[data-flag]", in: section) {
                    flags.append(try await browser.attribute("data-flag", of: flag) ?? "")
                }
                let report = drift.first { $0["cohort"] == cohort }?["report"]
                let expected = (report?["flags"]?.arrayValue ?? []).compactMap(\.stringValue).sorted()
                #expect(flags == (report == nil || report == .null ? [] : (expected.isEmpty ? ["none"] : expected)), "\(key)")
                compared += 1
            }
            #expect(compared >= 4)
            #expect(drift.contains { !($0["report"]?["flags"]?.arrayValue ?? []).isEmpty }, "site-1/cam-a drifted after the release")
            try await screenshot("calibration", height: 1900)

            try await open("/ui/federation")
            let rounds = try await api.get("/v1/federation/rounds", token: token)
            #expect(try await browser.text(of: "[data-field=epsilon-spent]") == Format.decimal(rounds["epsilon_spent"]?.numberValue ?? .nan))
            #expect(try await browser.text(of: "[data-field=epsilon-budget]") == Format.decimal(rounds["epsilon_budget"]?.numberValue ?? .nan))
            let round = rounds["rounds"]?[0]
            #expect(try await browser.text(of: "tr[data-round='1'] [data-field=state]") == round?["state"]?.stringValue)
            #expect(try await browser.text(of: "tr[data-round='1'] [data-field=selected]")
                    == "\(round?["round"]?["selected_devices"]?.arrayValue?.count ?? -1)")
            #expect(try await browser.text(of: "tr[data-round='1'] [data-field=received]") == "\(Int(round?["updates_received"]?.numberValue ?? -1))")
            try await screenshot("federation", height: 800)

            try await expectRefused("/ui/compliance", hiding: "#consent-records")
            try await signOut()
        }

        func compliance(officer token: String) async throws {
            try await signIn(token)
            #expect(try await arrived(at: "/ui/federation"))
            try await expectCleanConsole("federation as compliance officer")
            var links: [String] = []
            for link in try await browser.find("header nav a") { links.append(try await browser.text(link)) }
            #expect(links == ["Federation", "Compliance"])
            #expect(try await browser.find("#rounds").isEmpty, "rounds are for engineers")
            #expect(try await browser.find("#model-releases").count == 1)
            try await expectRefused("/ui/calibration", hiding: "#releases")
            try await expectRefused("/ui/fleet", hiding: "#kiosks")

            try await open("/ui/compliance")
            let all = try await api.get("/v1/compliance/consent-events", token: token).arrayValue ?? []
            #expect(try await browser.text(of: "[data-field=consent-count]") == "\(all.count)")
            try await browser.type("site-1", into: try await browser.element("input[name=site]"))
            try await submit("#apply-filters")
            try await expectCleanConsole("compliance, filtered")
            let filtered = try await api.get("/v1/compliance/consent-events?site=site-1", token: token).arrayValue ?? []
            #expect(!filtered.isEmpty && filtered.count < all.count)
            #expect(try await browser.text(of: "[data-field=consent-count]") == "\(filtered.count)")
            #expect(try await browser.find("#consent-records tbody tr").count == min(filtered.count, 200))

            let withdrawals = try await api.get("/v1/compliance/withdrawals", token: token).arrayValue ?? []
            #expect(withdrawals.count == 1)
            #expect(try await browser.find("#withdrawals [data-field=time-to-erasure]").count == withdrawals.count)
            #expect(try await browser.text(of: "#withdrawals [data-field=processed-after]")
                    == "\(Int(withdrawals.first?["processed_after_withdrawal"]?.numberValue ?? -1))")
            let checkpoints = try await api.get("/v1/audit/checkpoints", token: token).arrayValue ?? []
            let size = Int(checkpoints.first?["tree_size"]?.numberValue ?? -1)
            #expect(try await browser.find("#checkpoints tr[data-tree-size='\(size)']").count == 1)
            try await submit("#checkpoints tr[data-tree-size='\(size)'] button[data-action=verify]")
            try await expectCleanConsole("compliance, audit verified")
            #expect(try await browser.attribute("data-valid", of: try await browser.element("#verification")) == "true")
            #expect(try await browser.text(of: "#verification").contains("OK:"))
            try await screenshot("compliance", height: 1600)
            try await signOut()
        }
    }
}
