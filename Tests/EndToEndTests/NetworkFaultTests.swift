import FeedbackWire
import Foundation
import TestSupport
import Testing

extension EndToEnd {
    /// Uploads through a proxy that delays, cuts and resets connections: every outcome arrives
    /// exactly once and every queue drains.
    @Suite("Network faults")
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
                // Enrollment goes through the faulty network too; retry as an operator would.
                try enrollKiosk(server, id: id, sites: [id], directory: directory, through: proxied, attempts: 10)
                #expect(try TestConsent.recordOutcomes(FeedbackPathEndToEndTests.outcomeLines(count: perKiosk, site: id, seed: index), server: server, directory: directory).status == 0)
            }
            let uploads = kiosks.map { id in
                Task { try await onThread { () -> String? in
                    let directory = (root as NSString).appendingPathComponent(id)
                    var last = ""
                    for _ in 0..<40 {
                        let result = try runTool("faceloop-agent", ["upload", "--data-dir", directory, "--batch-size", "10", "--max-attempts", "4"])
                        if result.status == 0 { return nil }
                        last = result.stdout + result.stderr
                    }
                    return last
                } }
            }
            for upload in uploads {
                let failure = try await upload.value
                #expect(failure == nil, "the queue drains despite the faults; last run: \(failure ?? "")")
            }
            #expect(proxy.cuts + proxy.resets > 0, "the proxy injected faults (cuts \(proxy.cuts), resets \(proxy.resets))")
            print("network faults: \(proxy.connections) connections, \(proxy.cuts) cut, \(proxy.resets) reset")

            let stats = try WireJSON.decoder().decode(OutcomeStats.self, from: Data(try runTool("faceloop", [
                "outcomes", "stats", "--json", "--server", server.baseURL, "--token-file", server.adminTokenFile, "--ca-file", server.caFile,
            ]).stdout.utf8))
            #expect(stats.totalEvents == perKiosk * kiosks.count)
            #expect(stats.byDevice.map(\.events) == [perKiosk, perKiosk])
        }
    }
}
