import Crypto
import Foundation
import Testing
import X509
@testable import DeviceIdentity

@Suite("Device CA and enrollment")
struct CertificateAuthorityTests {
    @Test("device certificates chain to the CA and carry the device id")
    func issue() throws {
        let ca = try CertificateAuthority.create(commonName: "Test CA")
        let keys = DeviceKeys()
        let certificate = try ca.issueDeviceCertificate(csrPEM: try keys.certificateSigningRequestPEM(deviceID: "kiosk-7"), deviceID: "kiosk-7")
        #expect(certificate.subject.commonName == "kiosk-7")
        #expect(certificate.issuer == ca.certificate.subject)
        #expect(ca.certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        #expect(try certificate.extensions.extendedKeyUsage?.contains(.clientAuth) == true)
        #expect(certificate.publicKey == Certificate.PublicKey(keys.tlsKey.publicKey))
    }

    @Test("a request for another device id, or with a broken signature, is refused")
    func refusals() throws {
        let ca = try CertificateAuthority.create(commonName: "Test CA")
        let csr = try DeviceKeys().certificateSigningRequestPEM(deviceID: "kiosk-7")
        #expect(throws: CertificateAuthority.EnrollmentError.self) { try ca.issueDeviceCertificate(csrPEM: csr, deviceID: "kiosk-8") }
        #expect(throws: CertificateAuthority.EnrollmentError.self) { try ca.issueDeviceCertificate(csrPEM: "garbage", deviceID: "kiosk-7") }
    }

    @Test("server certificates name their hosts, IP addresses included")
    func serverCertificate() throws {
        let ca = try CertificateAuthority.create(commonName: "Test CA")
        let certificate = try ca.issueServerCertificate(hosts: ["localhost", "127.0.0.1"], publicKey: P256.Signing.PrivateKey().publicKey)
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("localhost")))
        #expect(names.contains { if case let .ipAddress(bytes) = $0 { return Array(bytes.bytes) == [127, 0, 0, 1] } else { return false } })
    }

    @Test("the enrollment proof binds the signing key to token and request")
    func proof() throws {
        let keys = DeviceKeys()
        let csr = try keys.certificateSigningRequestPEM(deviceID: "kiosk-7")
        let proof = try EnrollmentProof.sign(deviceID: "kiosk-7", token: "t", csrPEM: csr, key: keys.signingKey)
        #expect(EnrollmentProof.isValid(proof, deviceID: "kiosk-7", token: "t", csrPEM: csr, publicKey: keys.signingKey.publicKey))
        #expect(!EnrollmentProof.isValid(proof, deviceID: "kiosk-7", token: "u", csrPEM: csr, publicKey: keys.signingKey.publicKey))
        #expect(!EnrollmentProof.isValid(proof, deviceID: "kiosk-7", token: "t", csrPEM: csr, publicKey: Curve25519.Signing.PrivateKey().publicKey))
    }
}

@Suite("Certificate requests carry nothing but the device")
struct CertificateRequestContentTests {
    @Test("a request with another name in its subject, or with attributes, is refused; the agent's own is accepted")
    func onlyTheDevice() throws {
        let ca = try CertificateAuthority.create(commonName: "FaceLoop Device CA")
        let key = P256.Signing.PrivateKey()
        func request(_ subject: DistinguishedName, attributes: CertificateSigningRequest.Attributes = .init()) throws -> String {
            try CertificateSigningRequest(version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key), attributes: attributes,
                                          signatureAlgorithm: .ecdsaWithSHA256).serializeAsPEM().pemString
        }
        let plain = try request(try DistinguishedName { CommonName("kiosk-7") })
        #expect(try ca.issueDeviceCertificate(csrPEM: plain, deviceID: "kiosk-7").subject.commonName == "kiosk-7")
        let smuggled = try request(try DistinguishedName {
            OrganizationName("FaceLoop")
            OrganizationalUnitName(String(repeating: "A", count: 600))
            CommonName("kiosk-7")
        })
        #expect(throws: CertificateAuthority.EnrollmentError.self) { try ca.issueDeviceCertificate(csrPEM: smuggled, deviceID: "kiosk-7") }
        var attributes = CertificateSigningRequest.Attributes()
        attributes.insert(try CertificateSigningRequest.Attribute(ExtensionRequest(extensions: try Certificate.Extensions {
            SubjectAlternativeNames([.dnsName(String(repeating: "b", count: 200))])
        })))
        let withAttributes = try request(try DistinguishedName { CommonName("kiosk-7") }, attributes: attributes)
        #expect(throws: CertificateAuthority.EnrollmentError.self) {
            try ca.issueDeviceCertificate(csrPEM: withAttributes, deviceID: "kiosk-7")
        }
    }
}
