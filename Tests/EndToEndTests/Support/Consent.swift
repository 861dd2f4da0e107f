import Crypto
import FeedbackWire
import Foundation
import StrictJSON
import Testing

/// Consent for the subjects of test outcomes: the server stores an outcome only under a
/// recorded consent, so tests that upload outcomes register a consent text once per server
/// and have the kiosk record a grant for each subject before the outcomes.
enum TestConsent {
    static let wording = "I agree that the outcome of my face verification is used to calibrate this service."
    static let version = "e2e-1"

    /// Registers the consent text for a purpose (once; a second call finds it there already).
    static func registerText(_ server: ServerProcess, purpose: String = "threshold-calibration") throws {
        let file = (server.dataDirectory as NSString).appendingPathComponent("consent-\(purpose)-\(version).txt")
        if FileManager.default.fileExists(atPath: file) { return }
        try Data(wording.utf8).write(to: URL(fileURLWithPath: file))
        let result = try runTool("faceloop", ["compliance", "text", "--purpose", purpose, "--version", version,
                                              "--file", file, "--effective-at", "2020-01-01T00:00:00Z",
                                              "--server", server.baseURL, "--token-file", server.adminTokenFile, "--ca-file", server.caFile])
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// Grant lines (as `faceloop-agent consent --stdin` reads them) for every subject of the
    /// outcome lines, each at the site of the subject's first outcome (a kiosk names only its own sites).
    static func grants(forOutcomeLines lines: Data, purpose: String = "threshold-calibration") throws -> Data {
        var seen = Set<String>()
        var grants: [String] = []
        let digest = Self.sha256
        for line in String(decoding: lines, as: UTF8.self).split(separator: "\n") {
            let outcome = try JSONValue.parse(Array(line.utf8))
            guard let pseudonym = outcome["subject"]?["pseudonym"]?.stringValue, let site = outcome["cohort"]?["site"]?.stringValue,
                  seen.insert(pseudonym).inserted else { continue }
            grants.append(JSONValue.object([
                ("occurred_at", .string("2020-01-02T00:00:00Z")), ("subject_pseudonym", .string(pseudonym)),
                ("purpose", .string(purpose)), ("kind", .string("grant")), ("method", .string("touch")), ("site", .string(site)),
                ("text_version", .string(version)), ("text_sha256", .string(digest)),
            ]).serializedString)
        }
        return Data(grants.joined(separator: "\n").utf8)
    }

    static var sha256: String { SHA256.hash(data: Data(wording.utf8)).map { String(format: "%02x", $0) }.joined() }

    /// A grant of the registered text at `site`, for batches a test builds itself.
    static func grant(pseudonym: String, site: String) -> ConsentEvent {
        ConsentEvent(eventID: UUID(), occurredAt: Date(timeIntervalSince1970: 1_577_923_200), pseudonym: pseudonym,
                     purpose: "threshold-calibration", kind: .grant, method: .touch, site: site, textVersion: version, textSHA256: sha256)
    }

    /// Records the grants for the outcomes' subjects, then the outcomes, in the kiosk's queue.
    static func recordOutcomes(_ lines: Data, server: ServerProcess, directory: String) throws -> CommandResult {
        try registerText(server)
        let consent = try runTool("faceloop-agent", ["consent", "--stdin", "--data-dir", directory], stdin: try grants(forOutcomeLines: lines))
        #expect(consent.status == 0, "\(consent.stderr)")
        return try runTool("faceloop-agent", ["record", "--stdin", "--data-dir", directory], stdin: lines)
    }
}
