import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing
import X509

extension EndToEnd {
    /// The server's keys rotated under a running fleet, with the real binaries: `faceloop admin
    /// rotate`, then kiosks enrolled before the rotation go on uploading and pulling verified
    /// releases, renew into the new device CA, and keep connecting while pinning only the CA
    /// they were enrolled with; each rotation is one `key_rotated` entry in the audit log.
    @Suite("Key rotation end to end")
    struct KeyRotationEndToEndTests {
        func file(_ directory: String, _ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

        func cli(_ server: ServerProcess, _ arguments: [String], token: String? = nil) throws -> CommandResult {
            var args = arguments + ["--server", server.baseURL, "--ca-file", server.caFile]
            if let token { args += ["--token", token] } else { args += ["--token-file", server.adminTokenFile] }
            return try runTool("faceloop", args)
        }

        /// `faceloop admin rotate KEY --json`, as an operator runs it.
        func rotate(_ server: ServerProcess, _ key: String) throws -> JSONValue {
            let rotated = try cli(server, ["admin", "rotate", key, "--json"])
            #expect(rotated.status == 0, "rotate \(key): \(rotated.stderr)")
            let answer = try JSONValue.parse(rotated.stdout)
            #expect(answer["key"]?.stringValue == key)
            #expect(answer["generation"]?.numberValue == 2, "\(rotated.stdout)")
            return answer
        }

        /// Records `count` outcomes (with their consent) on the kiosk and uploads them with the agent.
        func recordAndUpload(_ server: ServerProcess, kiosk: String, site: String, count: Int, seed: Int) throws -> CommandResult {
            let lines = FeedbackPathEndToEndTests.outcomeLines(count: count, site: site, seed: seed)
            let recorded = try TestConsent.recordOutcomes(lines, server: server, directory: kiosk)
            #expect(recorded.status == 0, "\(recorded.stderr)")
            return try runTool("faceloop-agent", ["upload", "--json", "--data-dir", kiosk])
        }

        func expectUploaded(_ upload: CommandResult, _ count: Int, _ what: String) {
            #expect(upload.status == 0, "\(what): \(upload.stdout) \(upload.stderr)")
            let report = try? JSONValue.parse(upload.stdout)
            #expect(report?["outcomes_acknowledged"]?.numberValue == Double(count), "\(what): \(upload.stdout) \(upload.stderr)")
        }

        /// The audit log's entries, exported with the admin token.
        func auditEntries(_ server: ServerProcess, to path: String) throws -> [JSONValue] {
            let exported = try cli(server, ["audit", "export", "--output", path])
            #expect(exported.status == 0, "\(exported.stderr)")
            let bundle = try JSONValue.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
            return try (bundle["entries"]?.arrayValue ?? []).compactMap { $0["entry"]?.stringValue }.map { try JSONValue.parse(Array($0.utf8)) }
        }

        static var openssl: String? {
            ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        }

        /// The chain the server presents in a TLS handshake, as `openssl s_client -showcerts` sees it.
        func presentedChain(_ server: ServerProcess, openssl: String) throws -> [Certificate] {
            let shown = try runTool(openssl, ["s_client", "-connect", "127.0.0.1:\(server.port)", "-showcerts"], stdin: Data())
            let blocks = shown.stdout.matches(of: /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/).map { String($0.output) }
            #expect(!blocks.isEmpty, "s_client printed no certificate: \(shown.stdout) \(shown.stderr)")
            return try blocks.map { try Certificate(pemEncoded: $0) }
        }

        @Test("release-signing rotated: a release signed by the new key is verified by a kiosk that pinned the old one, which learns the key; a history tampered on disk is refused")
        func releaseKey() async throws {
            let root = try temporaryDirectory("rotation-release")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: file(root, "server"))
            try server.start()
            defer { server.stop() }
            let openAPI = try OpenAPIConformance()
            let kiosk = file(root, "kiosk-a")
            try enrollKiosk(server, id: "kiosk-k1", sites: ["branch-k"], directory: kiosk)
            let pinned = try read(file(kiosk, "release-signing.pub"))

            let scores = ThresholdReleaseEndToEndTests.scores(seed: 7, impostors: 700, genuine: 300)
            let recorded = try TestConsent.recordOutcomes(ThresholdReleaseEndToEndTests.lines(scores, site: "branch-k", camera: "cam-1"),
                                                          server: server, directory: kiosk)
            #expect(recorded.status == 0, "\(recorded.stderr)")
            let uploaded = try runTool("faceloop-agent", ["upload", "--data-dir", kiosk])
            #expect(uploaded.status == 0, "\(uploaded.stdout)\(uploaded.stderr)")

            let rotated = try rotate(server, "release-signing")
            let newKeyID = try #require(rotated["key_id"]?.stringValue)
            #expect(rotated["previous_key_id"]?.stringValue != newKeyID)
            #expect(try read(file(server.dataDirectory, "release-signing.pub")) != pinned, "the server's .pub file is the new key")

            // GET /v1/releases/signing-keys, with the kiosk's certificate, as its schema says.
            let (kioskClient, _) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kiosk)
            let listed = try await kioskClient.send("GET", "/v1/releases/signing-keys")
            try openAPI.check(method: "GET", template: "/v1/releases/signing-keys", status: listed.status, contentType: listed.contentType,
                              body: listed.body)
            let history = try JSONValue.parse(listed.body)
            #expect(history["keys"]?.arrayValue?.compactMap { $0["key_id"]?.stringValue }
                    == [try #require(rotated["previous_key_id"]?.stringValue), newKeyID])
            #expect(history["keys"]?[0]?["public_key"]?.stringValue == pinned.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(history["endorsements"]?.arrayValue?.first?["kind"]?.stringValue == "faceloop.signing-key.v1")

            // An engineer computes, the admin approves, the engineer publishes: signed by the new key.
            let grant = try cli(server, ["tokens", "create", "--role", "engineer", "--label", "erin"])
            #expect(grant.status == 0, "\(grant.stderr)")
            let engineer = grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try cli(server, ["thresholds", "compute", "--target-fmr", "0.01", "--json"], token: engineer).status == 0)
            #expect(try cli(server, ["thresholds", "approve", "1"]).status == 0)
            let published = try cli(server, ["thresholds", "publish", "1", "--json"], token: engineer)
            #expect(published.status == 0, "\(published.stderr)")
            let current = try await kioskClient.send("GET", "/v1/thresholds/current")
            #expect(current.status == 200)
            #expect(try JSONValue.parse(current.body)["key_id"]?.stringValue == newKeyID, "the release names the new key")

