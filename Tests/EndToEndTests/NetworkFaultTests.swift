import Feedback
import Foundation
import Testing

/// Uploads through a proxy that delays, cuts and resets connections: every outcome arrives
/// exactly once and every queue drains.
@Suite("Network faults", .serialized)
struct NetworkFaultTests {
    @Test("delays, cuts and resets between agents and server lose and double nothing")
    func faultyNetwork() async throws {
        let root = try temporaryDirectory("faults")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"))
        try server.start()
        defer { server.stop() }
        let proxy = FaultProxy(seed: 20_261_126)
        try proxy.start(upstreamPort: server.port, faults: .init())
        defer { proxy.stop() }
        let proxied = "https://127.0.0.1:\(proxy.port)"

        let perKiosk = 500
        let kiosks = ["kiosk-n1", "kiosk-n2"]
        for (index, id) in kiosks.enumerated() {
            let directory = (root as NSString).appendingPathComponent(id)
            let token = try runTool("faceloop", ["devices", "enroll-token", id, "--server", server.baseURL,
                                                 "--token-file", server.adminTokenFile, "--ca-file", server.caFile])
            // Enrollment goes through the faulty network too; retry as an operator would.
            var enrolled = false
            for _ in 0..<10 where !enrolled {
                enrolled = try runTool("faceloop-agent", ["enroll", "--data-dir", directory, "--server", proxied, "--device-id", id,
                                                          "--token", token.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                                                          "--ca-file", server.caFile]).status == 0
            }
            #expect(enrolled)
            #expect(try runTool("faceloop-agent", ["record", "--stdin", "--data-dir", directory],
                                stdin: FeedbackPathEndToEndTests.outcomeLines(count: perKiosk, site: id, seed: index)).status == 0)
        }
        let uploads = kiosks.map { id in
            Task.detached { () -> Bool in
                let directory = (root as NSString).appendingPathComponent(id)
                for _ in 0..<40 {
                    let result = try runTool("faceloop-agent", ["upload", "--data-dir", directory, "--batch-size", "10", "--max-attempts", "4"])
                    if result.status == 0 { return true }
                }
                return false
            }
        }
        for upload in uploads { #expect(try await upload.value, "the queue drains despite the faults") }
        #expect(proxy.cuts + proxy.resets > 0, "the proxy injected faults (cuts \(proxy.cuts), resets \(proxy.resets))")

        let stats = try WireJSON.decoder().decode(OutcomeStats.self, from: Data(try runTool("faceloop", [
            "outcomes", "stats", "--json", "--server", server.baseURL, "--token-file", server.adminTokenFile, "--ca-file", server.caFile,
        ]).stdout.utf8))
        #expect(stats.totalEvents == perKiosk * kiosks.count)
        #expect(stats.byDevice.map(\.events) == [perKiosk, perKiosk])
    }
}
