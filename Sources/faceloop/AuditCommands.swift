import ArgumentParser
import AuditLog
import Foundation

/// `faceloop audit …`: checkpoints and bundles of the server's tamper-evident log, and the
/// offline check of a bundle.
struct AuditCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Sign checkpoints, export bundles and verify them offline.",
        subcommands: [AuditCheckpointCommand.self, AuditExportCommand.self, Verify.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an audit bundle offline: checkpoint signature, every entry's inclusion proof, the root, and consistency.")
        @Argument(help: "The bundle written by `faceloop audit export`.") var bundle: String
        @Option(name: .customLong("public-key"),
                help: "The server's audit-signing.pub (base64), a PEM Ed25519 public key, or 64 hex digits.") var publicKey: String

        func run() async throws {
            guard let bundleBytes = FileManager.default.contents(atPath: bundle) else { throw ValidationError("cannot read \(bundle)") }
            guard let keyBytes = FileManager.default.contents(atPath: publicKey) else { throw ValidationError("cannot read \(publicKey)") }
            let report: AuditVerificationReport
            do {
                report = try AuditBundleVerifier.verify(bundleBytes: [UInt8](bundleBytes), publicKeyBytes: [UInt8](keyBytes))
            } catch {
                throw ValidationError("\(publicKey): \(error.description)")
            }
            guard report.isValid else {
                for failure in report.failures { FileHandle.standardError.write(Data("FAIL: \(failure.description)\n".utf8)) }
                throw ExitCode.failure
            }
            print(report.summary)
        }
    }
}
