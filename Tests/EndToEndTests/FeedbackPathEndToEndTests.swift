import Crypto
import FeedbackWire
import Foundation
import HTTPSignatures
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// The whole feedback path with the real binaries: server, agents and CLI as separate
    /// processes talking mutual TLS on 127.0.0.1.
    @Suite("Feedback path end to end")
    struct FeedbackPathEndToEndTests {
        static let outcomesPerKiosk = 1000

        /// `attemptedAt(index)`, when given, sets an outcome's `attempted_at` (the agent fills in now otherwise).
        static func outcomeLines(count: Int, site: String, seed: Int, attemptedAt: ((Int) -> Date)? = nil) -> Data {
            var lines: [String] = []
            for index in 0..<count {
                let genuine = (index + seed) % 3 != 0
                let score = genuine ? 0.55 + Double(index % 40) / 100 : -0.2 + Double(index % 50) / 100
                let outcome: JSONValue = .object([
                    ("model_version", .string("dlib-resnet-v1")), ("threshold_version", .string("initial")),
                    ("cohort", .object([("site", .string(site)), ("camera_model", .string("cam-x\(index % 2)"))])),
                    ("score", .number(score)), ("decision", .string(score >= 0.5 ? "accept" : "reject")),
                    ("label", .string(index % 17 == 0 ? "unknown" : (genuine ? "genuine" : "impostor"))),
                    ("label_source", .string(index % 17 == 0 ? "none" : "fallback_id_check")),
                    ("quality", .object([("face_size_px", .number(120 + Double(index % 80))), ("sharpness", .number(90.5)),
                                         ("brightness", .number(0.45))])),
                    ("subject", .object([("pseudonym", .string(String(format: "%064x", (index % 40) * 7919 + seed))),
                                         ("consent_ref", .string("consent-\(index % 5)"))])),
                ] + (attemptedAt.map { [("attempted_at", JSONValue.string(RFC3339.format($0(index))))] } ?? []))
                lines.append(outcome.serializedString)
            }
            return Data(lines.joined(separator: "\n").utf8)
        }

        func cli(_ server: ServerProcess, _ arguments: [String]) throws -> CommandResult {
            try runTool("faceloop", arguments + ["--server", server.baseURL, "--token-file", server.adminTokenFile, "--ca-file", server.caFile])
        }

        func stats(_ server: ServerProcess) throws -> OutcomeStats {
            let result = try cli(server, ["outcomes", "stats", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            return try WireJSON.decoder().decode(OutcomeStats.self, from: Data(result.stdout.utf8))
        }

        func enroll(_ server: ServerProcess, deviceID: String, sites: [String], directory: String) throws {
            try enrollKiosk(server, id: deviceID, sites: sites, directory: directory)
            let attributes = try FileManager.default.attributesOfItem(atPath: (directory as NSString).appendingPathComponent("tls.key"))
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
        }

        @Test("two kiosks upload 1,000 outcomes each; the store keeps them across a restart and refuses every attack")
        func fullPath() async throws {
            let root = try temporaryDirectory("e2e")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"))
            try server.start()
            defer { server.stop() }
            let openAPI = try OpenAPIConformance()

            let kioskA = (root as NSString).appendingPathComponent("kiosk-a")
            let kioskB = (root as NSString).appendingPathComponent("kiosk-b")
            try enroll(server, deviceID: "kiosk-a", sites: ["branch-a", "branch-private"], directory: kioskA)
            try enroll(server, deviceID: "kiosk-b", sites: ["branch-b"], directory: kioskB)

            // Interoperability with the system's libssl.
            for certificate in [(kioskA as NSString).appendingPathComponent("device.crt"),
                                (server.dataDirectory as NSString).appendingPathComponent("server.crt")] {
                let verified = try runTool("/usr/bin/openssl", ["verify", "-CAfile", server.caFile, certificate])
                #expect(verified.status == 0 && verified.stdout.contains(": OK"), "\(verified.stdout)\(verified.stderr)")
            }

            for (directory, site, seed) in [(kioskA, "branch-a", 1), (kioskB, "branch-b", 2)] {
                let recorded = try TestConsent.recordOutcomes(Self.outcomeLines(count: Self.outcomesPerKiosk, site: site, seed: seed), server: server, directory: directory)
                #expect(recorded.status == 0, "\(recorded.stderr)")
                let uploaded = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", directory])
                #expect(uploaded.status == 0, "\(uploaded.stdout) \(uploaded.stderr)")
                let report = try JSONValue.parse(uploaded.stdout)
                #expect(report["outcomes_acknowledged"]?.numberValue == Double(Self.outcomesPerKiosk))
                #expect(report["batches_acknowledged"]?.numberValue == 10)
                let status = try JSONValue.parse(try runTool("faceloop-agent", ["status", "--json", "--data-dir", directory]).stdout)
                #expect(status["queue"]?["pending_outcomes"]?.numberValue == 0)
                #expect(status["queue"]?["sealed_batches"]?.numberValue == 0)
            }

            var stored = try stats(server)
            #expect(stored.totalEvents == 2 * Self.outcomesPerKiosk)
            #expect(stored.byDevice == [.init(deviceID: "kiosk-a", events: 1000), .init(deviceID: "kiosk-b", events: 1000)])

            #expect(server.stop() == 0, "SIGTERM should end the server cleanly")
            try server.start()
            stored = try stats(server)
            #expect(stored.totalEvents == 2000, "outcomes must survive a restart")
            #expect(stored.totalBatches == 20)

            // Direct requests, each checked against the OpenAPI document.
            let (kiosk, key) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kioskA)
            func upload(_ body: [UInt8], headers: [String: String], client: RawClient? = nil) async throws -> RawResponse {
                let response = try await (client ?? kiosk).send("POST", "/v1/outcomes", headers: headers, body: body)
                try openAPI.check(method: "POST", template: "/v1/outcomes", status: response.status,
                                  contentType: response.contentType, body: response.body)
                return response
            }
            func batch(sequence: Int64, count: Int = 3, device: String = "kiosk-a") -> [UInt8] {
                OutcomeBatch(deviceID: device, sequence: sequence, createdAt: Date(),
                             outcomes: (0..<count).map { _ in Self.sampleOutcome() },
                             consentEvents: [TestConsent.grant(pseudonym: String(repeating: "cd", count: 32), site: "branch-a")]).encoded()
            }

            // A retried batch gets the same receipt, byte for byte, and is stored once.
            let retryBody = batch(sequence: 5000)
            let first = try await upload(retryBody, headers: try RawClient.signedHeaders(body: retryBody, keyID: "kiosk-a", key: key))
            #expect(first.status == 202)
            let second = try await upload(retryBody, headers: try RawClient.signedHeaders(body: retryBody, keyID: "kiosk-a", key: key))
            #expect(second.status == 200)
            #expect(second.body == first.body)
            let receipt = try WireJSON.decoder().decode(BatchReceipt.self, from: Data(first.body))
            #expect(receipt.sequence == 5000 && receipt.acceptedEvents == 3 && receipt.deviceID == "kiosk-a")

            var expectedTotal = 2003
            func refused(_ body: [UInt8], _ headers: [String: String], client: RawClient? = nil) async throws -> String? {
                let response = try await upload(body, headers: headers, client: client)
                #expect(response.status >= 400, "expected a refusal, got \(response.status)")
                return response.problemSlug
            }

            // Tampered body: signed, then one byte changed.
            var tampered = batch(sequence: 5001)
            let tamperedHeaders = try RawClient.signedHeaders(body: tampered, keyID: "kiosk-a", key: key)
            if let index = tampered.firstIndex(of: UInt8(ascii: "8")) { tampered[index] = UInt8(ascii: "9") }
            #expect(try await refused(tampered, tamperedHeaders) == "content-digest-mismatch")

            // The digest updated too: now the signature no longer matches.
            var reDigested = tamperedHeaders
            reDigested["content-digest"] = ContentDigest.sha256Field(for: tampered)
            #expect(try await refused(tampered, reDigested) == "signature-invalid")

            // Replayed nonce: the identical signed request twice.
            let replayBody = batch(sequence: 5002)
            let replayHeaders = try RawClient.signedHeaders(body: replayBody, keyID: "kiosk-a", key: key)
            #expect(try await upload(replayBody, headers: replayHeaders).status == 202)
            expectedTotal += 3
            #expect(try await refused(replayBody, replayHeaders) == "nonce-replayed")

            // Stale creation time.
            let staleBody = batch(sequence: 5003)
            #expect(try await refused(staleBody, try RawClient.signedHeaders(body: staleBody, keyID: "kiosk-a", key: key,
                                                                             now: Date().addingTimeInterval(-400))) == "signature-time-out-of-range")

            // Unknown device: a key id nobody enrolled.
            let strangerBody = batch(sequence: 1, device: "kiosk-zz")
            #expect(try await refused(strangerBody, try RawClient.signedHeaders(body: strangerBody, keyID: "kiosk-zz",
                                                                                key: Curve25519.Signing.PrivateKey())) == "unknown-device")

            // A forged signature under kiosk-a's key id.
            let forgedBody = batch(sequence: 5004)
            #expect(try await refused(forgedBody, try RawClient.signedHeaders(body: forgedBody, keyID: "kiosk-a",
                                                                              key: Curve25519.Signing.PrivateKey())) == "signature-invalid")

            // Missing signature.
            #expect(try await refused(forgedBody, ["content-type": "application/json",
                                                   "content-digest": ContentDigest.sha256Field(for: forgedBody)]) == "signature-missing")

            // Schema violation, with a pointer to the field.
            var invalid = OutcomeBatch(deviceID: "kiosk-a", sequence: 5005, createdAt: Date(), outcomes: [Self.sampleOutcome()]).json
            if case var .object(members) = invalid, let index = members.firstIndex(where: { $0.key == "outcomes" }),
               case var .array(items) = members[index].value, case var .object(fields) = items[0] {
                fields.append(("embedding", .array([.number(0.1), .number(0.2)])))
                items[0] = .object(fields)
                members[index].value = .array(items)
                invalid = .object(members)
            }
            let invalidBody = invalid.serialized()
            let schemaRefusal = try await upload(invalidBody, headers: try RawClient.signedHeaders(body: invalidBody, keyID: "kiosk-a", key: key))
            #expect(schemaRefusal.status == 422)
            let problem = try WireJSON.decoder().decode(ProblemDetails.self, from: Data(schemaRefusal.body))
            #expect(problem.errors?.contains { $0.pointer == "/outcomes/0/embedding" } == true)

            // Malformed JSON.
            let garbage = Array("{\"protocol\": ".utf8)
            #expect(try await refused(garbage, try RawClient.signedHeaders(body: garbage, keyID: "kiosk-a", key: key)) == "malformed-json")

            // Deeply nested body, a NaN literal and an out-of-range score.
            let nested = Array((String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)).utf8)
            #expect(try await refused(nested, try RawClient.signedHeaders(body: nested, keyID: "kiosk-a", key: key)) == "malformed-json")
            let validBody = String(decoding: batch(sequence: 5008, count: 1), as: UTF8.self)
            let nanBody = Array(validBody.replacingOccurrences(of: "\"score\":0.8125", with: "\"score\":NaN").utf8)
            #expect(nanBody != Array(validBody.utf8))
            #expect(try await refused(nanBody, try RawClient.signedHeaders(body: nanBody, keyID: "kiosk-a", key: key)) == "malformed-json")
            let outOfRange = Array(validBody.replacingOccurrences(of: "\"score\":0.8125", with: "\"score\":1.5").utf8)
            #expect(try await refused(outOfRange, try RawClient.signedHeaders(body: outOfRange, keyID: "kiosk-a", key: key)) == "schema-violation")

            // Nothing beyond the schema's information rides in a stored body, and no event is dated
            // in the future: a pseudonym or site with a final line break or line separator, fullwidth
            // digits, an over-long number literal, a date-time with more than nine fraction digits.
            for (from, to) in [("\"pseudonym\":\"\(String(repeating: "cd", count: 32))\"", "\"pseudonym\":\"\(String(repeating: "cd", count: 32))\\n\""),
                               ("\"site\":\"branch-a\"", "\"site\":\"branch-a\\u2028\""),
                               ("\"pseudonym\":\"\(String(repeating: "cd", count: 32))\"", "\"pseudonym\":\"\(String(repeating: "cd", count: 31))c１\"")] {
                let variant = Array(validBody.replacingOccurrences(of: from, with: to).utf8)
                #expect(variant != Array(validBody.utf8), "\(to)")
                #expect(try await refused(variant, try RawClient.signedHeaders(body: variant, keyID: "kiosk-a", key: key)) == "schema-violation", "\(to)")
            }
            let longNumber = Array(validBody.replacingOccurrences(of: "\"score\":0.8125", with: "\"score\":0.8125000000000000000000000000000001").utf8)
            #expect(try await refused(longNumber, try RawClient.signedHeaders(body: longNumber, keyID: "kiosk-a", key: key)) == "malformed-json")
            let longFraction = Array(validBody.replacingOccurrences(of: #"("attempted_at":"[^"]*\.[0-9]{3})Z"#, with: "$1123456789Z",
                                                                    options: .regularExpression).utf8)
            #expect(longFraction != Array(validBody.utf8))
            #expect(try await refused(longFraction, try RawClient.signedHeaders(body: longFraction, keyID: "kiosk-a", key: key)) == "schema-violation")
            var future = Self.sampleOutcome()
            future.attemptedAt = Date().addingTimeInterval(3600)
            let futureBody = OutcomeBatch(deviceID: "kiosk-a", sequence: 5009, createdAt: Date(), outcomes: [future]).encoded()
            let futureRefusal = try await upload(futureBody, headers: try RawClient.signedHeaders(body: futureBody, keyID: "kiosk-a", key: key))
            #expect(futureRefusal.problemSlug == "timestamp-in-future" && futureRefusal.status == 422)
            #expect(try WireJSON.decoder().decode(ProblemDetails.self, from: Data(futureRefusal.body)).errors?.first?.pointer
                    == "/outcomes/0/attempted_at")

            // Consent status answers only for subjects seen at the asking kiosk's sites: kiosk-a
            // records a subject at a site of its own; kiosk-b (enrolled for branch-b only) learns nothing.
            let secret = TestConsent.grant(pseudonym: String(repeating: "ef", count: 32), site: "branch-private")
            let secretBody = OutcomeBatch(deviceID: "kiosk-a", sequence: 5010, createdAt: Date(), outcomes: [], consentEvents: [secret]).encoded()
            #expect(try await upload(secretBody, headers: try RawClient.signedHeaders(body: secretBody, keyID: "kiosk-a", key: key)).status == 202)
            let (kioskBClient, _) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kioskB)
            let question = Array(#"{"purpose":"threshold-calibration","subject_pseudonyms":["\#(String(repeating: "ef", count: 32))"]}"#.utf8)
            let json = ["content-type": "application/json"]
            let answerA = try JSONValue.parse(try await kiosk.send("POST", "/v1/kiosk/consent-status", headers: json, body: question).body)
            #expect(answerA["covered"]?.arrayValue?.count == 1, "\(answerA.serializedString)")
            let answerB = try JSONValue.parse(try await kioskBClient.send("POST", "/v1/kiosk/consent-status", headers: json, body: question).body)
            #expect(answerB["covered"]?.arrayValue?.isEmpty == true, "\(answerB.serializedString)")
            #expect(answerB["refused"]?.arrayValue?.first?["reason"]?.stringValue == "no-consent")

            // Sequence reused with different content.
            let conflictBody = batch(sequence: 5000)
            #expect(try await refused(conflictBody, try RawClient.signedHeaders(body: conflictBody, keyID: "kiosk-a", key: key)) == "sequence-conflict")

            // A body over the 1 MiB limit.
            let huge = [UInt8](repeating: UInt8(ascii: " "), count: (1 << 20) + 10)
            #expect(try await refused(huge, try RawClient.signedHeaders(body: huge, keyID: "kiosk-a", key: key)) == "body-too-large")

            // kiosk-b's certificate with kiosk-a's signature.
            let crossBody = batch(sequence: 5006)
            #expect(try await refused(crossBody, try RawClient.signedHeaders(body: crossBody, keyID: "kiosk-a", key: key),
                                      client: kioskBClient) == "client-certificate-mismatch")

            // A client without any certificate.
            let anonymous = RawClient(baseURL: server.baseURL, caPEM: kiosk.caPEM, identity: nil)
            let noCertBody = batch(sequence: 5007)
            #expect(try await refused(noCertBody, try RawClient.signedHeaders(body: noCertBody, keyID: "kiosk-a", key: key),
                                      client: anonymous) == "client-certificate-required")

            // A revoked device: revoke kiosk-b through the CLI, then its upload is refused.
            let revoked = try cli(server, ["devices", "revoke", "kiosk-b", "--json"])
            #expect(revoked.status == 0, "\(revoked.stderr)")
            try openAPI.check(method: "POST", template: "/v1/admin/devices/{deviceID}/revoke", status: 200,
                              contentType: "application/json", body: Array(revoked.stdout.utf8))
            let recordB = try TestConsent.recordOutcomes(Self.outcomeLines(count: 5, site: "branch-b", seed: 9), server: server, directory: kioskB)
            #expect(recordB.status == 0)
            let uploadB = try runTool("faceloop-agent", ["upload", "--data-dir", kioskB, "--max-attempts", "1"])
            #expect(uploadB.status != 0)
            #expect(uploadB.stdout.contains("device-revoked"), "\(uploadB.stdout)")
            let (revokedClient, keyB) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kioskB)
            let revokedBody = batch(sequence: 9000, device: "kiosk-b")
            #expect(try await refused(revokedBody, try RawClient.signedHeaders(body: revokedBody, keyID: "kiosk-b", key: keyB),
                                      client: revokedClient) == "device-revoked")

            // Nothing refused was stored.
            stored = try stats(server)
            #expect(stored.totalEvents == expectedTotal)

            // Admin and operational endpoints against the OpenAPI document.
            let admin = RawClient(baseURL: server.baseURL, caPEM: kiosk.caPEM, identity: nil)
            let bearer = ["authorization": "Bearer \(server.adminToken)"]
            for (method, path, template, headers, body) in [
                ("GET", "/v1/admin/devices", "/v1/admin/devices", bearer, nil),
                ("GET", "/v1/admin/outcomes/stats", "/v1/admin/outcomes/stats", bearer, nil),
                ("GET", "/v1/admin/devices", "/v1/admin/devices", [:], nil),
                ("POST", "/v1/admin/enrollment-tokens", "/v1/admin/enrollment-tokens", bearer.merging(["content-type": "application/json"]) { $1 },
                 Array(#"{"device_id":"kiosk-c","sites":["branch-a"]}"#.utf8)),
                ("POST", "/v1/admin/enrollment-tokens", "/v1/admin/enrollment-tokens", bearer, Array(#"{"device_id":"Bad Id","sites":["branch-a"]}"#.utf8)),
                ("POST", "/v1/admin/enrollment-tokens", "/v1/admin/enrollment-tokens", bearer.merging(["content-type": "application/json"]) { $1 },
                 Array(#"{"device_id":"kiosk-c","sites":["nowhere"]}"#.utf8)),
                ("POST", "/v1/admin/devices/kiosk-q/revoke", "/v1/admin/devices/{deviceID}/revoke", bearer, nil),
                ("POST", "/v1/admin/devices/kiosk-q/move", "/v1/admin/devices/{deviceID}/move", bearer.merging(["content-type": "application/json"]) { $1 },
                 Array(#"{"sites":["branch-a"]}"#.utf8)),
                ("POST", "/v1/enrollments", "/v1/enrollments", [:],
                 Array(#"{"device_id":"kiosk-c","token":"nope","csr_pem":"x","signing_key":"AAAA","proof":"AAAA"}"#.utf8)),
                ("GET", "/healthz", "/healthz", [:], nil),
                ("GET", "/readyz", "/readyz", [:], nil),
                ("GET", "/problems/nonce-replayed", "/problems/{slug}", [:], nil),
            ] as [(String, String, String, [String: String], [UInt8]?)] {
                let response = try await admin.send(method, path, headers: headers, body: body)
                try openAPI.check(method: method, template: template, status: response.status, contentType: response.contentType,
                                  body: response.body)
            }
            // The token is checked before the CA signs anything: a well-signed request with an unknown
            // token and a CSR the CA would refuse is refused for its token.
            let enrollKey = Curve25519.Signing.PrivateKey()
            let bogusCSR = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
            let csrDigest = SHA256.hash(data: Data(bogusCSR.utf8)).map { String(format: "%02x", $0) }.joined()
            let proof = try enrollKey.signature(for: Data("faceloop-enroll-v1\nkiosk-d\nnope\n\(csrDigest)".utf8))
            let enrollment = JSONValue.object([("device_id", .string("kiosk-d")), ("token", .string("nope")), ("csr_pem", .string(bogusCSR)),
                                               ("signing_key", .string(enrollKey.publicKey.rawRepresentation.base64EncodedString())),
                                               ("proof", .string(proof.base64EncodedString()))]).serialized()
            let enrollmentRefusal = try await admin.send("POST", "/v1/enrollments", headers: ["content-type": "application/json"], body: enrollment)
            #expect(enrollmentRefusal.problemSlug == "enrollment-token-invalid", "\(String(decoding: enrollmentRefusal.body, as: UTF8.self))")

            // The counters come from the metrics listener, not from the kiosks' port.
            #expect(try await admin.send("GET", "/metrics").status == 404)
            let scraper = RawClient(baseURL: "http://127.0.0.1:\(server.metricsPort)", caPEM: kiosk.caPEM, identity: nil)
            let metrics = try await scraper.send("GET", "/metrics")
            #expect(metrics.status == 200)
            let exposition = String(decoding: metrics.body, as: UTF8.self)
            #expect(exposition.contains(#"faceloop_batches_total{result="accepted"}"#))
            #expect(exposition.contains(#"reason="nonce-replayed""#))
            #expect(exposition.contains("faceloop_http_request_duration_seconds_bucket"))
            #expect(openAPI.checked.count >= 25)
        }

        /// An outcome attempted now; the refusal checks above edit its score, site and pseudonym in the bytes.
        static func sampleOutcome() -> MatchOutcome {
            SampleBatch.outcome(score: 0.8125, attemptedAt: Date(), thresholdVersion: "initial", cohort: .init(site: "branch-a", cameraModel: "cam-x1"),
                                subject: .init(pseudonym: String(repeating: "cd", count: 32), consentRef: "consent-1"))
        }
    }
}
