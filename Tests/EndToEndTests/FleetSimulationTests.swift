import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// `faceloop simulate fleet` against a real server: every kiosk enrolls with its own
    /// certificate, uploads through the agent, and the thresholds the server computes from
    /// what arrived equal those of the generated ground truth.
    @Suite("Fleet simulation")
    struct FleetSimulationTests {
        @Test("a simulated fleet uploads everything without error, and the server's thresholds equal the ground truth")
        func fleet() async throws {
            let root = try temporaryDirectory("fleet")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"))
            try server.start()
            defer { server.stop() }
            let run = try runTool("faceloop", ["simulate", "fleet", "--kiosks", "16", "--outcomes-per-kiosk", "250", "--batch-size", "50",
                                       "--concurrency", "8", "--target-fmr", "0.05", "--json", "--server", server.baseURL, "--token-file", server.adminTokenFile,
                                       "--ca-file", server.caFile])
            #expect(run.status == 0, "\(run.stderr)\n\(run.stdout)")
            let report = try JSONValue.parse(run.stdout)
            #expect(report["events"]?.numberValue == Double(16 * 250))
            #expect(report["batches"]?.numberValue == Double(16 * 5))
            #expect(report["errors"]?.numberValue == 0)
            #expect((report["latency_p99_ms"]?.numberValue ?? 0) > 0)
            let thresholds = try #require(report["thresholds"])
            #expect((thresholds["compared"]?.numberValue ?? 0) >= 4)
            #expect(thresholds["matching"] == thresholds["compared"])
            #expect(thresholds["drifting"]?.stringValue == "site-1/cam-a")
            let stats = try JSONValue.parse(try runTool("faceloop", ["outcomes", "stats", "--json", "--server", server.baseURL,
                                                                      "--token-file", server.adminTokenFile, "--ca-file", server.caFile]).stdout)
            #expect(stats["total_events"]?.numberValue == Double(16 * 250))
        }
    }
}
