import FeedbackWire
import Foundation
import StrictJSON
import Testing

/// Registers those of `sites` that nobody registered yet, under the `default` jurisdiction
/// (where a site nobody registered pseudonymises anyway), as an admin does before enrolling
/// a site's kiosks. A site a test registered under another jurisdiction keeps it.
func registerSites(_ server: ServerProcess, _ sites: [String]) throws {
    let access = ["--server", server.baseURL, "--token-file", server.adminTokenFile, "--ca-file", server.caFile]
    let listed = try runTool("faceloop", ["compliance", "site"] + access)
    #expect(listed.status == 0, "\(listed.stderr)")
    let registered = Set((try JSONValue.parse(Array(listed.stdout.utf8))).arrayValue?.compactMap { $0["site"]?.stringValue } ?? [])
    for site in Set(sites).subtracting(registered).sorted() {
        let added = try runTool("faceloop", ["compliance", "site", site, "--jurisdiction", "default"] + access)
        #expect(added.status == 0, "\(added.stderr)")
    }
}

/// A one-time enrollment token from the CLI for a kiosk of `sites` (registered first), as an
/// operator issues it.
func issueEnrollmentToken(_ server: ServerProcess, id: String, sites: [String]) throws -> String {
    try registerSites(server, sites)
    let issued = try runTool("faceloop", ["devices", "enroll-token", id, "--json", "--server", server.baseURL,
                                          "--token-file", server.adminTokenFile, "--ca-file", server.caFile]
                                         + sites.flatMap { ["--site", $0] })
    #expect(issued.status == 0, "\(issued.stderr)")
    return try #require((try? JSONValue.parse(issued.stdout))?["token"]?.stringValue,
                        "enroll-token (status \(issued.status)) printed \(issued.stdout.debugDescription); stderr \(issued.stderr.debugDescription)")
}

/// Enrolls an agent's data directory for the sites it will upload for, the way an operator
/// does, through `baseURL` (the server's own address unless a test routes it through a
/// proxy), retrying `attempts` times.
func enrollKiosk(_ server: ServerProcess, id: String, sites: [String], directory: String, through baseURL: String? = nil,
                 attempts: Int = 1) throws {
    let token = try issueEnrollmentToken(server, id: id, sites: sites)
    var result = CommandResult(status: -1, stdout: "", stderr: "")
    for _ in 0..<attempts where result.status != 0 {
        result = try runTool("faceloop-agent", ["enroll", "--data-dir", directory, "--server", baseURL ?? server.baseURL, "--device-id", id,
                                                "--token", token, "--ca-file", server.caFile])
    }
    #expect(result.status == 0, "\(result.stderr)")
}
