import Agent
import FeedbackWire
import Foundation
import NIOCore
import NIOPosix
import SeededRandom
import Storage
import StrictJSON
import Synchronization
import TestSupport
import Testing

extension EndToEnd {
    /// Power cuts, not only killed processes. The server runs on an emulated disk that keeps
    /// only what was fsynced (`Tests/Support/PowerCutDisk`, loaded with LD_PRELOAD); a cut is a
    /// SIGKILL followed by putting back the durable images of the SQLite files, so whatever sat
    /// in the page cache unsynced is gone, as after losing power. SIGKILL alone (CrashRecoveryTests)
    /// leaves the page cache, and with it every unsynced write, in place.
    ///
    /// Knobs: FACELOOP_POWER_CUTS (default 4) and FACELOOP_POWER_CUT_SEED (default random; the
    /// test prints it). The seed fixes the plan — the moments of the cuts, the subjects who
    /// withdraw and when, the sweeps — not the timing of the processes around it.
    @Suite("Power cuts")
    struct PowerCutTests {
        static var cuts: Int { max(1, Int(ProcessInfo.processInfo.environment["FACELOOP_POWER_CUTS"] ?? "") ?? 4) }
        static var library: String { Binaries.path("libPowerCutDisk.so") }
        static var linux: Bool {
            #if os(Linux)
            true
            #else
            false
            #endif
        }

        /// A kiosk connection counts as an upload in flight when the kiosk has sent more than
        /// this since the server last sent anything on it: a request (a batch of 10 outcomes is
        /// about 5 KB) that the server has not begun to answer.
        static let unansweredRequestBytes = 2048

        /// The machine back on after the cut: each tracked file gets its durable image back and
        /// the WAL index (`-shm`, memory that SQLite rebuilds) is gone. Returns how many files
        /// held bytes the disk had not made durable.
        @discardableResult
        static func restoreDurableImages(in directory: String) throws -> Int {
            var discarded = 0
            let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            for name in names where name.hasSuffix(".durable") {
                let shadow = (directory as NSString).appendingPathComponent(name)
                let file = (directory as NSString).appendingPathComponent(String(name.dropLast(".durable".count)))
                let durable = try Data(contentsOf: URL(fileURLWithPath: shadow))
                if FileManager.default.contents(atPath: file) != durable { discarded += 1 }
                try durable.write(to: URL(fileURLWithPath: file))
            }
            for name in names where name.contains(".sqlite") && name.hasSuffix("-shm") {
                try FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
            }
            return discarded
        }

        @Test("the emulated disk keeps exactly what was fsynced", .enabled(if: linux, "LD_PRELOAD interposition is Linux's"))
        func emulatedDisk() throws {
            let directory = try temporaryDirectory("power-cut-disk")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
            func text(_ name: String) -> String? { FileManager.default.contents(atPath: path(name)).map { String(decoding: $0, as: UTF8.self) } }
            try Data("durable".utf8).write(to: URL(fileURLWithPath: path("present.sqlite")))
            // dd's conv=fsync is the one fsync a shell gives; everything else here is never synced.
            let script = """
                cd '\(directory)' && printf 'more' >> present.sqlite \
                && printf 'synced' | dd of=synced.sqlite conv=fsync status=none \
                && printf 'unsynced' | dd of=synced.sqlite conv=notrunc oflag=append status=none \
                && printf 'index' > wal.sqlite-shm && printf 'gone' > deleted.sqlite && rm deleted.sqlite \
                && printf 'other' > notes.txt
                """
            let run = try runTool("/bin/sh", ["-c", script], environment: ["LD_PRELOAD": Self.library, "FACELOOP_POWER_CUT_DIR": directory])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(text("present.sqlite") == "durablemore" && text("synced.sqlite") == "syncedunsynced", "the process sees its own writes")
            let discarded = try Self.restoreDurableImages(in: directory)
            #expect(discarded == 2)
            #expect(text("present.sqlite") == "durable", "a file present at start is durable; an unsynced append is lost")
            #expect(text("synced.sqlite") == "synced", "what was fsynced survives, what came after does not")
            #expect(text("wal.sqlite-shm") == nil, "the WAL index is memory")
            #expect(text("deleted.sqlite") == nil && text("deleted.sqlite.durable") == nil, "an unlinked file leaves no image")
            #expect(text("notes.txt") == "other" && text("notes.txt.durable") == nil, "only SQLite files are tracked")
        }

