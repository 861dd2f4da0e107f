import Agent
import ArgumentParser
import FeedbackWire
import Foundation

/// `faceloop-agent pseudonyms …`: what the kiosk does when its jurisdiction's key is rotated.
struct PseudonymsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pseudonyms",
        abstract: "Keep subjects' pseudonyms continuous across a rotation of the jurisdiction key.",
        subcommands: [Rekey.self])

    struct Rekey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-key subjects from the previous key version to the current one, on the server and in this kiosk's queue.",
            discussion: """
                Reads raw subject ids on standard input, one a line; they never leave the kiosk. Fetches the site's \
                jurisdiction key (current version and the one re-keyed from), computes each subject's old and new \
                pseudonym, sends the pairs to the server (which moves the consent ledger, outcomes, erasures and \
                requests to the new pseudonyms), then rewrites the pending records of the queue. Batches already \
                sealed are uploaded first; while one is left the command refuses. Pause uploads while it runs; \
                running it again is harmless.
                """)

        @OptionGroup var directory: DataDirectoryOption

        @Option(help: "A site this kiosk is enrolled for; its jurisdiction's key is the one re-keyed.")
        var site: String

        @Option(name: .customLong("from-version"), help: "The key version to re-key from (default: the one before the current).")
        var fromVersion: Int?

        @Flag var json = false

        func run() async throws {
            var ids: [String] = []
            while let line = readLine(strippingNewline: true) {
                if !line.trimmingCharacters(in: .whitespaces).isEmpty { ids.append(line) }
            }
            let report: PseudonymRekeyReport
            do {
                report = try await directory.agent.rekeyPseudonyms(site: site, subjectIDs: ids, fromVersion: fromVersion)
            } catch let error as AgentError {
                throw ValidationError(error.description)
            }
            if json {
                print(String(decoding: try WireJSON.encoder().encode(report), as: UTF8.self))
            } else {
                let events = report.server.reduce(0) { $0 + $1.consentEvents }
                let outcomes = report.server.reduce(0) { $0 + $1.outcomes }
                print("re-keyed \(report.subjects) subject(s) of \(report.jurisdiction) from key version \(report.fromVersion) to "
                      + "\(report.toVersion): \(events) consent event(s) and \(outcomes) outcome(s) on the server; "
                      + "\(report.queue.pendingOutcomes + report.queue.pendingConsentEvents) pending record(s) and "
                      + "\(report.queue.ledgerEvents) ledger event(s) on this kiosk")
            }
        }
    }
}
