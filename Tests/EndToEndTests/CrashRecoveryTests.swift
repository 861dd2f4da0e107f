import Agent
import FeedbackWire
import Foundation
import PostgresTestSupport
import Storage
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// Process kills (not power cuts: the page cache survives; PowerCutTests drops unsynced
    /// writes): the server and the agents are killed with SIGKILL at random moments while
    /// uploads run. Afterwards every outcome a kiosk recorded is stored exactly once, every
    /// queue drains, and the SQLite file passes its integrity check. The number of kill cycles
    /// is bounded (FACELOOP_CRASH_CYCLES, default 4; the long run in docs/reliability.md uses 50).
    @Suite("Crash recovery")
    struct CrashRecoveryTests {
        static var cycles: Int { Int(ProcessInfo.processInfo.environment["FACELOOP_CRASH_CYCLES"] ?? "") ?? 4 }

        func enroll(_ server: ServerProcess, _ id: String, site: String, _ directory: String) throws {
            try enrollKiosk(server, id: id, sites: [site], directory: directory)
        }

        func queueStatus(_ directory: String) throws -> JSONValue {
            try JSONValue.parse(try runTool("faceloop-agent", ["status", "--json", "--data-dir", directory]).stdout)["queue"] ?? .null
        }

        /// Uploads until the queue is empty, tolerating a server that comes and goes. Returns how
        /// many failed attempts (retries and failed runs) it met, or nil if the deadline passed.
        func drain(_ directory: String, deadline: Date) throws -> Int? {
            var failures = 0
            while Date() < deadline {
                let result = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", directory, "--batch-size", "10", "--max-attempts", "3"])
                failures += Int((try? JSONValue.parse(result.stdout))?["retries"]?.numberValue ?? 0)
                if result.status == 0 { return failures }
                failures += 1
                Thread.sleep(forTimeInterval: 0.1)
            }
            return nil
        }

        /// Returns once some kiosk has a receipt (uploads are under way) or the deadline has passed.
        func awaitFirstReceipt(_ queues: [UploadQueue], deadline: Date) async throws {
            while try queues.allSatisfy({ try $0.status().acknowledgedOutcomes == 0 }), Date() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        }

        /// After a random 20–300 ms, SIGKILLs the server; true when some kiosk still had outcomes
        /// queued at that moment (the kill interrupted uploads).
        func killSoon(_ server: ServerProcess, queues: [UploadQueue], using generator: inout SystemRandomNumberGenerator) async throws -> Bool {
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...300, using: &generator)))
            let queued = try queues.contains { queue in
                let status = try queue.status()
                return status.pendingOutcomes + status.sealedOutcomes > 0
            }
            server.kill()
            return queued
        }

        @Test("the server is killed repeatedly under load; nothing acknowledged is lost or doubled")
        func serverKills() async throws {
            let root = try temporaryDirectory("crash")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"))
            try server.start()
            // Enough outcomes that the uploads outlast the kill cycles.
            let perKiosk = max(3000, Self.cycles * 300)
            let kiosks = (1...3).map { (id: "kiosk-c\($0)", directory: (root as NSString).appendingPathComponent("k\($0)")) }
            for kiosk in kiosks {
                try enroll(server, kiosk.id, site: kiosk.id, kiosk.directory)
                let recorded = try TestConsent.recordOutcomes(FeedbackPathEndToEndTests.outcomeLines(count: perKiosk, site: kiosk.id, seed: 3), server: server, directory: kiosk.directory)
                #expect(recorded.status == 0, "\(recorded.stderr)")
            }

            let deadline = Date().addingTimeInterval(240)
            let uploaders = kiosks.map { kiosk in
                Task { try await onThread { try self.drain(kiosk.directory, deadline: deadline) } }
            }
            // Kill only while uploads are under way: wait for the first receipts, and count a
            // kill as interrupting when some kiosk still had outcomes queued at that moment.
            var generator = SystemRandomNumberGenerator()
            var interrupting = 0
            // The queues are read in-process (SQLite WAL allows it beside the uploading agents):
            // spawning `status` would be too slow to catch the uploads under load.
            let queues = try kiosks.map { try UploadQueue(path: ($0.directory as NSString).appendingPathComponent("queue.sqlite")) }
            try await awaitFirstReceipt(queues, deadline: deadline)
            for _ in 0..<Self.cycles {
                if try await killSoon(server, queues: queues, using: &generator) { interrupting += 1 }
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...300, using: &generator)))
                try server.start()
            }
            var failures = 0
            for uploader in uploaders {
                let met = try await uploader.value
                #expect(met != nil, "every queue drains once the server stays up")
                failures += met ?? 0
            }
            #expect(interrupting > 0, "the kills interrupted uploads (otherwise this test proves nothing)")
            print("crash recovery: \(Self.cycles) SIGKILL cycles, \(interrupting) during uploads, \(failures) failed attempts retried, "
                  + "\(perKiosk * kiosks.count) outcomes checked")

            let stats = try JSONValue.parse(try runTool("faceloop", ["outcomes", "stats", "--json", "--server", server.baseURL,
                                                                      "--token-file", server.adminTokenFile, "--ca-file", server.caFile]).stdout)
            #expect(stats["total_events"]?.numberValue == Double(perKiosk * kiosks.count))
            for kiosk in kiosks {
                let status = try queueStatus(kiosk.directory)
                #expect(status["acknowledged_outcomes"]?.numberValue == Double(perKiosk))
                #expect(status["rejected_batches"]?.numberValue == 0)
                #expect(status["pending_outcomes"]?.numberValue == 0 && status["sealed_batches"]?.numberValue == 0)
            }
            server.stop()
            let store = try SQLiteStore(path: (server.dataDirectory as NSString).appendingPathComponent("faceloop.sqlite"))
            #expect(try await store.integrityCheck() == "ok")
            #expect(try await store.outcomeStats().byDevice.map(\.events) == Array(repeating: perKiosk, count: kiosks.count))
        }

        /// The back ends the crash test runs on: SQLite always, PostgreSQL when a cluster is there.
        static var backEnds: [String] { ["sqlite"] + (PostgresTestDatabase.isAvailable ? ["postgres"] : []) }

        @Test("the server is killed during uploads, withdrawals and retention sweeps; its live statistics equal those rebuilt from its outcomes",
              arguments: backEnds)
        func statisticsUnderKills(backEnd: String) async throws {
            let root = try temporaryDirectory("crash-statistics")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let postgresURL = backEnd == "postgres" ? try await PostgresTestDatabase.create() : nil
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"),
                                       environment: postgresURL.map { ["FACELOOP_STORE_KIND": "postgres", "FACELOOP_STORE_POSTGRES_URL": $0] } ?? [:])
            try server.start()
            func cli(_ arguments: [String]) throws -> CommandResult {
                try runTool("faceloop", arguments + ["--server", server.baseURL, "--token-file", server.adminTokenFile, "--ca-file", server.caFile])
            }
            let rule = try cli(["compliance", "retention", "set", "--jurisdiction", "default", "--purpose", "threshold-calibration", "--days", "30"])
            #expect(rule.status == 0, "\(rule.stderr)")
            // A quarter of the outcomes were attempted 40 days ago, past the 30-day rule: each sweep erases them.
            let now = Date()
            let perKiosk = max(2000, Self.cycles * 250)
            let kiosks = (1...2).map { (id: "kiosk-s\($0)", site: "site-s\($0)", directory: (root as NSString).appendingPathComponent("k\($0)")) }
            var subjects: [(kiosk: String, site: String, pseudonym: String)] = []
            for (number, kiosk) in kiosks.enumerated() {
                try enroll(server, kiosk.id, site: kiosk.site, kiosk.directory)
                let lines = FeedbackPathEndToEndTests.outcomeLines(count: perKiosk, site: kiosk.site, seed: 11 + number) { index in
                    now.addingTimeInterval(-86_400 * (index % 4 == 0 ? 40 : 1 + Double(index % 5)) - Double(index))
                }
                let recorded = try TestConsent.recordOutcomes(lines, server: server, directory: kiosk.directory)
                #expect(recorded.status == 0, "\(recorded.stderr)")
                // Those withdrawn: subjects whose outcomes are all recent (subject = index mod 40), so none is swept first.
                subjects += (0..<40).filter { $0 % 4 != 0 }.map { (kiosk.directory, kiosk.site, String(format: "%064x", $0 * 7919 + 11 + number)) }
            }

            let deadline = Date().addingTimeInterval(240)
            let uploaders = kiosks.map { kiosk in
                Task { try await onThread { try self.drain(kiosk.directory, deadline: deadline) } }
            }
            let queues = try kiosks.map { try UploadQueue(path: ($0.directory as NSString).appendingPathComponent("queue.sqlite")) }
            try await awaitFirstReceipt(queues, deadline: deadline)
            var generator = SystemRandomNumberGenerator()
            var withdrawn: Set<String> = []
            var interrupting = 0
            var sweepsCut = 0
            let store = StoreOpener(sqlitePath: (server.dataDirectory as NSString).appendingPathComponent("faceloop.sqlite"), postgresURL: postgresURL)
            for cycle in 0..<Self.cycles {
                // A withdrawal joins a kiosk's queue and a sweep starts; the kill may land in either.
                let subject = subjects[(cycle * 13) % subjects.count]
                let withdrawal = try runTool("faceloop-agent", ["consent", "withdraw", "--data-dir", subject.kiosk, "--subject-pseudonym", subject.pseudonym,
                                                                "--purpose", "threshold-calibration", "--site", subject.site,
                                                                "--text-version", TestConsent.version, "--text-sha256", TestConsent.sha256])
                #expect(withdrawal.status == 0, "\(withdrawal.stderr)")
                withdrawn.insert(subject.pseudonym)
                let sweep = try launchTool("faceloop", ["compliance", "retention", "sweep", "--server", server.baseURL,
                                                        "--token-file", server.adminTokenFile, "--ca-file", server.caFile])
                if try await killSoon(server, queues: queues, using: &generator) { interrupting += 1 }
                if sweep.wait() != 0 { sweepsCut += 1 }
                // What the next start finds: the file as the kill left it, its log recovered.
                try await store.statisticsAgree(today: StatisticsBuckets.day(of: now), context: "\(backEnd), after kill \(cycle + 1)")
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...300, using: &generator)))
                try server.start()
            }
            for uploader in uploaders {
                #expect(try await uploader.value != nil, "every queue drains once the server stays up")
            }
            #expect(interrupting > 0, "the kills interrupted uploads (otherwise this test proves nothing)")
            // An uploader that had emptied its queue before a later withdrawal joined it has not sent that one.
            for kiosk in kiosks {
                #expect(try drain(kiosk.directory, deadline: Date().addingTimeInterval(60)) != nil)
            }
            #expect(try cli(["compliance", "retention", "sweep"]).status == 0)
            server.stop()

            let (outcomes, erasures) = try await store.withStore { store in
                if let sqlite = store as? SQLiteStore { #expect(try await sqlite.integrityCheck() == "ok") }
                return (try await store.calibrationOutcomes(from: nil, to: nil), try await store.erasures())
            }
            #expect(erasures.contains { $0.cause == .retention && $0.outcomesErased > 0 }, "the sweeps erased something")
            #expect(Set(erasures.filter { $0.cause == .withdrawal }.map(\.pseudonym)) == withdrawn)
            #expect(!outcomes.contains { withdrawn.contains($0.subjectPseudonym) }, "nothing of a withdrawn subject is left")
            #expect(!outcomes.contains { $0.attemptedAt < now.addingTimeInterval(-30 * 86_400) }, "nothing past the rule is left")
            try await store.statisticsAgree(today: StatisticsBuckets.day(of: now), context: "\(backEnd), at the end")
            print("crash recovery (statistics, \(backEnd)): \(Self.cycles) SIGKILL cycles, \(interrupting) during uploads, \(sweepsCut) sweeps cut short, "
                  + "\(withdrawn.count) withdrawals, \(erasures.count { $0.cause == .retention }) retention erasures, \(outcomes.count) outcomes left")
        }

        /// Opens the server's store from the test, while no server runs on it.
        struct StoreOpener {
            let sqlitePath: String
            let postgresURL: String?

            func withStore<T>(_ body: (any FeedbackStore & ComplianceStore) async throws -> T) async throws -> T {
                guard let postgresURL else { return try await body(try SQLiteStore(path: sqlitePath)) }
                let store = try await PostgresStore(url: postgresURL)
                do {
                    let result = try await body(store)
                    await store.shutdown()
                    return result
                } catch {
                    await store.shutdown()
                    throw error
                }
            }

            /// The live statistics against those rebuilt from the outcome rows, over the whole
            /// history and windows of recent, older and swept days, and the counters against
            /// the rows: what the next start finds.
            func statisticsAgree(today: Int, context: String) async throws {
                try await withStore { store in
                    let outcomes = try await store.calibrationOutcomes(from: nil, to: nil)
                    let daily = try ScoreStatisticsRebuild.daily(outcomes)
                    for (first, last) in [(nil, nil), (today - 3, today), (nil, today - 4), (today - 45, today - 35)] as [(Int?, Int?)] {
                        let live = try await store.scoreStatistics(firstDay: first, lastDay: last)
                        #expect(live == (try ScoreStatisticsRebuild.window(daily, firstDay: first, lastDay: last)),
                                "\(context): live statistics of days \(first.map(String.init) ?? "…")–\(last.map(String.init) ?? "…") differ from the rebuild")
                    }
                    let counted = try await store.outcomeStats()
                    #expect(counted.totalEvents == outcomes.count, "\(context)")
                    #expect([counted.byLabel.genuine, counted.byLabel.impostor, counted.byLabel.unknown]
                            == ["genuine", "impostor", "unknown"].map { label in outcomes.count { $0.label == label } }, "\(context)")
                }
            }
        }

        @Test("agents killed mid-upload resume without loss or duplicates")
        func agentKills() async throws {
            let root = try temporaryDirectory("agent-crash")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"))
            try server.start()
            defer { server.stop() }
            let directory = (root as NSString).appendingPathComponent("kiosk")
            try enroll(server, "kiosk-a1", site: "s", directory)
            let total = 600
            #expect(try TestConsent.recordOutcomes(FeedbackPathEndToEndTests.outcomeLines(count: total, site: "s", seed: 5), server: server, directory: directory).status == 0)
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<Self.cycles {
                let upload = try launchTool("faceloop-agent", ["upload", "--data-dir", directory, "--batch-size", "10"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 30...250, using: &generator)))
                upload.send(SIGKILL)
                upload.wait()
            }
            #expect(try drain(directory, deadline: Date().addingTimeInterval(60)) != nil)
            let status = try queueStatus(directory)
            #expect(status["acknowledged_outcomes"]?.numberValue == Double(total))
            #expect(status["rejected_batches"]?.numberValue == 0, "a re-sent batch is never refused as a conflict or duplicate")
            let stats = try JSONValue.parse(try runTool("faceloop", ["outcomes", "stats", "--json", "--server", server.baseURL,
                                                                      "--token-file", server.adminTokenFile, "--ca-file", server.caFile]).stdout)
            #expect(stats["total_events"]?.numberValue == Double(total))
        }
    }
}
