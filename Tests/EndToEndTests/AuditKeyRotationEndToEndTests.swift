import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// The audit key rotated on a running server: the officer who pinned the first key verifies
    /// bundles across the rotation with `faceloop audit verify`, with the history the bundle
    /// carries or, for a bundle without it, the one `GET /v1/audit/signing-keys` serves.
    @Suite("Audit key rotation end to end")
    struct AuditKeyRotationEndToEndTests {
        func cli(_ server: ServerProcess, _ arguments: [String], token: String? = nil) throws -> CommandResult {
            var args = arguments + ["--server", server.baseURL, "--ca-file", server.caFile]
            if let token { args += ["--token", token] } else { args += ["--token-file", server.adminTokenFile] }
            return try runTool("faceloop", args)
        }

        @Test("a bundle spanning an audit-key rotation verifies from the first key; without its history it names the unknown key, and --key-history repairs that")
        func bundleAcrossRotation() async throws {
            let root = try temporaryDirectory("audit-rotation")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            let server = ServerProcess(dataDirectory: path("server"))
            try server.start()
            defer { server.stop() }
            let openAPI = try OpenAPIConformance()
            let client = RawClient(baseURL: server.baseURL, caPEM: try String(contentsOfFile: server.caFile, encoding: .utf8), identity: nil)
            let grant = try cli(server, ["tokens", "create", "--role", "compliance", "--label", "officer"])
            #expect(grant.status == 0, "\(grant.stderr)")
            let officer = grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            func signingKeys() async throws -> (json: JSONValue, body: [UInt8]) {
                let response = try await client.send("GET", "/v1/audit/signing-keys", headers: ["authorization": "Bearer \(officer)"])
                try openAPI.check(method: "GET", template: "/v1/audit/signing-keys", status: response.status,
                                  contentType: response.contentType, body: response.body)
                #expect(response.status == 200)
                return (try JSONValue.parse(response.body), response.body)
            }

            // The officer pins the first key and keeps a checkpoint.
            let firstKey = path("audit-first.pub")
            try FileManager.default.copyItem(atPath: path("server/audit-signing.pub"), toPath: firstKey)
            let pinned = try String(contentsOfFile: firstKey, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let before = try await signingKeys().json
            let firstID = try #require(before["keys"]?[0]?["key_id"]?.stringValue)
            #expect(before["keys"]?.arrayValue?.count == 1)
            #expect(before["keys"]?[0]?["public_key"]?.stringValue == pinned)
            #expect(before["keys"]?[0]?["activated_at"] == .null)
            #expect(before["endorsements"]?.arrayValue?.isEmpty == true)
            let checkpoint = try JSONValue.parse(try cli(server, ["audit", "checkpoint"], token: officer).stdout)
            let keptSize = try #require(checkpoint["tree_size"]?.numberValue)
            #expect(checkpoint["key_id"]?.stringValue == firstID)
            #expect(checkpoint["origin"] == before["origin"])

            // The admin rotates the audit key; more is logged after it.
            let rotation = try await client.send("POST", "/v1/admin/key-rotations",
                                                 headers: ["authorization": "Bearer \(server.adminToken)", "content-type": "application/json"],
                                                 body: Array(#"{"key":"audit-signing"}"#.utf8))
            #expect(rotation.status == 200 || rotation.status == 201, "\(String(decoding: rotation.body, as: UTF8.self))")
            #expect(try cli(server, ["tokens", "create", "--role", "engineer", "--label", "after-rotation"]).status == 0)
            let after = try await signingKeys()
            let secondID = try #require(after.json["keys"]?[1]?["key_id"]?.stringValue)
            #expect(after.json["origin"] == before["origin"], "a rotation does not rename the log")
            #expect(after.json["keys"]?.arrayValue?.compactMap { $0["generation"]?.numberValue } == [1, 2])
            #expect(after.json["endorsements"]?.arrayValue?.count == 1)
            let history = path("signing-keys.json")
            try Data(after.body).write(to: URL(fileURLWithPath: history))

            let bundle = path("audit.json")
            let exported = try cli(server, ["audit", "export", "--output", bundle, "--since", String(Int(keptSize))], token: officer)
            #expect(exported.status == 0, "\(exported.stderr)")
            let verified = try runTool("faceloop", ["audit", "verify", bundle, "--public-key", firstKey])
            #expect(verified.status == 0, "\(verified.stderr)")
            #expect(verified.stdout.contains("checkpoint (tree size") && verified.stdout.contains("signed by audit key \(secondID) (generation 2, active from"),
                    "\(verified.stdout)")
            #expect(verified.stdout.contains("earlier checkpoint (tree size \(Int(keptSize)), ") && verified.stdout.contains("signed by audit key \(firstID) (generation 1)"),
                    "\(verified.stdout)")

            // The same bundle without the history it carries, as exported before bundles carried it.
            let document = try JSONValue.parse(try [UInt8](Data(contentsOf: URL(fileURLWithPath: bundle))))
            let withheld = JSONValue.object((document.objectValue ?? []).map { (key: $0.key, value: $0.key == "key_history" ? JSONValue.array([]) : $0.value) })
            let stripped = path("audit-without-history.json")
            try Data(withheld.serialized()).write(to: URL(fileURLWithPath: stripped))
            let unknown = try runTool("faceloop", ["audit", "verify", stripped, "--public-key", firstKey])
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("names the audit key \(secondID)") && unknown.stderr.contains("--key-history"), "\(unknown.stderr)")
            let repaired = try runTool("faceloop", ["audit", "verify", stripped, "--public-key", firstKey, "--key-history", history])
            #expect(repaired.status == 0, "\(repaired.stderr)")
        }
    }
}
