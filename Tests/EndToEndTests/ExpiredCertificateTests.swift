import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import TestSupport
import Testing
import X509

extension EndToEnd {
    /// A kiosk certificate issued by the server's own CA but expired: the upload is refused with
    /// `device-certificate-expired` and nothing is stored; a certificate from another CA does not
    /// get past the handshake at all.
    @Suite("Expired device certificates")
    struct ExpiredCertificateTests {
        @Test("an expired device certificate is refused with its problem type and nothing is stored; a foreign CA's is refused at the handshake")
        func expired() async throws {
            let root = try temporaryDirectory("expired")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"))
            try server.start()
            defer { server.stop() }
            let directory = (root as NSString).appendingPathComponent("kiosk")
            try enrollKiosk(server, id: "kiosk-x1", sites: ["branch-a"], directory: directory)
            let (valid, key) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: directory)

            // The same CA, the device's own TLS key, but a validity that ended a month ago.
            func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
            let authority = try CertificateAuthority.load(certificatePEM: try read(server.caFile),
                                                          privateKeyPEM: try read((server.dataDirectory as NSString).appendingPathComponent("ca.key")))
            let tlsKey = try P256.Signing.PrivateKey(pemRepresentation: try read((directory as NSString).appendingPathComponent("tls.key")))
            let csr = try DeviceKeys(tlsKey: tlsKey, signingKey: key).certificateSigningRequestPEM(deviceID: "kiosk-x1")
            let expired = try authority.issueDeviceCertificate(csrPEM: csr, deviceID: "kiosk-x1", now: Date().addingTimeInterval(-60 * 86_400),
                                                               validityDays: 30)
            let client = RawClient(baseURL: server.baseURL, caPEM: valid.caPEM,
                                   identity: (try expired.serializeAsPEM().pemString, try read((directory as NSString).appendingPathComponent("tls.key"))))

            let body = OutcomeBatch(deviceID: "kiosk-x1", sequence: 1, createdAt: Date(), outcomes: [FeedbackPathEndToEndTests.sampleOutcome()],
                                    consentEvents: [TestConsent.grant(pseudonym: String(repeating: "cd", count: 32), site: "branch-a")]).encoded()
            let headers = try RawClient.signedHeaders(body: body, keyID: "kiosk-x1", key: key)
            let refused = try await client.send("POST", "/v1/outcomes", headers: headers, body: body)
            #expect(refused.status == 401)
            #expect(refused.problemSlug == "device-certificate-expired")
            let current = try await client.send("GET", "/v1/federation/current")
            #expect(current.problemSlug == "device-certificate-expired", "the kiosk-only reads refuse it too")

            // A certificate that no FaceLoop CA issued is refused by the handshake itself.
            let stranger = try CertificateAuthority.create(commonName: "Someone else's CA")
            let foreign = try stranger.issueDeviceCertificate(csrPEM: csr, deviceID: "kiosk-x1")
            let impostor = RawClient(baseURL: server.baseURL, caPEM: valid.caPEM,
                                     identity: (try foreign.serializeAsPEM().pemString, try read((directory as NSString).appendingPathComponent("tls.key"))))
            await #expect(throws: (any Error).self, "the handshake must fail") {
                _ = try await impostor.send("POST", "/v1/outcomes", headers: headers, body: body)
            }
            // The same upload with the valid certificate gets through, so the refusal was the expiry.
            let accepted = try await valid.send("POST", "/v1/outcomes", headers: try RawClient.signedHeaders(body: body, keyID: "kiosk-x1", key: key),
                                                body: body)
            #expect(accepted.status == 202)
        }
    }
}
