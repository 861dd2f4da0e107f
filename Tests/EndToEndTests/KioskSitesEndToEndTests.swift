import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// Kiosks bound to their sites, with the real binaries: a kiosk enrolled for branch-a gets
    /// neither branch-b's pseudonymisation key nor its model assignment, and nothing of a batch
    /// naming branch-b is stored, until an admin moves it there; the move is in the audit log.
    @Suite("Kiosk sites end to end")
    struct KioskSitesEndToEndTests {
        func cli(_ server: ServerProcess, _ arguments: [String]) throws -> CommandResult {
            try runTool("faceloop", arguments + ["--server", server.baseURL, "--token-file", server.adminTokenFile, "--ca-file", server.caFile])
        }

        func json(_ server: ServerProcess, _ arguments: [String]) throws -> JSONValue {
            let result = try cli(server, arguments)
            #expect(result.status == 0, "faceloop \(arguments.joined(separator: " ")): \(result.stderr)")
            return try JSONValue.parse(result.stdout)
        }

        @Test("a kiosk of branch-a asking for branch-b's key or uploading for branch-b is refused with site-mismatch and nothing is stored; after `devices move` to branch-b the same upload is accepted and the audit log shows the move")
        func siteBinding() async throws {
            let root = try temporaryDirectory("kiosk-sites")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            let server = ServerProcess(dataDirectory: path("server"))
            try server.start()
            defer { server.stop() }
            let openAPI = try OpenAPIConformance()

            // Two sites in two jurisdictions, each with a key of its own.
            for (jurisdiction, region) in [("eu-de", "eu-central"), ("us-il", "us-central")] {
                _ = try json(server, ["compliance", "jurisdiction", jurisdiction, "--data-region", region])
            }
            _ = try json(server, ["compliance", "site", "branch-a", "--jurisdiction", "eu-de"])
            _ = try json(server, ["compliance", "site", "branch-b", "--jurisdiction", "us-il"])
            try TestConsent.registerText(server)

            // A token names registered sites only, and at least one.
            let unknown = try cli(server, ["devices", "enroll-token", "kiosk-s1", "--site", "branch-z"])
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("branch-z") && unknown.stderr.contains("faceloop compliance site"), "\(unknown.stderr)")
            let siteless = try cli(server, ["devices", "enroll-token", "kiosk-s1"])
            #expect(siteless.status != 0 && siteless.stderr.contains("--site"), "\(siteless.stderr)")
            let kiosk = path("kiosk")
            try enrollKiosk(server, id: "kiosk-s1", sites: ["branch-a"], directory: kiosk)
            let listed = try json(server, ["devices", "list", "--json"])["devices"]?.arrayValue?.first
            #expect(listed?["sites"] == .array([.string("branch-a")]))
            #expect(try cli(server, ["devices", "list"]).stdout.contains("branch-a"))

            // Reads that name a site: its own answers, another's is refused.
            let (client, key) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kiosk)
            func read(_ target: String, _ template: String) async throws -> RawResponse {
                let response = try await client.send("GET", target)
                try openAPI.check(method: "GET", template: template, status: response.status, contentType: response.contentType, body: response.body)
                return response
            }
            let ownKey = try await read("/v1/kiosk/pseudonym-key?site=branch-a", "/v1/kiosk/pseudonym-key")
            #expect(ownKey.status == 200)
            #expect(try JSONValue.parse(ownKey.body)["jurisdiction"]?.stringValue == "eu-de")
            let foreignKey = try await read("/v1/kiosk/pseudonym-key?site=branch-b", "/v1/kiosk/pseudonym-key")
            #expect(foreignKey.status == 403 && foreignKey.problemSlug == "site-mismatch")
            let detail = try WireJSON.decoder().decode(ProblemDetails.self, from: Data(foreignKey.body)).detail ?? ""
            #expect(detail.contains("faceloop devices move kiosk-s1 --site branch-b"), "the detail names the admin's command: \(detail)")
            #expect(try await read("/v1/kiosk/pseudonym-key?site=branch-z", "/v1/kiosk/pseudonym-key").problemSlug == "site-mismatch",
                    "a site nobody registered is not the kiosk's either")
            #expect(try await read("/v1/kiosk/model-assignment?site=branch-a&camera_model=cam-1", "/v1/kiosk/model-assignment").status == 200)
            #expect(try await read("/v1/kiosk/model-assignment?site=branch-b&camera_model=cam-1", "/v1/kiosk/model-assignment").problemSlug
                    == "site-mismatch")
            let sync = try runTool("faceloop-agent", ["models", "sync", "--data-dir", kiosk, "--site", "branch-b", "--camera-model", "cam-1"])
            #expect(sync.status != 0 && (sync.stdout + sync.stderr).contains("site-mismatch"), "\(sync.stdout)\(sync.stderr)")

            // Uploads for branch-b: the agent stops and keeps the batch; nothing reaches the store.
            let lines = FeedbackPathEndToEndTests.outcomeLines(count: 30, site: "branch-b", seed: 4)
            #expect(try TestConsent.recordOutcomes(lines, server: server, directory: kiosk).status == 0)
            let refusedUpload = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", kiosk, "--max-attempts", "1"])
            #expect(refusedUpload.status != 0)
            #expect(refusedUpload.stdout.contains("site-mismatch"), "\(refusedUpload.stdout)")
            let queued = try JSONValue.parse(try runTool("faceloop-agent", ["status", "--json", "--data-dir", kiosk]).stdout)["queue"]
            #expect(queued?["sealed_batches"]?.numberValue == 1, "the batch waits in the queue: \(queued?.serializedString ?? "")")
            #expect(queued?["rejected_batches"]?.numberValue == 0, "and is not set aside")

            // A batch naming its own site and branch-b is refused whole, pointing at branch-b.
            func outcome(_ site: String) -> MatchOutcome {
                SampleBatch.outcome(score: 0.75, attemptedAt: Date(), thresholdVersion: "initial", cohort: .init(site: site, cameraModel: "cam-1"),
                                    subject: .init(pseudonym: String(repeating: "ab", count: 32), consentRef: "c"))
            }
            let mixed = OutcomeBatch(deviceID: "kiosk-s1", sequence: 900, createdAt: Date(), outcomes: [outcome("branch-a"), outcome("branch-b")],
                                     consentEvents: [TestConsent.grant(pseudonym: String(repeating: "ab", count: 32), site: "branch-a")]).encoded()
            let mixedRefusal = try await client.send("POST", "/v1/outcomes", headers: try RawClient.signedHeaders(body: mixed, keyID: "kiosk-s1", key: key),
                                                     body: mixed)
            try openAPI.check(method: "POST", template: "/v1/outcomes", status: mixedRefusal.status, contentType: mixedRefusal.contentType,
                              body: mixedRefusal.body)
            #expect(mixedRefusal.status == 403 && mixedRefusal.problemSlug == "site-mismatch")
            #expect(try WireJSON.decoder().decode(ProblemDetails.self, from: Data(mixedRefusal.body)).errors?.map(\.pointer)
                    == ["/outcomes/1/cohort/site"])
            // One signed request for branch-b, refused now and sent again, unchanged, after the move:
            // a refusal uses up no nonce.
            let forB = OutcomeBatch(deviceID: "kiosk-s1", sequence: 901, createdAt: Date(), outcomes: [outcome("branch-b")],
                                    consentEvents: [TestConsent.grant(pseudonym: String(repeating: "ab", count: 32), site: "branch-b")]).encoded()
            let forBHeaders = try RawClient.signedHeaders(body: forB, keyID: "kiosk-s1", key: key)
            #expect(try await client.send("POST", "/v1/outcomes", headers: forBHeaders, body: forB).problemSlug == "site-mismatch")

            let before = try json(server, ["outcomes", "stats", "--json"])
            #expect(before["total_events"]?.numberValue == 0 && before["total_batches"]?.numberValue == 0, "nothing was stored: \(before)")
            #expect(try json(server, ["compliance", "consent"]).arrayValue?.isEmpty == true, "not even the consent events")

            // The admin moves the kiosk; unknown sites and devices are refused.
            let nowhere = try cli(server, ["devices", "move", "kiosk-s1", "--site", "branch-z"])
            #expect(nowhere.status != 0 && nowhere.stderr.contains("branch-z"), "\(nowhere.stderr)")
            #expect(try cli(server, ["devices", "move", "kiosk-zz", "--site", "branch-b"]).stderr.contains("not-found"))
            let moved = try json(server, ["devices", "move", "kiosk-s1", "--site", "branch-b", "--json"])
            try openAPI.check(method: "POST", template: "/v1/admin/devices/{deviceID}/move", status: 200, contentType: "application/json",
                              body: moved.serialized())
            #expect(moved["sites"] == .array([.string("branch-b")]))

            // The same bytes, the same nonce: accepted now.
            let accepted = try await client.send("POST", "/v1/outcomes", headers: forBHeaders, body: forB)
            #expect(accepted.status == 202, "\(String(decoding: accepted.body, as: UTF8.self))")
            let uploaded = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", kiosk])
            #expect(uploaded.status == 0, "\(uploaded.stdout)\(uploaded.stderr)")
            #expect(try JSONValue.parse(uploaded.stdout)["outcomes_acknowledged"]?.numberValue == 30)
            let after = try json(server, ["outcomes", "stats", "--json"])
            #expect(after["total_events"]?.numberValue == 31)
            #expect(after["by_cohort"]?.arrayValue?.allSatisfy { $0["site"]?.stringValue == "branch-b" } == true)
            let newKey = try await read("/v1/kiosk/pseudonym-key?site=branch-b", "/v1/kiosk/pseudonym-key")
            #expect(newKey.status == 200)
            #expect(try JSONValue.parse(newKey.body)["jurisdiction"]?.stringValue == "us-il")
            #expect(try await read("/v1/kiosk/pseudonym-key?site=branch-a", "/v1/kiosk/pseudonym-key").problemSlug == "site-mismatch",
                    "a move replaces the sites")

            // The audit log holds the enrollment's site and the move, by the admin, and verifies offline.
            let bundlePath = path("audit.json")
            #expect(try cli(server, ["audit", "export", "--output", bundlePath]).status == 0)
            let bundle = try JSONValue.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: bundlePath))))
            let entries = try (bundle["entries"]?.arrayValue ?? []).compactMap { $0["entry"]?.stringValue }.map { try JSONValue.parse(Array($0.utf8)) }
            let enrolled = try #require(entries.first { $0["kind"]?.stringValue == "device_enrolled" })
            #expect(enrolled["details"]?["sites"] == .array([.string("branch-a")]))
            let moves = entries.filter { $0["kind"]?.stringValue == "device_moved" }
            #expect(moves.count == 1)
            #expect(moves.first?["actor"]?.stringValue?.hasSuffix("(admin)") == true, "by the admin's token: \(moves.first?.serializedString ?? "")")
            #expect(moves.first?["details"]?["device_id"]?.stringValue == "kiosk-s1")
            #expect(moves.first?["details"]?["from_sites"] == .array([.string("branch-a")]))
            #expect(moves.first?["details"]?["to_sites"] == .array([.string("branch-b")]))
            let verify = try runTool("faceloop", ["audit", "verify", bundlePath, "--public-key", path("server/audit-signing.pub")])
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        }
    }
}
