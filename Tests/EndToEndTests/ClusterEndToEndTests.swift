import Agent
import ChildProcess
import FeedbackWire
import Foundation
import PostgresTestSupport
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// Several server nodes on one PostgreSQL database behind one TCP load balancer, as
    /// docs/operations.md deploys them.
    @Suite("Cluster on PostgreSQL", .enabled(if: PostgresTestDatabase.isAvailable))
    struct ClusterEndToEndTests {
        static let kiosks = 12
        static let outcomesPerKiosk = 300
        static let batchSize = 25

        /// Node 1 creates the keys on first start; the others run with copies, as operators
        /// copy the data directory to every node.
        static func startNodes(count: Int, root: String, databaseURL: String) throws -> [ServerProcess] {
            let environment = ["FACELOOP_STORE_KIND": "postgres", "FACELOOP_STORE_POSTGRES_URL": databaseURL]
            let first = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("node-1"), environment: environment)
            try first.start()
            var nodes = [first]
            for index in 2...count {
                let directory = (root as NSString).appendingPathComponent("node-\(index)")
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                for name in try FileManager.default.contentsOfDirectory(atPath: first.dataDirectory)
                where !name.hasSuffix(".out") && !name.hasSuffix(".err") {
                    try FileManager.default.copyItem(atPath: (first.dataDirectory as NSString).appendingPathComponent(name),
                                                     toPath: (directory as NSString).appendingPathComponent(name))
                }
                let node = ServerProcess(dataDirectory: directory, environment: environment)
                try node.start()
                nodes.append(node)
            }
            return nodes
        }

        @Test("three nodes, one killed mid-upload: every acknowledged batch is stored exactly once and every queue drains")
        func nodeKilledMidUpload() async throws {
            let root = try temporaryDirectory("cluster")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let nodes = try Self.startNodes(count: 3, root: root, databaseURL: try await PostgresTestDatabase.create())
            defer { nodes.forEach { $0.stop() } }
            let balancer = FaultProxy(seed: 7)
            try balancer.start(upstreamPorts: nodes.map(\.port), faults: FaultProxy.faithful)
            defer { balancer.stop() }
            let address = "https://127.0.0.1:\(balancer.port)"
            let access = ["--server", address, "--token-file", nodes[0].adminTokenFile, "--ca-file", nodes[0].caFile]

            let workDirectory = (root as NSString).appendingPathComponent("kiosks")
            let output = (root as NSString).appendingPathComponent("fleet.json")
            let fleet = try ChildProcess(
                executable: Binaries.path("faceloop"),
                arguments: ["simulate", "fleet", "--kiosks", "\(Self.kiosks)", "--outcomes-per-kiosk", "\(Self.outcomesPerKiosk)",
                            "--batch-size", "\(Self.batchSize)", "--concurrency", "6", "--target-fmr", "0.05", "--json",
                            "--work-dir", workDirectory] + access,
                standardOutput: output, standardError: (root as NSString).appendingPathComponent("fleet.err"))

            // Kill node 2 once a quarter of the outcomes are in, with uploads in flight.
            let total = Self.kiosks * Self.outcomesPerKiosk
            let deadline = Date().addingTimeInterval(240)
            var stored = 0
            while stored < total / 4, Date() < deadline, fleet.isRunning {
                try await Task.sleep(for: .milliseconds(100))
                let stats = try runTool("faceloop", ["outcomes", "stats", "--json"] + access)
                stored = Int((try? JSONValue.parse(stats.stdout))?["total_events"]?.numberValue ?? 0)
            }
            #expect(fleet.isRunning, "the fleet finished before the node could be killed mid-upload")
            nodes[1].kill()
            let connectionsBeforeKill = balancer.connections
            let status = fleet.wait()
            let report = String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self)
            let errors = String(decoding: FileManager.default.contents(atPath: (root as NSString).appendingPathComponent("fleet.err")) ?? Data(),
                                as: UTF8.self)
            #expect(status == 0, "\(report)\n\(errors)")
            let fleetReport = try JSONValue.parse(report)
            #expect(fleetReport["errors"]?.numberValue == 0)
            #expect(fleetReport["events"]?.numberValue == Double(total))
            #expect(stored < total, "uploads went on after the kill")
            #expect(connectionsBeforeKill >= 3, "the balancer spread connections over the nodes")
            print("cluster test: \(stored) of \(total) outcomes stored when node 2 was killed; \(connectionsBeforeKill) connections before, \(balancer.connections) in all")

            // Every kiosk's queue drained, and what each acknowledged is on the server once.
            let stats = try JSONValue.parse(try runTool("faceloop", ["outcomes", "stats", "--json"] + access).stdout)
            #expect(stats["total_events"]?.numberValue == Double(total))
            #expect(stats["total_batches"]?.numberValue == Double(total / Self.batchSize))
            var storedPerDevice: [String: Double] = [:]
            for device in stats["by_device"]?.arrayValue ?? [] {
                if let id = device["device_id"]?.stringValue { storedPerDevice[id] = device["events"]?.numberValue }
            }
            // The work directory holds one directory per kiosk, and the simulator's ground-truth file.
            let kioskDirectories = try FileManager.default.contentsOfDirectory(atPath: workDirectory).sorted().filter { name in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: (workDirectory as NSString).appendingPathComponent(name), isDirectory: &isDirectory)
                    && isDirectory.boolValue
            }
            #expect(kioskDirectories.count == Self.kiosks)
            for name in kioskDirectories {
                let queue = try KioskAgent(files: AgentFiles(directory: (workDirectory as NSString).appendingPathComponent(name)))
                    .openQueue().status()
                #expect(queue.pendingOutcomes == 0 && queue.sealedBatches == 0, "\(name) still holds outcomes")
                #expect(queue.acknowledgedOutcomes == Self.outcomesPerKiosk, "\(name)")
                #expect(storedPerDevice[name] == Double(queue.acknowledgedOutcomes), "\(name): stored once per acknowledged outcome")
            }

            // The audit log is one sequence whichever node wrote each entry, and checks out offline.
            let bundlePath = (root as NSString).appendingPathComponent("audit.json")
            let export = try runTool("faceloop", ["audit", "export", "--output", bundlePath] + access)
            #expect(export.status == 0, "\(export.stderr)")
            let verify = try runTool("faceloop", ["audit", "verify", bundlePath, "--public-key",
                                                  (nodes[0].dataDirectory as NSString).appendingPathComponent("audit-signing.pub")])
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        }
    }
}