            // The kiosk, which pinned the old key at enrollment, learns the new one and verifies.
            let keyHistory = file(kiosk, "release-signing-keys.json")
            #expect(!FileManager.default.fileExists(atPath: keyHistory), "nothing learned before a release needed it")
            let pull = ["thresholds", "pull", "--json", "--data-dir", kiosk, "--site", "branch-k", "--camera-model", "cam-1"]
            let pulled = try runTool("faceloop-agent", pull)
            #expect(pulled.status == 0, "\(pulled.stdout) \(pulled.stderr)")
            #expect(try JSONValue.parse(pulled.stdout)["release_version"]?.numberValue == 1, "\(pulled.stdout)")
            #expect(FileManager.default.fileExists(atPath: keyHistory), "the endorsement is kept")
            #expect(try read(file(kiosk, "release-signing.pub")) == pinned, "the pin stays the key of enrollment")
            let show = ["thresholds", "show", "--data-dir", kiosk, "--site", "branch-k", "--camera-model", "cam-1"]
            #expect(try runTool("faceloop-agent", show).status == 0, "the stored copy verifies again on reading")

            // Someone with the kiosk's disk swaps the endorsed key for their own: refused on every read.
            var endorsements = try WireJSON.decoder().decode([SignedRelease].self, from: try Data(contentsOf: URL(fileURLWithPath: keyHistory)))
            let endorsement = try #require(endorsements.first)
            let payload = try #require(Data(base64Encoded: endorsement.payload))
            let genuineKey = try #require(history["keys"]?[1]?["public_key"]?.stringValue)
            let forgedKey = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString()
            let forged = String(decoding: payload, as: UTF8.self).replacingOccurrences(of: genuineKey, with: forgedKey)
            #expect(forged != String(decoding: payload, as: UTF8.self), "the endorsement's payload names the new key")
            endorsements[0].payload = Data(forged.utf8).base64EncodedString()
            try WireJSON.encoder().encode(endorsements).write(to: URL(fileURLWithPath: keyHistory))
            let refusedShow = try runTool("faceloop-agent", show)
            #expect(refusedShow.status != 0)
            #expect(refusedShow.stderr.contains("release refused") && refusedShow.stderr.contains("history"), "\(refusedShow.stderr)")
            let refusedPull = try runTool("faceloop-agent", pull)
            #expect(refusedPull.status != 0, "\(refusedPull.stdout)")
            #expect(refusedPull.stderr.contains("history"), "\(refusedPull.stderr)")

            // The rotation is one audit entry, by the admin.
            let rotations = try auditEntries(server, to: file(root, "audit.json")).filter { $0["kind"]?.stringValue == "key_rotated" }
            #expect(rotations.count == 1)
            #expect(rotations.first?["details"]?["purpose"]?.stringValue == "release-signing")
            #expect(rotations.first?["details"]?["key_id"]?.stringValue == newKeyID)
            #expect(rotations.first?["actor"]?.stringValue?.hasSuffix("(admin)") == true, "\(rotations.first?.serializedString ?? "")")
        }

