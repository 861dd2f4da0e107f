import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import Storage
import StrictJSON
import TestSupport
import Testing
import X509

extension EndToEnd {
    /// Device certificate renewal with the real binaries: `faceloop-agent renew`, the automatic
    /// renewal before an upload, the old certificate working on beside the new one, and the
    /// refusals (revoked device, expired certificate, replayed nonce, a CSR for someone else).
    @Suite("Device certificate renewal")
    struct CertificateRenewalEndToEndTests {
        static let path = "/v1/kiosk/certificate-renewals"

        func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

        func file(_ directory: String, _ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        func batch(_ id: String, sequence: Int64, site: String) throws -> [UInt8] {
            let pseudonym = String(repeating: "cd", count: 32)
            let outcome = SampleBatch.outcome(score: 0.8125, attemptedAt: Date(), thresholdVersion: "initial",
                                              cohort: .init(site: site, cameraModel: "cam-x1"),
                                              subject: .init(pseudonym: pseudonym, consentRef: "consent-1"))
            return OutcomeBatch(deviceID: id, sequence: sequence, createdAt: Date(), outcomes: [outcome],
                                    consentEvents: [TestConsent.grant(pseudonym: pseudonym, site: site)]).encoded()
        }

        func upload(_ client: RawClient, key: Curve25519.Signing.PrivateKey, id: String, sequence: Int64, site: String) async throws -> RawResponse {
            let body = try batch(id, sequence: sequence, site: site)
            return try await client.send("POST", "/v1/outcomes", headers: try RawClient.signedHeaders(body: body, keyID: id, key: key), body: body)
        }

        /// A renewal request signed like an upload, for the raw client.
        func renewalRequest(csr: String, id: String, key: Curve25519.Signing.PrivateKey) throws -> (headers: [String: String], body: [UInt8]) {
            let body = try CertificateRenewalRequest(csr: csr).encoded()
            let headers = try UploadSignaturePolicy.signUpload(method: "POST", path: Self.path, authority: "", body: body, keyID: id, key: key,
                                                               now: Date())
            return (headers, body)
        }

        func authority(_ server: ServerProcess) throws -> CertificateAuthority {
            try CertificateAuthority.load(certificatePEM: try read(server.caFile),
                                          privateKeyPEM: try read(file(server.dataDirectory, "ca.key")))
        }

        @Test("faceloop-agent renew: a new key and certificate that openssl verifies against the pinned bundle; old and new certificates both upload")
        func renewal() async throws {
            let root = try temporaryDirectory("renewal")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: file(root, "server"))
            try server.start()
            defer { server.stop() }
            let directory = file(root, "kiosk")
            try enrollKiosk(server, id: "kiosk-r1", sites: ["branch-r"], directory: directory)
            let (old, key) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: directory)
            let oldKeyPEM = try read(file(directory, "tls.key"))

            let renewed = try runTool("faceloop-agent", ["renew", "--json", "--data-dir", directory])
            #expect(renewed.status == 0, "\(renewed.stderr)")
            let answer = try JSONValue.parse(renewed.stdout)
            let certificatePEM = try read(file(directory, "device.crt"))
            let certificate = try Certificate(pemEncoded: certificatePEM)
            #expect(answer["fingerprint"]?.stringValue == (try certificate.sha256Fingerprint))
            #expect(answer["not_after"]?.stringValue == RFC3339.format(certificate.notValidAfter))
            #expect(certificatePEM != old.identity?.certificatePEM)
            #expect(try read(file(directory, "tls.key")) != oldKeyPEM, "a new key")
            let newKey = try P256.Signing.PrivateKey(pemRepresentation: try read(file(directory, "tls.key")))
            #expect(certificate.publicKey == Certificate.PublicKey(newKey.publicKey), "the pair on disk belongs together")
            for pending in ["tls.key.next", "device.crt.next", "ca.crt.next"] {
                #expect(!FileManager.default.fileExists(atPath: file(directory, pending)), "\(pending) is moved into place")
            }
            #expect(certificate.notValidAfter.timeIntervalSinceNow > 396 * 86_400)

            // The CA bundle of the answer, pinned now, verifies the new certificate for openssl too.
            if let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
                let verified = try runTool(openssl, ["verify", "-CAfile", file(directory, "ca.crt"), file(directory, "device.crt")])
                #expect(verified.status == 0 && verified.stdout.contains(": OK"), "\(verified.stdout) \(verified.stderr)")
            } else {
                print("openssl is not installed; skipping `openssl verify` of the renewed certificate")
            }

