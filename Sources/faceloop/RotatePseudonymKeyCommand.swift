import ArgumentParser
import FeedbackWire
import Foundation
import OperatorClient
import StrictJSON

/// `faceloop admin rotate pseudonym-key --jurisdiction J`: a new version of a jurisdiction's
/// pseudonymisation key, current from now on.
struct RotatePseudonymKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pseudonym-key",
        abstract: "Rotate a jurisdiction's pseudonymisation key (a new version; an audit-log entry).",
        discussion: """
            The old versions are kept: pseudonyms name the version they were made with, and each kiosk re-keys the \
            subjects it knows with `faceloop-agent pseudonyms rekey --site S` (raw ids never reach the server). A \
            subject who is not re-keyed has no consent under the new key until consent is given again.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "The jurisdiction whose key is rotated.") var jurisdiction: String
    @Flag var json = false

    func run() async throws {
        let client = try connection.client()
        let rotation = try await perform { try await client.rotatePseudonymKey(jurisdiction: jurisdiction) }
        if json { try printJSON(rotation); return }
        print("\(rotation.jurisdiction): pseudonym key version \(rotation.version) is current from \(RFC3339.format(rotation.createdAt)); "
              + "re-key each kiosk with `faceloop-agent pseudonyms rekey --site SITE`")
    }
}
