import ArgumentParser
import FeedbackWire
import Foundation
import OperatorClient
import StrictJSON

extension AdminCommands {
    /// `faceloop admin rotate <what>`: each rotation is an audit-log entry, and what the old key
    /// signed or issued stays valid (docs/operations.md, "Keys and certificates over the years").
    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Rotate one of the server's keys, with overlap (administrators).",
            subcommands: [RotateDeviceCA.self, RotateTLSCertificate.self, RotateReleaseSigning.self, RotateAuditSigning.self,
                          RotatePseudonymKey.self])
    }

    struct RotateDeviceCA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "device-ca",
            abstract: "A new device CA, cross-signed by the current one; kiosk certificates come from it from now on.",
            discussion: """
                Certificates the old CA issued keep working until they expire or are renewed; kiosks receive the new \
                CA with their next renewal. Then copy the data directory to the other nodes of a cluster.
                """)
        @OptionGroup var rotation: RotationOptions
        func run() async throws { try await rotation.rotate("device-ca") }
    }

    struct RotateTLSCertificate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tls-certificate",
            abstract: "A new TLS key and certificate, served from the next connection (the server also renews on its own).")
        @OptionGroup var rotation: RotationOptions
        func run() async throws { try await rotation.rotate("tls-certificate") }
    }

    struct RotateReleaseSigning: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "release-signing",
            abstract: "A new release-signing key, endorsed by the current one; kiosks follow the endorsement on their own.")
        @OptionGroup var rotation: RotationOptions
        func run() async throws { try await rotation.rotate("release-signing") }
    }

    struct RotateAuditSigning: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit-signing",
            abstract: "A new audit-signing key, endorsed by the current one; bundles carry the history.")
        @OptionGroup var rotation: RotationOptions
        func run() async throws { try await rotation.rotate("audit-signing") }
    }

    struct RotationOptions: ParsableArguments {
        @OptionGroup var connection: ConnectionOptions
        @Flag var json = false

        func rotate(_ key: String) async throws {
            let client = try connection.client()
            let result = try await perform { try await client.rotateKey(key) }
            if json { try printJSON(result); return }
            print("\(result.key): generation \(result.generation) (\(result.keyID)) replaces \(result.previousKeyID), "
                  + "active from \(RFC3339.format(result.activatedAt))")
        }
    }
}