            // Both certificates upload, the old one until it expires.
            let stillOld = try await upload(old, key: key, id: "kiosk-r1", sequence: 1, site: "branch-r")
            #expect(stillOld.status == 202, "the old certificate keeps working: \(stillOld.status) \(stillOld.problemSlug ?? "")")
            let (current, _) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: directory)
            let withNew = try await upload(current, key: key, id: "kiosk-r1", sequence: 2, site: "branch-r")
            #expect(withNew.status == 202, "\(withNew.status) \(withNew.problemSlug ?? "")")
            let reads = try await old.send("GET", "/v1/federation/current")
            #expect(![401, 403].contains(reads.status), "the kiosk reads accept the old certificate too: \(reads.status)")

            // The signature's nonce is consumed: the same signed request again renews nothing.
            let csr = try DeviceKeys(tlsKey: P256.Signing.PrivateKey(), signingKey: key).certificateSigningRequestPEM(deviceID: "kiosk-r1")
            let signed = try renewalRequest(csr: csr, id: "kiosk-r1", key: key)
            let first = try await current.send("POST", Self.path, headers: signed.headers, body: signed.body)
            #expect(first.status == 201, "\(first.status) \(first.problemSlug ?? "")")
            let replay = try await current.send("POST", Self.path, headers: signed.headers, body: signed.body)
            #expect(replay.problemSlug == "nonce-replayed", "\(replay.status) \(replay.problemSlug ?? "")")
            // A CSR naming another device, or a body that is not the schema's, gets problem details.
            let foreign = try DeviceKeys(tlsKey: P256.Signing.PrivateKey(), signingKey: key).certificateSigningRequestPEM(deviceID: "kiosk-r2")
            let impostor = try renewalRequest(csr: foreign, id: "kiosk-r1", key: key)
            let wrongName = try await current.send("POST", Self.path, headers: impostor.headers, body: impostor.body)
            #expect(wrongName.status == 422 && wrongName.problemSlug == "csr-invalid", "\(wrongName.status) \(wrongName.problemSlug ?? "")")
            let extra = Array(#"{"csr":"-----BEGIN CERTIFICATE REQUEST-----","more":1}"#.utf8)
            let extraHeaders = try UploadSignaturePolicy.signUpload(method: "POST", path: Self.path, authority: "", body: extra,
                                                                    keyID: "kiosk-r1", key: key, now: Date())
            let invalid = try await current.send("POST", Self.path, headers: extraHeaders, body: extra)
            #expect(invalid.status == 422 && invalid.problemSlug == "schema-violation", "\(invalid.status) \(invalid.problemSlug ?? "")")
        }

        @Test("a revoked kiosk cannot renew, and its files stay as they were")
        func revoked() async throws {
            let root = try temporaryDirectory("renewal-revoked")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: file(root, "server"))
            try server.start()
            defer { server.stop() }
            let directory = file(root, "kiosk")
            try enrollKiosk(server, id: "kiosk-r3", sites: ["branch-r"], directory: directory)
            let before = try read(file(directory, "device.crt"))
            let revoked = try runTool("faceloop", ["devices", "revoke", "kiosk-r3", "--server", server.baseURL, "--token-file", server.adminTokenFile,
                                                   "--ca-file", server.caFile])
            #expect(revoked.status == 0, "\(revoked.stderr)")
            let renewal = try runTool("faceloop-agent", ["renew", "--data-dir", directory])
            #expect(renewal.status != 0)
            #expect(renewal.stderr.contains("device-revoked"), "\(renewal.stderr)")
            #expect(try read(file(directory, "device.crt")) == before)
            #expect(!FileManager.default.fileExists(atPath: file(directory, "device.crt.next")))
        }

        @Test("an expired certificate cannot renew: device-certificate-expired, as for uploads")
        func expired() async throws {
            let root = try temporaryDirectory("renewal-expired")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: file(root, "server"))
            try server.start()
            defer { server.stop() }
            let directory = file(root, "kiosk")
            try enrollKiosk(server, id: "kiosk-r4", sites: ["branch-r"], directory: directory)
            let (valid, key) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: directory)
            let tlsKeyPEM = try read(file(directory, "tls.key"))
            let tlsKey = try P256.Signing.PrivateKey(pemRepresentation: tlsKeyPEM)
            let csr = try DeviceKeys(tlsKey: tlsKey, signingKey: key).certificateSigningRequestPEM(deviceID: "kiosk-r4")
            let expired = try authority(server).issueDeviceCertificate(csrPEM: csr, deviceID: "kiosk-r4", now: Date().addingTimeInterval(-60 * 86_400),
                                                                       validityDays: 30)
            let client = RawClient(baseURL: server.baseURL, caPEM: valid.caPEM, identity: (try expired.serializeAsPEM().pemString, tlsKeyPEM))
            let signed = try renewalRequest(csr: csr, id: "kiosk-r4", key: key)
            let refused = try await client.send("POST", Self.path, headers: signed.headers, body: signed.body)
            #expect(refused.status == 401 && refused.problemSlug == "device-certificate-expired", "\(refused.status) \(refused.problemSlug ?? "")")
            let accepted = try await valid.send("POST", Self.path, headers: try renewalRequest(csr: csr, id: "kiosk-r4", key: key).headers,
                                                body: signed.body)
            #expect(accepted.status == 201, "the same request with the current certificate is accepted: \(accepted.status)")
        }

        @Test("upload renews a certificate past two thirds of its life first; a renewal that fails is reported and the upload goes on with the old one")
        func automatic() async throws {
            let root = try temporaryDirectory("renewal-auto")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: file(root, "server"))
            try server.start()
            defer { server.stop() }
            let directory = file(root, "kiosk")
            try enrollKiosk(server, id: "kiosk-r5", sites: ["branch-r"], directory: directory)
            let (_, key) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: directory)

            // A certificate issued 300 of its 397 days ago, recorded by the server as this kiosk's
            // (as an earlier renewal would have), and in use on the kiosk.
            let tlsKey = try P256.Signing.PrivateKey(pemRepresentation: try read(file(directory, "tls.key")))
            let csr = try DeviceKeys(tlsKey: tlsKey, signingKey: key).certificateSigningRequestPEM(deviceID: "kiosk-r5")
            let aged = try authority(server).issueDeviceCertificate(csrPEM: csr, deviceID: "kiosk-r5", now: Date().addingTimeInterval(-300 * 86_400))
            let store = try SQLiteStore(path: file(server.dataDirectory, "faceloop.sqlite"))
            let enrolled = try #require(try await store.device(id: "kiosk-r5"))
            #expect(try await store.renewDeviceCertificate(DeviceCertificateRenewal(
                deviceID: "kiosk-r5", presentedFingerprint: enrolled.certificateFingerprint,
                certificate: NewDeviceCertificate(der: Data(try aged.serializeAsPEM().derBytes), fingerprint: try aged.sha256Fingerprint,
                                                  serial: aged.serialNumberHex, notAfter: aged.notValidAfter),
                nonce: UploadSignaturePolicy.makeNonce(), renewedAt: Date().addingTimeInterval(-300 * 86_400))) == .renewed)
            try PrivateFile.replace(Data(try aged.serializeAsPEM().pemString.utf8), at: file(directory, "device.crt"))

            // A renewal that cannot even start (its key file cannot be written) does not stop the upload.
            let obstacle = file(directory, "tls.key.next")
            try FileManager.default.createDirectory(atPath: obstacle, withIntermediateDirectories: false)
            let lines = FeedbackPathEndToEndTests.outcomeLines(count: 3, site: "branch-r", seed: 5)
            #expect(try TestConsent.recordOutcomes(lines, server: server, directory: directory).status == 0)
            let withOld = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", directory])
            #expect(withOld.status == 0, "\(withOld.stdout) \(withOld.stderr)")
            let reported = try JSONValue.parse(withOld.stdout)
            #expect(reported["certificate_renewal_error"]?.stringValue?.isEmpty == false, "\(withOld.stdout)")
            #expect(reported["outcomes_acknowledged"]?.numberValue == 3, "\(withOld.stdout)")
            #expect(try read(file(directory, "device.crt")) == (try aged.serializeAsPEM().pemString), "still the aged certificate")
            try FileManager.default.removeItem(atPath: obstacle)

            // Nothing is queued now: the renewal comes before the upload whatever there is to send.
            let uploaded = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", directory])
            #expect(uploaded.status == 0, "\(uploaded.stdout) \(uploaded.stderr)")
            let report = try JSONValue.parse(uploaded.stdout)
            #expect(report["certificate_renewal_error"] == nil, "\(uploaded.stdout)")
            let renewed = try Certificate(pemEncoded: try read(file(directory, "device.crt")))
            #expect(abs(renewed.notValidBefore.timeIntervalSinceNow) < 3600, "renewed just now, not the aged certificate")
            #expect(try await store.deviceCertificates(deviceID: "kiosk-r5").count == 3, "enrollment's, the aged one, and the renewal")
        }
    }
}
