import Agent
import ArgumentParser
import Crypto
import FeedbackWire
import Foundation
import StrictJSON

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
    @Argument(help: "The decision (omit with --stdin).") var kind: ConsentEvent.Kind?
    @Flag(help: "Read consent events as JSON from standard input.") var stdin = false
    @Option(name: .customLong("subject-pseudonym"), help: "The subject's pseudonym, 64 lowercase hex digits.") var subjectPseudonym: String?
    @Option(help: "threshold-calibration, model-improvement or quality-monitoring.") var purpose: String?
    @Option(help: "How the subject gave it.") var method: ConsentEvent.Method = .touch
    @Option(help: "This kiosk's site.") var site: String?
    @Option(name: .customLong("text-version"), help: "Version of the consent text the subject was shown.") var textVersion: String?
    @Option(name: .customLong("text-file"), help: "The exact consent text shown; its SHA-256 is recorded.") var textFile: String?
    @Option(name: .customLong("text-sha256"), help: "SHA-256 of the exact text shown, if the text file is not at hand.") var textSHA256: String?

    func run() async throws {
        let agent = directory.agent
        let recorded: [ConsentEvent]
        do {
            if stdin {
                recorded = try agent.recordConsent(try RecordCommand.parseInput([UInt8](FileHandle.standardInput.readDataToEndOfFile())))
            } else {
                recorded = try agent.recordConsent([try eventFromFlags()])
            }
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
        print("queued \(recorded.count) consent event(s)")
    }

    func eventFromFlags() throws -> ConsentEvent {
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
        return ConsentEvent(eventID: TimeOrderedUUID.make(), occurredAt: Date(), pseudonym: subjectPseudonym, purpose: purpose, kind: kind,
                            method: method, site: site, textVersion: textVersion, textSHA256: digest)
    }
}