        @Test("device CA rotated: the old certificate uploads, renewal issues from the new CA (openssl verifies it with the bundle, and with the old CA through the cross certificate), a kiosk enrolled after uploads; TLS renewed without a restart still reaches a kiosk pinning only the old CA; one key_rotated entry per rotation")
        func deviceCAAndTLS() async throws {
            let root = try temporaryDirectory("rotation-ca")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: file(root, "server"))
            try server.start()
            defer { server.stop() }
            let openAPI = try OpenAPIConformance()
            let kioskA = file(root, "kiosk-a")
            try enrollKiosk(server, id: "kiosk-k2", sites: ["branch-k"], directory: kioskA)
            let firstCA = file(root, "first-ca.crt")
            try FileManager.default.copyItem(atPath: server.caFile, toPath: firstCA)
            let firstAuthority = try Certificate(pemEncoded: try read(firstCA))
            #expect(try Certificate.bundle(pem: try read(firstCA)).count == 1)
            let enrolledCertificate = try read(file(kioskA, "device.crt"))

            // (b) The device CA: the answer conforms, the kiosk enrolled under the old CA uploads on.
            let admin = RawClient(baseURL: server.baseURL, caPEM: try read(server.caFile), identity: nil)
            let adminHeaders = ["authorization": "Bearer \(server.adminToken)", "content-type": "application/json"]
            let rotation = try await admin.send("POST", "/v1/admin/key-rotations", headers: adminHeaders, body: Array(#"{"key":"device-ca"}"#.utf8))
            try openAPI.check(method: "POST", template: "/v1/admin/key-rotations", status: rotation.status, contentType: rotation.contentType,
                              body: rotation.body)
            #expect(rotation.status == 201, "\(String(decoding: rotation.body, as: UTF8.self))")
            let caRotation = try JSONValue.parse(rotation.body)
            #expect(caRotation["generation"]?.numberValue == 2)
            #expect(caRotation["previous_key_id"]?.stringValue == (try firstAuthority.sha256Fingerprint))
            let authorities = try Certificate.bundle(pem: try read(server.caFile))
            #expect(authorities.count == 2, "ca.crt lists the old and the new CA")
            let newAuthority = try #require(authorities.last)
            #expect(caRotation["key_id"]?.stringValue == (try newAuthority.sha256Fingerprint))
            let crosses = try Certificate.bundle(pem: try read(file(server.dataDirectory, "ca-cross.crt")))
            #expect(crosses.count == 1 && crosses.first?.subject == newAuthority.subject && crosses.first?.issuer == firstAuthority.subject)

            // Refusals conform too: an unknown key, and an engineer.
            let unknown = try await admin.send("POST", "/v1/admin/key-rotations", headers: adminHeaders, body: Array(#"{"key":"ssh-host"}"#.utf8))
            try openAPI.check(method: "POST", template: "/v1/admin/key-rotations", status: unknown.status, contentType: unknown.contentType,
                              body: unknown.body)
            #expect(unknown.status == 400 && unknown.problemSlug == "invalid-request")
            let extra = try await admin.send("POST", "/v1/admin/key-rotations", headers: adminHeaders,
                                             body: Array(#"{"key":"device-ca","when":"now"}"#.utf8))
            try openAPI.check(method: "POST", template: "/v1/admin/key-rotations", status: extra.status, contentType: extra.contentType,
                              body: extra.body)
            #expect(extra.status == 422 && extra.problemSlug == "schema-violation", "a member the request does not have is refused")
            let engineer = try cli(server, ["tokens", "create", "--role", "engineer", "--label", "eve"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let forbidden = try await admin.send("POST", "/v1/admin/key-rotations",
                                                 headers: ["authorization": "Bearer \(engineer)", "content-type": "application/json"],
                                                 body: Array(#"{"key":"device-ca"}"#.utf8))
            try openAPI.check(method: "POST", template: "/v1/admin/key-rotations", status: forbidden.status, contentType: forbidden.contentType,
                              body: forbidden.body)
            #expect(forbidden.status == 403)

            expectUploaded(try recordAndUpload(server, kiosk: kioskA, site: "branch-k", count: 3, seed: 1), 3,
                           "the certificate of the old CA uploads after the rotation")
            #expect(try read(file(kioskA, "device.crt")) == enrolledCertificate, "no renewal happened on the way")

            // Renewal gives kiosk A a certificate of the new CA.
            let renewed = try runTool("faceloop-agent", ["renew", "--json", "--data-dir", kioskA])
            #expect(renewed.status == 0, "\(renewed.stderr)")
            let renewedCertificate = try Certificate(pemEncoded: try read(file(kioskA, "device.crt")))
            #expect(newAuthority.publicKey.isValidSignature(renewedCertificate.signature, for: renewedCertificate), "issued by the new CA")
            #expect(try Certificate.bundle(pem: try read(file(kioskA, "ca.crt"))).count == 2, "the kiosk pins both CAs now")
            if let openssl = Self.openssl {
                let bundle = try runTool(openssl, ["verify", "-CAfile", server.caFile, file(kioskA, "device.crt")])
                #expect(bundle.status == 0 && bundle.stdout.contains(": OK"), "\(bundle.stdout) \(bundle.stderr)")
                let bridged = try runTool(openssl, ["verify", "-CAfile", firstCA, "-untrusted", file(server.dataDirectory, "ca-cross.crt"),
                                                    file(kioskA, "device.crt")])
                // The new CA bears the old one's name, so the cross certificate is self-issued and does
                // not count against the first CA's path length of 0, which OpenSSL enforces.
                #expect(bridged.status == 0 && bridged.stdout.contains(": OK"), "the cross certificate bridges: \(bridged.stdout) \(bridged.stderr)")
                let alone = try runTool(openssl, ["verify", "-CAfile", firstCA, file(kioskA, "device.crt")])
                #expect(alone.status != 0, "the old CA alone does not verify the new CA's certificate: \(alone.stdout)")
            } else {
                print("openssl is not installed; skipping `openssl verify` across the CA rotation")
            }
            expectUploaded(try recordAndUpload(server, kiosk: kioskA, site: "branch-k", count: 2, seed: 2), 2, "the renewed certificate uploads")

            // A kiosk enrolled after the rotation gets a certificate of the new CA.
            let kioskB = file(root, "kiosk-b")
            try enrollKiosk(server, id: "kiosk-k3", sites: ["branch-k"], directory: kioskB)
            let kioskBCertificate = try Certificate(pemEncoded: try read(file(kioskB, "device.crt")))
            #expect(newAuthority.publicKey.isValidSignature(kioskBCertificate.signature, for: kioskBCertificate))
            expectUploaded(try recordAndUpload(server, kiosk: kioskB, site: "branch-k", count: 2, seed: 3), 2, "a kiosk enrolled after the rotation")

            // (c) The TLS certificate, renewed on the running server. A copy of kiosk A that pins only
            // the first CA (from here on the only one of the two used) must still reach it.
            let pinsFirst = file(root, "kiosk-a-first-ca")
            try FileManager.default.copyItem(atPath: kioskA, toPath: pinsFirst)
            try FileManager.default.removeItem(atPath: file(pinsFirst, "ca.crt"))
            try FileManager.default.copyItem(atPath: firstCA, toPath: file(pinsFirst, "ca.crt"))
            let before = try Self.openssl.map { try presentedChain(server, openssl: $0) }
            let tls = try rotate(server, "tls-certificate")
            if let openssl = Self.openssl, let before {
                let after = try presentedChain(server, openssl: openssl)
                #expect(try after.first?.sha256Fingerprint != before.first?.sha256Fingerprint, "a new certificate is served without a restart")
                #expect(try after.first?.sha256Fingerprint == tls["key_id"]?.stringValue)
                let served = try #require(after.first)
                #expect(newAuthority.publicKey.isValidSignature(served.signature, for: served), "issued by the new CA")
                let carried = try #require(after.last)
                #expect(after.count == 2 && carried.publicKey == newAuthority.publicKey
                        && firstAuthority.publicKey.isValidSignature(carried.signature, for: carried),
                        "the cross certificate rides along: \(after.map { "\($0.subject) ← \($0.issuer)" })")
            }
            expectUploaded(try recordAndUpload(server, kiosk: pinsFirst, site: "branch-k", count: 2, seed: 4), 2,
                           "a kiosk pinning only the first CA, after the TLS renewal")
            // And the server's own client, pinning the bundle, as before.
            let signingKeys = try await admin.send("GET", "/v1/releases/signing-keys", headers: ["authorization": "Bearer \(server.adminToken)"])
            #expect(signingKeys.status == 200)

            // (d) The audit key too, then one key_rotated entry per rotation, in order, by the admin.
            let audit = try rotate(server, "audit-signing")
            let rotations = try auditEntries(server, to: file(root, "audit.json")).filter { $0["kind"]?.stringValue == "key_rotated" }
            #expect(rotations.compactMap { $0["details"]?["purpose"]?.stringValue } == ["device-ca", "tls-certificate", "audit-signing"])
            #expect(rotations.compactMap { $0["details"]?["key_id"]?.stringValue }
                    == [caRotation["key_id"]?.stringValue, tls["key_id"]?.stringValue, audit["key_id"]?.stringValue].compactMap { $0 })
            #expect(rotations.allSatisfy { $0["actor"]?.stringValue?.hasSuffix("(admin)") == true })
        }
    }
}