        /// One kiosk's share of the run: every outcome it will record, whose they are, and who withdraws.
        struct KioskPlan: Sendable {
            let id: String
            let directory: String
            /// Outcome lines in recording order, each with its own event id.
            let lines: [String]
            let eventIDs: [String]
            let subjects: [String]
            /// Subjects whose outcomes were attempted 400 days ago, past the default 365-day retention.
            let expired: Set<String>
            let withdrawn: [String]

            static let chunk = 100

            init(index: Int, count: Int, root: String, generator: inout SeededGenerator) throws {
                id = "kiosk-p\(index)"
                directory = (root as NSString).appendingPathComponent("k\(index)")
                let base = String(decoding: FeedbackPathEndToEndTests.outcomeLines(count: count, site: id, seed: 21 + index), as: UTF8.self)
                    .split(separator: "\n")
                let longAgo = RFC3339.format(Date().addingTimeInterval(-400 * 86_400))
                var lines: [String] = [], eventIDs: [String] = [], subjects: [String] = []
                var expired = Set<String>()
                for (position, line) in base.enumerated() {
                    guard case var .object(members) = try JSONValue.parse(String(line)),
                          let subject = JSONValue.object(members)["subject"]?["pseudonym"]?.stringValue else {
                        throw PowerCutError.unexpected("outcome line \(position)")
                    }
                    let eventID = UUID().uuidString.lowercased()
                    members.insert(("event_id", .string(eventID)), at: 0)
                    // outcomeLines gives subject `position % 40`; the first four are past retention.
                    if position % 40 < 4 {
                        members.append(("attempted_at", .string(longAgo)))
                        expired.insert(subject)
                    }
                    lines.append(JSONValue.object(members).serializedString)
                    eventIDs.append(eventID)
                    subjects.append(subject)
                }
                var candidates = Array(Set(subjects).subtracting(expired)).sorted()
                var withdrawn: [String] = []
                for _ in 0..<2 {
                    withdrawn.append(candidates.remove(at: Int(generator.next() % UInt64(candidates.count))))
                }
                (self.lines, self.eventIDs, self.subjects, self.expired, self.withdrawn) = (lines, eventIDs, subjects, expired, withdrawn)
            }

            var chunks: Int { (lines.count + Self.chunk - 1) / Self.chunk }

            /// Throws rather than `#expect`s: it runs on dispatch threads, outside the test's task.
            func record(chunk: Int) throws {
                let slice = lines[(chunk * Self.chunk)..<min(lines.count, (chunk + 1) * Self.chunk)]
                let result = try runTool("faceloop-agent", ["record", "--stdin", "--data-dir", directory], stdin: Data(slice.joined(separator: "\n").utf8))
                guard result.status == 0 else { throw PowerCutError.unexpected("\(id) record: \(result.stderr)") }
            }

            /// The event ids the store must hold in the end: all of each subject who neither
            /// withdrew nor fell past retention, none of the others.
            func expectedStored(_ subject: String) -> Set<String> {
                if expired.contains(subject) || withdrawn.contains(subject) { return [] }
                return Set(zip(subjects, eventIDs).filter { $0.0 == subject }.map(\.1))
            }
        }

        enum PowerCutError: Error { case unexpected(String) }

        func queueStatus(_ directory: String) throws -> JSONValue {
            try JSONValue.parse(try runTool("faceloop-agent", ["status", "--json", "--data-dir", directory]).stdout)["queue"] ?? .null
        }

        func cli(_ server: ServerProcess, _ arguments: [String]) throws -> CommandResult {
            try runTool("faceloop", arguments + ["--server", server.baseURL, "--token-file", server.adminTokenFile, "--ca-file", server.caFile])
        }

