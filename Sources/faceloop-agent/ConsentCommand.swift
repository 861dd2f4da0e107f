import Agent
import ArgumentParser
import Crypto
import Feedback
import Foundation

/// `faceloop-agent consent …`: records a subject's consent decision for one purpose, to be
/// uploaded (signed) ahead of any outcome recorded after it.
struct ConsentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "Record a consent event (grant, withdraw, limit, reconsent) for one subject and one purpose.",
        discussion: """
            One event per purpose: consent is never bundled. With --stdin, reads consent events as JSON \
            (one object per line, or an array) in the form of outcome-batch.schema.json#/$defs/ConsentEvent.
            """
    )

    @OptionGroup var directory: DataDirectoryOption
    @Argument(help: "grant, withdraw, limit or reconsent (omit with --stdin).") var kind: String?
    @Flag(help: "Read consent events as JSON from standard input.") var stdin = false
    @Option(name: .customLong("subject-pseudonym"), help: "The subject's pseudonym, 64 lowercase hex digits.") var subjectPseudonym: String?
    @Option(help: "threshold-calibration, model-improvement or quality-monitoring.") var purpose: String?
    @Option(help: "touch, e_signature, paper or operator.") var method = "touch"
    @Option(help: "This kiosk's site.") var site: String?
    @Option(name: .customLong("text-version"), help: "Version of the consent text the subject was shown.") var textVersion: String?
    @Option(name: .customLong("text-file"), help: "The exact consent text shown; its SHA-256 is recorded.") var textFile: String?
    @Option(name: .customLong("text-sha256"), help: "SHA-256 of the exact text shown, if the text file is not at hand.") var textSHA256: String?

    func run() async throws {
        var values: [JSONValue]
        if stdin {
            values = try RecordCommand.parseInput([UInt8](FileHandle.standardInput.readDataToEndOfFile()))
        } else {
            guard let kind, let subjectPseudonym, let purpose, let site, let textVersion else {
                throw ValidationError("give --stdin, or KIND with --subject-pseudonym, --purpose, --site, --text-version and --text-file or --text-sha256")
            }
            let digest: String
            if let textFile {
                guard let text = FileManager.default.contents(atPath: textFile) else { throw ValidationError("cannot read \(textFile)") }
                digest = SHA256.hash(data: text).lowercaseHex
            } else if let textSHA256 {
                digest = textSHA256
            } else {
                throw ValidationError("give --text-file (the exact text shown) or --text-sha256")
            }
            values = [.object([
                ("subject_pseudonym", .string(subjectPseudonym)), ("purpose", .string(purpose)), ("kind", .string(kind)),
                ("method", .string(method)), ("site", .string(site)), ("text_version", .string(textVersion)),
                ("text_sha256", .string(digest)),
            ])]
        }
        do {
            let recorded = try directory.agent.recordConsent(values)
            print("queued \(recorded.count) consent event(s)")
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
    }
}
