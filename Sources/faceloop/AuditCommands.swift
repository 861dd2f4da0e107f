import ArgumentParser
import AuditLog
import Crypto
import Foundation

/// `faceloop audit`: the tamper-evident audit log, for compliance review. Commands that talk to
/// the server (export) sit beside the offline ones here.
struct AuditCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Sign checkpoints of the tamper-evident audit log, export bundles and verify them offline.",
        subcommands: [AuditCheckpointCommand.self, AuditExportCommand.self, Verify.self])

    /// `faceloop audit verify BUNDLE --public-key FILE`: offline, no server and no network.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify an exported audit bundle offline against the log's public key.",
            discussion: """
                Checks both checkpoint signatures, every entry's inclusion proof, that no entry is missing, \
                repeated or out of order, the root recomputed from the entries, and the consistency proof \
                from the earlier checkpoint. Prints one OK line and exits 0, or prints each failure on \
                standard error and exits 1.
                """)

        @Argument(help: "The bundle file (faceloop-audit-bundle/1 JSON).") var bundle: String
        @Option(name: .customLong("public-key"),
                help: "The server's audit-signing.pub (base64), or the Ed25519 key as PEM (BEGIN PUBLIC KEY) or 64 hex digits.")
        var publicKey: String

        func run() throws {
            guard let keyBytes = FileManager.default.contents(atPath: publicKey) else {
                throw failure("cannot read the public key file \(publicKey)")
            }
            let key: Curve25519.Signing.PublicKey
            do {
                key = try AuditPublicKey.parse([UInt8](keyBytes))
            } catch {
                throw failure("\(publicKey): \(error)")
            }
            guard let bundleBytes = FileManager.default.contents(atPath: bundle) else {
                throw failure("cannot read the bundle file \(bundle)")
            }
            let report = AuditBundleVerifier.verify(bundleBytes: [UInt8](bundleBytes), publicKey: key)
            guard report.isValid else {
                for problem in report.failures { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
                throw ExitCode.failure
            }
            print(report.summary)
        }

        private func failure(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            return ExitCode.failure
        }
    }
}
