import Crypto
import DeviceIdentity
import Foundation
import X509

/// A self-made CA and device identity, for agent tests that need credentials on disk.
enum DeviceIdentityFixture {
    struct Material {
        var caPEM: String
        var certificatePEM: String
        var tlsKeyPEM: String
        var signingKey: String
    }

    static func make() -> Material {
        do {
            let ca = try CertificateAuthority.create(commonName: "Fixture CA")
            let keys = DeviceKeys()
            let certificate = try ca.issueDeviceCertificate(csrPEM: try keys.certificateSigningRequestPEM(deviceID: "kiosk-1"), deviceID: "kiosk-1")
            return Material(caPEM: try ca.certificatePEM, certificatePEM: try certificate.serializeAsPEM().pemString,
                            tlsKeyPEM: keys.tlsKey.pemRepresentation,
                            signingKey: keys.signingKey.rawRepresentation.base64EncodedString())
        } catch {
            fatalError("fixture identity: \(error)")
        }
    }
}