        @Test("the server loses power under uploads, withdrawals and retention sweeps; what was acknowledged is stored exactly once",
              .enabled(if: linux, "LD_PRELOAD interposition is Linux's"))
        func powerCuts() async throws {
            let seed = UInt64(ProcessInfo.processInfo.environment["FACELOOP_POWER_CUT_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
            print("power cuts: seed \(seed) (FACELOOP_POWER_CUT_SEED=\(seed) repeats the plan), \(Self.cuts) cuts")
            var generator = SeededGenerator(seed: seed)
            #expect(FileManager.default.fileExists(atPath: Self.library), "\(Self.library) is built with the tests (product PowerCutDisk)")
            let root = try temporaryDirectory("power-cut")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let dataDirectory = (root as NSString).appendingPathComponent("server")
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            let server = ServerProcess(dataDirectory: dataDirectory,
                                       environment: ["LD_PRELOAD": Self.library, "FACELOOP_POWER_CUT_DIR": dataDirectory])
            try server.start()
            defer { server.stop() }
            #expect(FileManager.default.fileExists(atPath: (dataDirectory as NSString).appendingPathComponent("faceloop.sqlite.durable")),
                    "the server's store is on the emulated disk")

            let proxy = InFlightProxy(unansweredBytes: Self.unansweredRequestBytes)
            try proxy.start(upstreamPort: server.port)
            defer { proxy.stop() }
            try TestConsent.registerText(server)
            let perKiosk = KioskPlan.chunk * 3 * (Self.cuts + 1)
            var kiosks: [KioskPlan] = []
            for index in 1...3 {
                let kiosk = try KioskPlan(index: index, count: perKiosk, root: root, generator: &generator)
                try enrollKiosk(server, id: kiosk.id, sites: [kiosk.id], directory: kiosk.directory, through: "https://127.0.0.1:\(proxy.port)")
                let grants = try TestConsent.grants(forOutcomeLines: Data(kiosk.lines.joined(separator: "\n").utf8))
                #expect(try runTool("faceloop-agent", ["consent", "--stdin", "--data-dir", kiosk.directory], stdin: grants).status == 0)
                try kiosk.record(chunk: 0)
                kiosks.append(kiosk)
            }
            let startingCheckpoint = try JSONValue.parse(try cli(server, ["audit", "checkpoint"]).stdout)["tree_size"]?.numberValue
            let latestCheckpoint = Shared(Int(try #require(startingCheckpoint)))
            let cutsOver = Shared(false)
            // Chunks a kiosk may have recorded so far: three more before each cut, so that every
            // cut has uploads to land on however fast the first chunks went up.
            let chunksAllowed = Shared(3)

            // Each kiosk records its next hundred outcomes and uploads, over and over, while the
            // power comes and goes; afterwards it records the rest and drains its queue.
            let uploaders = kiosks.map { kiosk in
                Task {
                    try await onThread { () throws -> Int in
                        var recorded = 1
                        // Attempts that met a dead server: retries inside a run, and failed runs.
                        var failedAttempts = 0
                        func upload() throws -> Bool {
                            let result = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", kiosk.directory,
                                                                        "--batch-size", "10", "--max-attempts", "2"])
                            failedAttempts += Int((try? JSONValue.parse(result.stdout))?["retries"]?.numberValue ?? 0)
                            if result.status != 0 { failedAttempts += 1 }
                            return result.status == 0
                        }
                        while !cutsOver.withLock({ $0 }) {
                            if recorded < kiosk.chunks, recorded < chunksAllowed.withLock({ $0 }) {
                                try kiosk.record(chunk: recorded)
                                recorded += 1
                            }
                            if !(try upload()) || recorded == kiosk.chunks || recorded >= chunksAllowed.withLock({ $0 }) {
                                Thread.sleep(forTimeInterval: 0.05)
                            }
                        }
                        while recorded < kiosk.chunks {
                            try kiosk.record(chunk: recorded)
                            recorded += 1
                        }
                        return failedAttempts
                    }
                }
            }
            // Subjects withdraw at their kiosks at seeded moments while the uploads run.
            let withdrawals = kiosks.flatMap { kiosk in kiosk.withdrawn.map { (directory: kiosk.directory, site: kiosk.id, subject: $0) } }
            let withdrawalSeed = generator.next()
            let withdrawer = Task {
                try await onThread {
                    var generator = SeededGenerator(seed: withdrawalSeed)
                    for withdrawal in withdrawals {
                        Thread.sleep(forTimeInterval: Double(200 + generator.next() % 1500) / 1000)
                        let result = try runTool("faceloop-agent", ["consent", "withdraw", "--data-dir", withdrawal.directory,
                                                                    "--subject-pseudonym", withdrawal.subject, "--purpose", "threshold-calibration",
                                                                    "--site", withdrawal.site, "--text-version", TestConsent.version,
                                                                    "--text-sha256", TestConsent.sha256])
                        guard result.status == 0 else { throw PowerCutError.unexpected("withdraw: \(result.stderr)") }
                    }
                }
            }
            // Retention sweeps and audit checkpoints at seeded moments; each cut notes the latest
            // checkpoint answered before it, which the log must still prove at the end.
            let sweepSeed = generator.next()
            let sweeper = Task {
                try await onThread { () throws -> Int in
                    var generator = SeededGenerator(seed: sweepSeed)
                    var sweeps = 0
                    while !cutsOver.withLock({ $0 }) {
                        Thread.sleep(forTimeInterval: Double(200 + generator.next() % 800) / 1000)
                        if try cli(server, ["compliance", "retention", "sweep"]).status == 0 { sweeps += 1 }
                        let checkpoint = try cli(server, ["audit", "checkpoint"])
                        if checkpoint.status == 0, let size = try? JSONValue.parse(checkpoint.stdout)["tree_size"]?.numberValue {
                            latestCheckpoint.withLock { $0 = max($0, Int(size)) }
                        }
                    }
                    return sweeps
                }
            }

            // The cuts: at a seeded moment, three more chunks allowed (and up to 1.5 s more to
            // wait for an upload to be in flight), SIGKILL, put back the durable images, stay off
            // a moment, power on.
            let queues = try kiosks.map { try UploadQueue(path: ($0.directory as NSString).appendingPathComponent("queue.sqlite")) }
            let deadline = Date().addingTimeInterval(60)
            while try queues.allSatisfy({ try $0.status().acknowledgedOutcomes == 0 }), Date() < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let cutSeed = generator.next()
            struct Tally: Sendable {
                var duringUploads = 0
                /// Cuts that threw away bytes the server had written but not synced.
                var discarding = 0
                var checkpointsBeforeCuts = Set<Int>()
            }
            let cutting: Result<Tally, any Error>
            do { cutting = .success(try await onThread { () throws -> Tally in
                var generator = SeededGenerator(seed: cutSeed)
                var tally = Tally()
                for _ in 0..<Self.cuts {
                    Thread.sleep(forTimeInterval: Double(300 + generator.next() % 1200) / 1000)
                    chunksAllowed.withLock { $0 += 3 }
                    let waitUntil = Date().addingTimeInterval(1.5)
                    while proxy.uploadsInFlight() == 0, Date() < waitUntil { Thread.sleep(forTimeInterval: 0.002) }
                    let inFlight = proxy.uploadsInFlight()
                    tally.checkpointsBeforeCuts.insert(latestCheckpoint.withLock { $0 })
                    server.kill()
                    if inFlight > 0 { tally.duringUploads += 1 }
                    if try Self.restoreDurableImages(in: dataDirectory) > 0 { tally.discarding += 1 }
                    Thread.sleep(forTimeInterval: Double(50 + generator.next() % 250) / 1000)
                    try server.start()
                }
                return tally
            }) } catch { cutting = .failure(error) }
            // Whatever happened to the cuts, the workers stop.
            cutsOver.withLock { $0 = true }
            let tally = try cutting.get()
            var failedAttempts = 0
            for uploader in uploaders { failedAttempts += try await uploader.value }
            try await withdrawer.value
            let sweeps = try await sweeper.value

            // Drain every queue with the power on, then one last sweep.
            let drainDeadline = Date().addingTimeInterval(60)
            for kiosk in kiosks {
                var drained = false
                while !drained, Date() < drainDeadline {
                    let result = try runTool("faceloop-agent", ["upload", "--json", "--data-dir", kiosk.directory, "--batch-size", "10"])
                    let status = try queueStatus(kiosk.directory)
                    drained = result.status == 0 && status["pending_outcomes"]?.numberValue == 0 && status["sealed_batches"]?.numberValue == 0
                        && status["pending_consent_events"]?.numberValue == 0
                }
                #expect(drained, "\(kiosk.id)'s queue drains once the power stays on")
            }
            let sweep = try cli(server, ["compliance", "retention", "sweep"])
            #expect(sweep.status == 0, "\(sweep.stderr)")

            // The audit log: every checkpoint the server had answered when a cut came is still
            // stored, and today's log is proven to extend it.
            let bundle = (root as NSString).appendingPathComponent("audit.json")
            for since in tally.checkpointsBeforeCuts.sorted() {
                let exported = try cli(server, ["audit", "export", "--output", bundle, "--since", String(since)])
                #expect(exported.status == 0, "the checkpoint of tree size \(since) survived the cuts: \(exported.stderr)")
                let verified = try runTool("faceloop", ["audit", "verify", bundle, "--public-key",
                                                        (dataDirectory as NSString).appendingPathComponent("audit-signing.pub")])
                #expect(verified.status == 0, "the log extends the checkpoint of tree size \(since): \(verified.stderr)")
            }

            var acknowledged = 0, refused = 0
            for kiosk in kiosks {
                let status = try queueStatus(kiosk.directory)
                acknowledged += Int(status["acknowledged_outcomes"]?.numberValue ?? -1)
                refused += Int(status["refused_events"]?.numberValue ?? -1)
                #expect(status["rejected_batches"]?.numberValue == 0, "\(kiosk.id): no batch refused as a conflict or duplicate")
            }
            #expect(acknowledged + refused == perKiosk * kiosks.count, "every recorded outcome was answered exactly once")
            #expect(server.stop() == 0)

            let store = try SQLiteStore(path: (dataDirectory as NSString).appendingPathComponent("faceloop.sqlite"))
            #expect(try await store.integrityCheck() == "ok")
            // Outcome by outcome: each kept subject's are all stored, once (event ids are unique
            // in the store); none of a withdrawn subject's or of those past retention are.
            var expectedTotal = 0
            for kiosk in kiosks {
                var missing = 0, unwanted = 0, subjectsWrong = 0
                for subject in Set(kiosk.subjects).sorted() {
                    let outcomes = try await store.subjectExport(pseudonym: subject).outcomes
                    let stored = Set(outcomes.compactMap { $0["event_id"]?.stringValue })
                    let expected = kiosk.expectedStored(subject)
                    expectedTotal += expected.count
                    missing += expected.subtracting(stored).count
                    unwanted += stored.subtracting(expected).count + (outcomes.count - stored.count)
                    if stored != expected || outcomes.count != stored.count { subjectsWrong += 1 }
                }
                #expect(missing == 0 && unwanted == 0,
                        "\(kiosk.id): \(missing) acknowledged outcomes missing, \(unwanted) stored that must not be, over \(subjectsWrong) subjects")
            }
            let stats = try await store.outcomeStats()
            #expect(stats.totalEvents == expectedTotal)
            // The bookkeeping closes exactly: what the kiosks hold as acknowledged, less what
            // erasures deleted, is what is stored.
            let erasures = try await store.erasures()
            let erased = erasures.reduce(0) { $0 + $1.outcomesErased }
            #expect(acknowledged - erased == stats.totalEvents, "acknowledged \(acknowledged), erased \(erased), stored \(stats.totalEvents)")
            let withdrawnSubjects = Set(kiosks.flatMap(\.withdrawn))
            #expect(Set(erasures.filter { $0.cause == .withdrawal }.map(\.pseudonym)) == withdrawnSubjects)
            // Each outcome past retention was stored and then erased by a sweep; each of a
            // withdrawn subject's was either erased by the withdrawal or refused after it.
            let retentionErased = erasures.filter { $0.cause == .retention }.reduce(0) { $0 + $1.outcomesErased }
            let withdrawalErased = erasures.filter { $0.cause == .withdrawal }.reduce(0) { $0 + $1.outcomesErased }
            let recordedPastRetention = kiosks.reduce(0) { total, kiosk in total + kiosk.subjects.filter(kiosk.expired.contains).count }
            let recordedWithdrawn = kiosks.reduce(0) { total, kiosk in total + kiosk.subjects.filter(kiosk.withdrawn.contains).count }
            #expect(retentionErased == recordedPastRetention)
            #expect(withdrawalErased + refused == recordedWithdrawn)
            #expect(tally.duringUploads > 0, "a cut landed on an upload in flight (otherwise this test proves little)")
            print("""
                power cuts: seed \(seed), \(Self.cuts) cuts, \(tally.duringUploads) with an upload in flight, \(tally.discarding) discarded unsynced bytes; \
                \(perKiosk * kiosks.count) outcomes recorded, \(acknowledged) acknowledged, \(refused) refused after a withdrawal, \
                \(erased) erased (\(retentionErased) past retention, by \(sweeps + 1) sweeps the test asked for and one at each start), \
                \(stats.totalEvents) stored; \
                \(failedAttempts) upload attempts failed and were retried; audit checkpoints checked at tree sizes \(tally.checkpointsBeforeCuts.sorted())
                """)
        }
    }
}

