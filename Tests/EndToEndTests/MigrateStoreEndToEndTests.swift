import FeedbackWire
import Foundation
import PostgresTestSupport
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// A SQLite pilot moved to PostgreSQL with `faceloop admin migrate-store`.
    @Suite("Store migration", .enabled(if: PostgresTestDatabase.isAvailable))
    struct MigrateStoreEndToEndTests {
        @Test("migrate-store copies a pilot whole: same counts, same audit root, and a node on PostgreSQL carries on from it")
        func pilotToPostgres() async throws {
            let root = try temporaryDirectory("migrate")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let dataDirectory = (root as NSString).appendingPathComponent("server")
            let pilot = ServerProcess(dataDirectory: dataDirectory)
            try pilot.start()
            let access = ["--server", pilot.baseURL, "--token-file", pilot.adminTokenFile, "--ca-file", pilot.caFile]
            let fleet = try runTool("faceloop", ["simulate", "fleet", "--kiosks", "6", "--outcomes-per-kiosk", "100", "--batch-size", "25",
                                                 "--target-fmr", "0.05", "--json"] + access)
            #expect(fleet.status == 0, "\(fleet.stderr)")
            // A withdrawal and an erasure, so the copy carries compliance records too.
            let subject = String(repeating: "7", count: 64)
            #expect(try runTool("faceloop", ["compliance", "request", "erasure", "--subject-pseudonym", subject] + access).status == 0)
            let checkpoint = try runTool("faceloop", ["audit", "checkpoint"] + access)
            #expect(checkpoint.status == 0, "\(checkpoint.stderr)")
            let before = try JSONValue.parse(checkpoint.stdout)
            let statsBefore = try runTool("faceloop", ["outcomes", "stats", "--json"] + access).stdout
            let devicesBefore = try JSONValue.parse(try runTool("faceloop", ["devices", "list", "--json"] + access).stdout)
            #expect(devicesBefore["devices"]?.arrayValue?.allSatisfy { $0["sites"]?.arrayValue?.count == 1 } == true,
                    "each simulated kiosk is enrolled for its site")
            let pilotPages = RawClient(baseURL: pilot.baseURL, caPEM: try String(contentsOfFile: pilot.caFile, encoding: .utf8), identity: nil)
            let pilotSession = try #require(try await WebSignIn.session(pilotPages, token: pilot.adminToken))
            pilot.stop()

            let sqlite = (dataDirectory as NSString).appendingPathComponent("faceloop.sqlite")
            let url = try await PostgresTestDatabase.create()
            let migration = try runTool("faceloop", ["admin", "migrate-store", "--from", sqlite, "--to", url, "--json"])
            #expect(migration.status == 0, "\(migration.stderr)")
            let report = try JSONValue.parse(migration.stdout)
            let tables = report["tables"]?.arrayValue ?? []
            #expect(tables.count == 29)
            #expect((tables.first { $0["table"]?.stringValue == "score_statistics" }?["copied_rows"]?.numberValue ?? 0) > 0,
                    "the live statistics go with the outcomes they count")
            for table in tables { #expect(table["source_rows"] == table["copied_rows"], "\(table)") }
            #expect(!tables.contains { $0["table"]?.stringValue == "web_sessions" }, "sessions stay behind on purpose")
            #expect(tables.first { $0["table"]?.stringValue == "outcomes" }?["copied_rows"]?.numberValue == 600)
            #expect(tables.first { $0["table"]?.stringValue == "device_sites" }?["copied_rows"]?.numberValue == 6, "each kiosk's site")
            #expect(tables.first { $0["table"]?.stringValue == "device_certificates" }?["copied_rows"]?.numberValue == 6,
                    "each kiosk's certificate")
            let rootHex = try #require(before["root_hash"]?.stringValue.flatMap { Data(base64Encoded: $0) }).map { String(format: "%02x", $0) }.joined()
            #expect(report["audit_root_hash"]?.stringValue == rootHex)
            #expect(report["audit_entries"] == before["tree_size"])

            // A second run finds data there and refuses, changing nothing.
            let again = try runTool("faceloop", ["admin", "migrate-store", "--from", sqlite, "--to", url])
            #expect(again.status != 0)
            #expect(again.stderr.contains("already holds data"), "\(again.stderr)")

            // The same keys on PostgreSQL: the API answers as the pilot did, and the log only grew.
            let node = ServerProcess(dataDirectory: dataDirectory, environment: ["FACELOOP_STORE_KIND": "postgres",
                                                                                 "FACELOOP_STORE_POSTGRES_URL": url])
            try node.start()
            defer { node.stop() }
            let nodeAccess = ["--server", node.baseURL, "--token-file", node.adminTokenFile, "--ca-file", node.caFile]
            #expect(try JSONValue.parse(try runTool("faceloop", ["outcomes", "stats", "--json"] + nodeAccess).stdout)
                    == JSONValue.parse(statsBefore))
            #expect(try JSONValue.parse(try runTool("faceloop", ["devices", "list", "--json"] + nodeAccess).stdout) == devicesBefore,
                    "the kiosks keep their sites")
            // The pilot's page session did not move: people sign in again, with the same tokens.
            let nodePages = RawClient(baseURL: node.baseURL, caPEM: pilotPages.caPEM, identity: nil)
            #expect(try await nodePages.send("GET", "/ui/fleet", headers: WebSignIn.cookie(pilotSession)).status == 303)
            let nodeSession = try #require(try await WebSignIn.session(nodePages, token: node.adminToken))
            #expect(try await nodePages.send("GET", "/ui/fleet", headers: WebSignIn.cookie(nodeSession)).status == 200)
            let bundlePath = (root as NSString).appendingPathComponent("audit.json")
            let size = Int(before["tree_size"]?.numberValue ?? 0)
            #expect(try runTool("faceloop", ["audit", "export", "--since", "\(size)", "--output", bundlePath] + nodeAccess).status == 0)
            let verify = try runTool("faceloop", ["audit", "verify", bundlePath, "--public-key",
                                                  (dataDirectory as NSString).appendingPathComponent("audit-signing.pub")])
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        }
    }
}
