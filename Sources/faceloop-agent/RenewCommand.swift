import Agent
import ArgumentParser
import FeedbackWire
import Foundation

struct RenewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Renew this kiosk's TLS client certificate now (a new key; upload and the pulls renew on their own once two thirds of its life have passed).",
        discussion: "The old certificate keeps working on the server until it expires, so uploads go on whatever happens here.")

    @OptionGroup var directory: DataDirectoryOption
    @Flag var json = false

    func run() async throws {
        let renewal: KioskAgent.CertificateRenewal
        do {
            renewal = try await directory.agent.renewCertificate()
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
        if json {
            print(String(decoding: try WireJSON.encoder().encode(renewal), as: UTF8.self))
        } else {
            print("renewed: certificate \(renewal.fingerprint) valid until \(ISO8601DateFormatter().string(from: renewal.notValidAfter)); "
                  + "\(renewal.caCertificates) CA certificate(s) pinned")
        }
    }
}
