import Crypto
import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// A jurisdiction key rotated and a kiosk re-keyed with the real binaries: the consent
    /// ledger continues for the subjects the kiosk re-keyed and for no one else, and a kiosk
    /// of another jurisdiction can neither read the old key nor re-key there.
    @Suite("Pseudonym key rotation end to end")
    struct PseudonymRekeyEndToEndTests {
        /// The kiosk's software computes pseudonyms itself (docs/privacy.md, "Pseudonyms"); the
        /// ids here are already normalised, so this is the HMAC alone.
        static func pseudonym(_ id: String, key: String) throws -> String {
            let keyBytes = try #require(Data(base64Encoded: key))
            return HMAC<SHA256>.authenticationCode(for: Data(id.utf8), using: SymmetricKey(data: keyBytes))
                .map { String(format: "%02x", $0) }.joined()
        }

        static func outcomeLine(_ pseudonym: String, version: Int, site: String, score: Double) -> String {
            var subject: [(key: String, value: JSONValue)] = [("pseudonym", .string(pseudonym)), ("consent_ref", .string("c-1"))]
            if version != 1 { subject.append(("key_version", .number(Double(version)))) }
            return JSONValue.object([
                ("model_version", .string("dlib-resnet-v1")), ("threshold_version", .string("initial")),
                ("cohort", .object([("site", .string(site)), ("camera_model", .string("cam-1"))])),
                ("score", .number(score)), ("decision", .string("accept")), ("label", .string("genuine")),
                ("label_source", .string("fallback_id_check")),
                ("quality", .object([("face_size_px", .number(150)), ("sharpness", .number(90)), ("brightness", .number(0.5))])),
                ("subject", .object(subject)),
            ]).serializedString
        }

        @Test("rotate eu-de's key, re-key one subject on the kiosk: the re-keyed subject's outcomes under version 2 are stored, the other's are refused (no-consent); a kiosk of another jurisdiction gets site-mismatch for the old key and for a re-key")
        func rotateAndRekey() async throws {
            let root = try temporaryDirectory("pseudonym-rekey")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            let server = ServerProcess(dataDirectory: path("server"))
            try server.start()
            defer { server.stop() }
            let openAPI = try OpenAPIConformance()
            func cli(_ arguments: [String]) throws -> CommandResult {
                try runTool("faceloop", arguments + ["--server", server.baseURL, "--token-file", server.adminTokenFile, "--ca-file", server.caFile])
            }
            for (jurisdiction, region) in [("eu-de", "eu-central"), ("us-il", "us-central")] {
                #expect(try cli(["compliance", "jurisdiction", jurisdiction, "--data-region", region]).status == 0)
            }
            #expect(try cli(["compliance", "site", "branch-a", "--jurisdiction", "eu-de"]).status == 0)
            #expect(try cli(["compliance", "site", "branch-b", "--jurisdiction", "us-il"]).status == 0)
            try TestConsent.registerText(server)
            let kiosk = path("kiosk-a"), other = path("kiosk-b")
            try enrollKiosk(server, id: "kiosk-a", sites: ["branch-a"], directory: kiosk)
            try enrollKiosk(server, id: "kiosk-b", sites: ["branch-b"], directory: other)
            let (client, _) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kiosk)
            let (otherClient, _) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: other)
            func checked(_ client: RawClient, _ method: String, _ target: String, template: String, body: [UInt8]? = nil,
                         headers: [String: String] = [:]) async throws -> RawResponse {
                let response = try await client.send(method, target, headers: headers, body: body)
                try openAPI.check(method: method, template: template, status: response.status, contentType: response.contentType, body: response.body)
                return response
            }

            // Under version 1: both subjects consent and have an outcome.
            let v1 = try JSONValue.parse(try await checked(client, "GET", "/v1/kiosk/pseudonym-key?site=branch-a", template: "/v1/kiosk/pseudonym-key").body)
            #expect(v1["version"]?.numberValue == 1)
            let key1 = try #require(v1["key"]?.stringValue)
            let anna1 = try Self.pseudonym("anna", key: key1), ben1 = try Self.pseudonym("ben", key: key1)
            let firstLines = Data([Self.outcomeLine(anna1, version: 1, site: "branch-a", score: 0.8),
                                   Self.outcomeLine(ben1, version: 1, site: "branch-a", score: 0.7)].joined(separator: "\n").utf8)
            #expect(try TestConsent.recordOutcomes(firstLines, server: server, directory: kiosk).status == 0)
            #expect(try runTool("faceloop-agent", ["upload", "--data-dir", kiosk]).status == 0)

            // The administrator rotates; the answer names the version, never the key.
            var admin = ["authorization": "Bearer \(server.adminToken)"]
            let anonymous = RawClient(baseURL: server.baseURL, caPEM: try String(contentsOfFile: server.caFile, encoding: .utf8), identity: nil)
            let rotation = try await checked(anonymous, "POST", "/v1/admin/jurisdictions/eu-de/pseudonym-key-rotations",
                                             template: "/v1/admin/jurisdictions/{name}/pseudonym-key-rotations", headers: admin)
            #expect(rotation.status == 201)
            #expect(try JSONValue.parse(rotation.body)["version"]?.numberValue == 2)
            admin["content-type"] = "application/json"
            let officer = try JSONValue.parse(try cli(["compliance", "pseudonym", "--jurisdiction", "eu-de", "anna"]).stdout)
            #expect(officer["key_version"]?.numberValue == 2)

            let v2 = try JSONValue.parse(try await checked(client, "GET", "/v1/kiosk/pseudonym-key?site=branch-a", template: "/v1/kiosk/pseudonym-key").body)
            let key2 = try #require(v2["key"]?.stringValue)
            #expect(v2["version"]?.numberValue == 2 && key2 != key1)
            let old = try JSONValue.parse(try await checked(client, "GET", "/v1/kiosk/pseudonym-key?site=branch-a&version=1",
                                                            template: "/v1/kiosk/pseudonym-key").body)
            #expect(old["key"]?.stringValue == key1)
            let anna2 = try Self.pseudonym("anna", key: key2), ben2 = try Self.pseudonym("ben", key: key2)
            #expect(officer["subject_pseudonym"]?.stringValue == anna2)

            // Another jurisdiction's kiosk: neither the key nor a re-key.
            let foreignKey = try await checked(otherClient, "GET", "/v1/kiosk/pseudonym-key?site=branch-a&version=1", template: "/v1/kiosk/pseudonym-key")
            #expect(foreignKey.status == 403 && foreignKey.problemSlug == "site-mismatch")
            let foreignRekey = Array(JSONValue.object([
                ("jurisdiction", .string("eu-de")), ("from_version", .number(1)), ("to_version", .number(2)),
                ("pairs", .array([.object([("from", .string(ben1)), ("to", .string(String(repeating: "e", count: 64)))])])),
            ]).serializedString.utf8)
            let refused = try await checked(otherClient, "POST", "/v1/kiosk/pseudonym-rekeys", template: "/v1/kiosk/pseudonym-rekeys",
                                            body: foreignRekey, headers: ["content-type": "application/json"])
            #expect(refused.status == 403 && refused.problemSlug == "site-mismatch")

            // The kiosk re-keys Anna only; the raw id goes in on standard input and stays there.
            let rekey = try runTool("faceloop-agent", ["pseudonyms", "rekey", "--site", "branch-a", "--json", "--data-dir", kiosk],
                                    stdin: Data("anna\n".utf8))
            #expect(rekey.status == 0, "\(rekey.stdout)\(rekey.stderr)")
            let report = try JSONValue.parse(rekey.stdout)
            #expect(report["from_version"]?.numberValue == 1 && report["to_version"]?.numberValue == 2)
            #expect(report["server"]?[0]?["consent_events"]?.numberValue == 1 && report["server"]?[0]?["outcomes"]?.numberValue == 1,
                    "\(rekey.stdout)")

            // The ledger continues for Anna under version 2, not for Ben.
            let secondLines = Data([Self.outcomeLine(anna2, version: 2, site: "branch-a", score: 0.9),
                                    Self.outcomeLine(ben2, version: 2, site: "branch-a", score: 0.6)].joined(separator: "\n").utf8)
            #expect(try runTool("faceloop-agent", ["record", "--stdin", "--data-dir", kiosk], stdin: secondLines).status == 0)
            let upload = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", kiosk])
            #expect(upload.status == 0, "\(upload.stdout)\(upload.stderr)")
            func subject(_ pseudonym: String) async throws -> JSONValue {
                try JSONValue.parse(try await checked(anonymous, "GET", "/v1/compliance/subjects/\(pseudonym)",
                                                      template: "/v1/compliance/subjects/{pseudonym}", headers: admin).body)
            }
            let anna = try await subject(anna2)
            #expect(anna["outcomes"]?.arrayValue?.count == 2, "the outcome from before the rotation and the new one")
            #expect(anna["consent_events"]?.arrayValue?.count == 1)
            #expect(try await subject(anna1)["outcomes"]?.arrayValue?.isEmpty == true)
            #expect(try await subject(ben2)["outcomes"]?.arrayValue?.isEmpty == true, "Ben was not re-keyed: no consent under version 2")
            #expect(try await subject(ben1)["outcomes"]?.arrayValue?.count == 1)
        }
    }
}