/// A value shared with the worker threads.
private final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Answer>(_ body: (inout Value) -> Answer) -> Answer { mutex.withLock { body(&$0) } }
}

/// A plain TCP relay between the kiosks and the server that can say, at any instant, how many
/// kiosk connections wait for the server: those where the kiosk has sent more than
/// `unansweredBytes` since the server last sent anything on that connection.
private final class InFlightProxy: @unchecked Sendable {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let unansweredBytes: Int
    private var channel: (any Channel)?
    private let lock = NSLock()
    private var unanswered: [ObjectIdentifier: Int] = [:]

    init(unansweredBytes: Int) { self.unansweredBytes = unansweredBytes }

    var port: Int { channel?.localAddress?.port ?? 0 }

    func start(upstreamPort: Int) throws {
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                // While the server is off the connection fails, and the kiosk's connection closes with it.
                ClientBootstrap(group: inbound.eventLoop).connect(host: "127.0.0.1", port: upstreamPort).flatMap { outbound in
                    let connection = ObjectIdentifier(inbound)
                    return inbound.pipeline.addHandler(Relay(peer: outbound, connection: connection, fromKiosk: true, proxy: self))
                        .flatMap { outbound.pipeline.addHandler(Relay(peer: inbound, connection: connection, fromKiosk: false, proxy: self)) }
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    func stop() {
        try? channel?.close().wait()
        try? group.syncShutdownGracefully()
    }

    func uploadsInFlight() -> Int {
        lock.withLock { unanswered.values.filter { $0 > unansweredBytes }.count }
    }

    func note(_ connection: ObjectIdentifier, bytes: Int, fromKiosk: Bool) {
        lock.withLock { unanswered[connection] = fromKiosk ? (unanswered[connection] ?? 0) + bytes : 0 }
    }

    func forget(_ connection: ObjectIdentifier) {
        _ = lock.withLock { unanswered.removeValue(forKey: connection) }
    }

    final class Relay: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let peer: any Channel
        let connection: ObjectIdentifier
        let fromKiosk: Bool
        unowned let proxy: InFlightProxy

        init(peer: any Channel, connection: ObjectIdentifier, fromKiosk: Bool, proxy: InFlightProxy) {
            self.peer = peer
            self.connection = connection
            self.fromKiosk = fromKiosk
            self.proxy = proxy
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            proxy.note(connection, bytes: buffer.readableBytes, fromKiosk: fromKiosk)
            peer.writeAndFlush(buffer, promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            proxy.forget(connection)
            peer.close(promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
            peer.close(promise: nil)
        }
    }
}
