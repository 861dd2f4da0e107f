import Crypto
import DeviceIdentity
import Foundation
import TestSupport
import Testing
import X509
@testable import Agent

/// When the agent renews its certificate, and that a renewal interrupted at any point leaves
/// the kiosk a key and certificate that belong together.
@Suite("Certificate renewal on the kiosk")
struct CertificateRenewalTests {
    static let issued = Date(timeIntervalSince1970: 1_790_000_000)

    @Test("renewal is due once two thirds of the certificate's life have passed, not a second before")
    func schedule() {
        let before = Self.issued
        let after = before.addingTimeInterval(300 * 86_400)
        let due = before.addingTimeInterval(200 * 86_400)
        #expect(CertificateRenewalSchedule.renewalTime(notValidBefore: before, notValidAfter: after) == due)
        #expect(!CertificateRenewalSchedule.isDue(notValidBefore: before, notValidAfter: after, now: due.addingTimeInterval(-1)))
        #expect(CertificateRenewalSchedule.isDue(notValidBefore: before, notValidAfter: after, now: due))
        #expect(CertificateRenewalSchedule.isDue(notValidBefore: before, notValidAfter: after, now: after.addingTimeInterval(86_400)),
                "an expired certificate is due too (the server refuses it, and the agent reports that)")
    }

    struct Pair {
        var key: P256.Signing.PrivateKey
        var certificatePEM: String
    }

    static func pair(_ authority: CertificateAuthority, issuedAt time: Date = issued) throws -> Pair {
        let keys = DeviceKeys()
        let certificate = try authority.issueDeviceCertificate(csrPEM: try keys.certificateSigningRequestPEM(deviceID: "kiosk-1"),
                                                               deviceID: "kiosk-1", now: time)
        return Pair(key: keys.tlsKey, certificatePEM: try certificate.serializeAsPEM().pemString)
    }

    /// An agent directory holding `pair` as its identity.
    static func agent(_ pair: Pair, authority: CertificateAuthority) throws -> KioskAgent {
        let files = AgentFiles(directory: try temporaryDirectory("renewal-agent"))
        try files.ensureDirectory()
        try files.write(Data(pair.key.pemRepresentation.utf8), to: files.tlsKey, mode: 0o600)
        try files.write(Data(pair.certificatePEM.utf8), to: files.certificate, mode: 0o600)
        try files.write(Data(try authority.certificatePEM.utf8), to: files.caCertificate, mode: 0o600)
        return KioskAgent(files: files)
    }

    @Test("the agent's own decision reads its certificate: due at two thirds of 397 days from issue (less the 5-minute backdating)")
    func dueFromCertificate() throws {
        let authority = try CertificateAuthority.create(commonName: "Test CA", now: Self.issued)
        let agent = try Self.agent(try Self.pair(authority), authority: authority)
        defer { try? FileManager.default.removeItem(atPath: agent.files.directory) }
        let notBefore = Self.issued.addingTimeInterval(-300)
        let due = notBefore.addingTimeInterval((397 * 86_400 + 300) * 2 / 3)
        #expect(try !agent.certificateRenewalDue(now: Self.issued.addingTimeInterval(200 * 86_400)))
        #expect(try !agent.certificateRenewalDue(now: due.addingTimeInterval(-60)))
        #expect(try agent.certificateRenewalDue(now: due.addingTimeInterval(60)))
    }

    /// The files of a renewal at each point a crash may stop it, in the order the agent writes
    /// and moves them.
    enum CrashPoint: String, CaseIterable, CustomTestStringConvertible {
        case keyWritten, answerWritten, caMoved, keyMoved, done
        var testDescription: String { rawValue }
    }

    @Test("a renewal interrupted at any point leaves a key and certificate that belong together, the new pair once its answer is on disk",
          arguments: CrashPoint.allCases)
    func crash(at point: CrashPoint) throws {
        let authority = try CertificateAuthority.create(commonName: "Test CA", now: Self.issued)
        let old = try Self.pair(authority)
        let new = try Self.pair(authority, issuedAt: Self.issued.addingTimeInterval(265 * 86_400))
        let agent = try Self.agent(old, authority: authority)
        let files = agent.files
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        let bundle = [try authority.certificatePEM, try CertificateAuthority.create(commonName: "Next CA").certificatePEM]
            .map { $0.hasSuffix("\n") ? $0 : $0 + "\n" }.joined()

        try files.write(Data(new.key.pemRepresentation.utf8), to: files.pendingTLSKey, mode: 0o600)
        if point != .keyWritten {
            try files.write(Data(bundle.utf8), to: files.pendingCACertificate, mode: 0o600)
            try files.write(Data(new.certificatePEM.utf8), to: files.pendingCertificate, mode: 0o600)
        }
        func move(_ from: String, _ to: String) throws {
            try FileManager.default.removeItem(atPath: to)
            try FileManager.default.moveItem(atPath: from, toPath: to)
        }
        if [.caMoved, .keyMoved, .done].contains(point) { try move(files.pendingCACertificate, files.caCertificate) }
        if [.keyMoved, .done].contains(point) { try move(files.pendingTLSKey, files.tlsKey) }
        if point == .done { try move(files.pendingCertificate, files.certificate) }

        _ = try agent.clientConfiguration()
        let key = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: files.tlsKey, encoding: .utf8))
        let certificate = try PEMCertificate(pem: try String(contentsOfFile: files.certificate, encoding: .utf8))
        #expect(certificate.certifies(key), "the loaded pair belongs together")
        let expected = point == .keyWritten ? old : new
        #expect(key.rawRepresentation == expected.key.rawRepresentation, "\(point == .keyWritten ? "the old pair" : "the new pair")")
        #expect(!FileManager.default.fileExists(atPath: files.pendingCertificate))
        let pinned = try PEMCertificate.bundle(try String(contentsOfFile: files.caCertificate, encoding: .utf8))
        #expect(pinned.count == (point == .keyWritten ? 1 : 2))
        #expect(certificate.isIssued(byOneOf: pinned))
    }
}
