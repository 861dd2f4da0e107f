import FeedbackWire
import Foundation
import StrictJSON
import Testing

/// A one-time enrollment token from the CLI, as an operator issues it.
func issueEnrollmentToken(_ server: ServerProcess, id: String) throws -> String {
    let issued = try runTool("faceloop", ["devices", "enroll-token", id, "--json", "--server", server.baseURL,
                                          "--token-file", server.adminTokenFile, "--ca-file", server.caFile])
    #expect(issued.status == 0, "\(issued.stderr)")
    return try #require((try? JSONValue.parse(issued.stdout))?["token"]?.stringValue,
                        "enroll-token (status \(issued.status)) printed \(issued.stdout.debugDescription); stderr \(issued.stderr.debugDescription)")
}

/// Enrolls an agent's data directory the way an operator does, through `baseURL` (the
/// server's own address unless a test routes it through a proxy), retrying `attempts` times.
func enrollKiosk(_ server: ServerProcess, id: String, directory: String, through baseURL: String? = nil, attempts: Int = 1) throws {
    let token = try issueEnrollmentToken(server, id: id)
    var result = CommandResult(status: -1, stdout: "", stderr: "")
    for _ in 0..<attempts where result.status != 0 {
        result = try runTool("faceloop-agent", ["enroll", "--data-dir", directory, "--server", baseURL ?? server.baseURL, "--device-id", id,
                                                "--token", token, "--ca-file", server.caFile])
    }
    #expect(result.status == 0, "\(result.stderr)")
}
