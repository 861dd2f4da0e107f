import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import NIOSSL
@testable import Agent
import TestSupport
import Testing

/// The CA file an operator hands a kiosk at enrollment is its trust anchor; during a device-CA
/// rotation the server answers with every CA still trusted, and the kiosk pins them all only
/// if the one it was given is among them.
@Suite("Enrollment pins the server's CAs")
struct EnrollmentPinningTests {
    static func enroll(answering bundle: (String) -> String) async throws -> (Result<EnrollmentResponse, any Error>, AgentFiles) {
        let directory = try temporaryDirectory("enroll-pin")
        let identity = try FakeKioskServer.Identity.make(deviceID: "kiosk-1")
        let server = FakeKioskServer()
        let baseURL = try await server.start(identity: identity, requiringClientCertificate: false)
        let answer = EnrollmentResponse(deviceID: "kiosk-1", certificatePEM: identity.deviceCertificatePEM,
                                        caCertificatePEM: bundle(identity.caPEM), certificateNotAfter: Date().addingTimeInterval(86_400),
                                        releaseSigningKey: Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString())
        server.answer("/v1/enrollments", status: 201, body: [UInt8](try WireJSON.encoder().encode(answer)))
        let pinned = (directory as NSString).appendingPathComponent("pinned-ca.crt")
        try Data(identity.caPEM.utf8).write(to: URL(fileURLWithPath: pinned))
        let files = AgentFiles(directory: (directory as NSString).appendingPathComponent("agent"))
        let agent = KioskAgent(files: files, connectTimeout: .seconds(5))
        let result: Result<EnrollmentResponse, any Error>
        do {
            result = .success(try await agent.enroll(serverURL: baseURL, deviceID: "kiosk-1", token: "fl_token", caFile: pinned))
        } catch {
            result = .failure(error)
        }
        try await server.stop()
        return (result, files)
    }

    @Test("an answer listing the pinned CA and a newer one: both are pinned from then on")
    func pinsEveryListedCA() async throws {
        let newer = try CertificateAuthority.create(commonName: "Fake server CA").certificatePEM
        let (result, files) = try await Self.enroll(answering: { $0 + "\n" + newer })
        _ = try result.get()
        let kept = try NIOSSLCertificate.fromPEMBytes(Array(try String(contentsOfFile: files.caCertificate, encoding: .utf8).utf8))
        #expect(kept.count == 2)
    }

    @Test("an answer whose CAs do not include the pinned one is refused and nothing is kept")
    func refusesAnotherCA() async throws {
        let other = try CertificateAuthority.create(commonName: "Someone else's CA").certificatePEM
        let (result, files) = try await Self.enroll(answering: { _ in other })
        #expect(throws: AgentError.self) { _ = try result.get() }
        #expect(!FileManager.default.fileExists(atPath: files.caCertificate))
        #expect(!FileManager.default.fileExists(atPath: files.settings))
    }
}
