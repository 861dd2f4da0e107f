import ArgumentParser
import AuditLog
import Crypto
import FeedbackWire
import Foundation

/// `faceloop audit`: the tamper-evident audit log, for compliance review. Commands that talk to
/// the server (export) sit beside the offline ones here.
struct AuditCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Sign checkpoints of the tamper-evident audit log, export bundles and verify them offline.",
        subcommands: [AuditCheckpointCommand.self, AuditExportCommand.self, Verify.self])

    /// `faceloop audit verify BUNDLE --public-key FILE [--key-history FILE]`: offline, no server and no network.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify an exported audit bundle offline against the log's public key.",
            discussion: """
                Checks the audit key history from the pinned key, both checkpoint signatures with the keys \
                they name, every entry's inclusion proof, that no entry is missing, repeated or out of order, \
                the root recomputed from the entries, and the consistency proof from the earlier checkpoint. \
                Prints one OK line and which keys signed the checkpoints, and exits 0; or prints each failure \
                on standard error and exits 1.
                """)

        @Argument(help: "The bundle file (faceloop-audit-bundle/1 or /2 JSON).") var bundle: String
        @Option(name: .customLong("public-key"),
                help: "The key you trust: the server's first audit-signing.pub (base64), or the Ed25519 key as PEM (BEGIN PUBLIC KEY) or 64 hex digits.")
        var publicKey: String
        @Option(name: .customLong("key-history"),
                help: "The audit key's endorsements as the server serves them (GET /v1/audit/signing-keys, or its endorsements list), for bundles that do not carry them.")
        var keyHistory: String?

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
            var endorsements: [SignedRelease] = []
            if let keyHistory {
                guard let historyBytes = FileManager.default.contents(atPath: keyHistory) else {
                    throw failure("cannot read the key history file \(keyHistory)")
                }
                do {
                    endorsements = try AuditKeyHistory.parse([UInt8](historyBytes))
                } catch {
                    throw failure("\(keyHistory): \(error)")
                }
            }
            guard let bundleBytes = FileManager.default.contents(atPath: bundle) else {
                throw failure("cannot read the bundle file \(bundle)")
            }
            let report = AuditBundleVerifier.verify(bundleBytes: [UInt8](bundleBytes), publicKey: key, keyHistory: endorsements)
            guard report.isValid else {
                for problem in report.failures { FileHandle.standardError.write(Data("\(problem)\n".utf8)) }
                throw ExitCode.failure
            }
            print(report.summary)
            for signer in report.signers { print(signer) }
        }

        private func failure(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            return ExitCode.failure
        }
    }
}
