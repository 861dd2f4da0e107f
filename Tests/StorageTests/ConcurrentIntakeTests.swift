import FeedbackWire
import Foundation
import GRDB
@testable import Storage
import TestSupport
import Testing

/// Many batches in flight at once, as a busy server has them: SQLite commits those that wait
/// together (`SQLiteGroupCommit`), in one transaction, so the answers must be what one
/// commit per batch would give, and every batch answered `stored` must be there afterwards.
@Suite("Concurrent intake")
struct ConcurrentIntakeTests {
    typealias Contract = FeedbackStoreTests

    @Test("SQLite's writer leaves checkpoints to a connection of its own, and the log is copied into the file as batches come")
    func checkpointsOffTheWriter() async throws {
        let directory = try temporaryDirectory("checkpoints")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let store = try SQLiteStore(path: path)
        #expect(try await store.pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint") }
                == SQLiteCheckpointer.writerBackstopPages)
        try await Contract.enrolled(store, "kiosk-w")
        func settle() async throws {
            while store.checkpointer.isRunning { try await Task.sleep(for: .milliseconds(5)) }
        }
        for sequence in 1...60 {
            let result = try await store.storeBatch(Contract.incoming("kiosk-w", sequence: Int64(sequence),
                                                                      outcomes: (0..<100).map { _ in Contract.outcome() }))
            guard case .stored = result else { Issue.record("batch \(sequence): \(result)"); return }
            try await settle()
        }
        func size(_ file: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.intValue ?? 0
        }
        // Without checkpoints every page would still be in the log and the file would hold the
        // empty schema; copied commit by commit, the log restarts and stays a commit or two long.
        let (file, log) = (try size(path), try size(path + "-wal"))
        #expect(file > 2 * log, "file \(file) bytes, log \(log) bytes")
        #expect(try await store.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outcomes") } == 6_000)
    }

    @Test("a checkpoint starts at most once an interval; a commit inside it is copied by one started when the interval ends")
    func checkpointsOncePerInterval() async throws {
        let directory = try temporaryDirectory("checkpoint-interval")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        let writer = try DatabaseQueue(path: path)
        try await writer.writeWithoutTransaction { db in
            _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "CREATE TABLE t (x BLOB)")
        }
        // Long enough that a loaded machine still makes the second commit inside it.
        let interval = Duration.seconds(2)
        let checkpointer = try SQLiteCheckpointer(path: path, interval: interval)
        func commit() async throws {
            try await writer.write { db in
                for _ in 0..<50 { try db.execute(sql: "INSERT INTO t VALUES (randomblob(4000))") }
            }
        }
        func settle() async throws {
            while checkpointer.isRunning { try await Task.sleep(for: .milliseconds(5)) }
        }
        /// Whether the database file holds every page of the database (the log copied into it).
        func copied() async throws -> Bool {
            let pages = try await writer.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            return size >= pages * 4096
        }

        try await commit()
        let firstStart = ContinuousClock.now
        checkpointer.nudge()
        try await settle()
        #expect(checkpointer.completed.load(ordering: .relaxed) == 1)
        #expect(try await copied())

        // Inside the interval: nothing starts now, the commit waits in the log…
        try await commit()
        checkpointer.nudge()
        checkpointer.nudge()
        try #require(ContinuousClock.now - firstStart < interval)
        #expect(checkpointer.isRunning)
        #expect(checkpointer.completed.load(ordering: .relaxed) == 1)
        #expect(try await !copied())
        // …and one checkpoint copies it once the interval has passed.
        try await settle()
        #expect(ContinuousClock.now - firstStart >= interval)
        #expect(checkpointer.completed.load(ordering: .relaxed) == 2)
        #expect(try await copied())

        // After the interval a nudge starts one again.
        try await Task.sleep(for: interval)
        try await commit()
        checkpointer.nudge()
        try await settle()
        #expect(checkpointer.completed.load(ordering: .relaxed) == 3)
        #expect(try await copied())
    }

    @Test("SQLite stores batches without savepoints, with consent events or without; one refused after it wrote has its group stored again, a savepoint for each batch")
    func groupsWithoutSavepoints() async throws {
        let directory = try temporaryDirectory("savepoints")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
        let devices = ["kiosk-p0", "kiosk-p1"]
        for device in devices {
            try await Contract.enrolled(store, device)
            #expect(try await store.storeBatch(Contract.incoming(device, sequence: 1, outcomes: [])) != .nonceReplayed)
        }
        func inFlight(_ batches: [IncomingBatch]) async throws -> [UUID: BatchStoreResult] {
            try await withThrowingTaskGroup(of: (UUID, BatchStoreResult).self) { group in
                for incoming in batches { group.addTask { (incoming.batchID, try await store.storeBatch(incoming)) } }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
        }
        func isStored(_ result: BatchStoreResult?) -> Bool { if case .stored? = result { true } else { false } }

        // Clean batches, every other one with a consent grant: stored in shared transactions,
        // none of them redone.
        let clean = devices.flatMap { device in
            (2...21).map { Contract.incoming(device, sequence: Int64($0), outcomes: (0..<5).map { _ in Contract.outcome() },
                                             consentEvents: $0 % 2 == 0 ? nil : []) }
        }
        let cleanAnswers = try await inFlight(clean)
        #expect(cleanAnswers.values.allSatisfy(isStored))
        #expect(store.intake.redoneGroups.load(ordering: .relaxed) == 0)

        // Refusals after the batch's first row: a sequence stored with other content, an event
        // stored already. A replayed nonce is found before any row and needs no redo.
        let storedEvent = try #require(clean.first?.batch.outcomes.first)
        let conflicting = Contract.incoming("kiosk-p0", sequence: 5, outcomes: [Contract.outcome()], consentEvents: [])
        let duplicate = Contract.incoming("kiosk-p1", sequence: 22, outcomes: [Contract.outcome(), storedEvent], consentEvents: [])
        let replayed = Contract.incoming("kiosk-p0", sequence: 22, outcomes: [Contract.outcome()], nonce: clean[0].nonce, consentEvents: [])
        // Its consent grant recorded before its outcomes are refused: nothing of it may stay.
        let duplicateWithConsent = Contract.incoming("kiosk-p0", sequence: 33, outcomes: [Contract.outcome(), storedEvent])
        let more = devices.flatMap { device in
            (23...32).map { Contract.incoming(device, sequence: Int64($0), outcomes: (0..<5).map { _ in Contract.outcome() },
                                              consentEvents: $0 % 2 == 0 ? nil : []) }
        }
        let answers = try await inFlight([conflicting, duplicate, replayed, duplicateWithConsent] + more)
        #expect(answers[conflicting.batchID] == .sequenceConflict)
        #expect(answers[duplicate.batchID] == .duplicateEvent(storedEvent.eventID))
        #expect(answers[replayed.batchID] == .nonceReplayed)
        #expect(answers[duplicateWithConsent.batchID] == .duplicateEvent(storedEvent.eventID))
        let refusedGrant = try #require(duplicateWithConsent.batch.consentEvents.first).eventID.uuidString.lowercased()
        #expect(try await store.pool.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM consent_events WHERE event_id = ?",
                                                            arguments: [refusedGrant]) } == 0)
        let storedGrants = (clean + more).compactMap { $0.batch.consentEvents.first?.eventID.uuidString.lowercased() }
        #expect(try await store.pool.read { db in
            try storedGrants.allSatisfy { try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM consent_events WHERE event_id = ?", arguments: [$0]) == 1 }
        })
        #expect(more.allSatisfy { isStored(answers[$0.batchID]) })
        #expect(store.intake.redoneGroups.load(ordering: .relaxed) >= 1)

        let stats = try await store.outcomeStats()
        #expect(stats.totalEvents == (clean + more).reduce(0) { $0 + $1.batch.outcomes.count })
        let outcomes = try await store.calibrationOutcomes(from: nil, to: nil)
        #expect(try await store.scoreStatistics(firstDay: nil, lastDay: nil)
                == (try ScoreStatisticsRebuild.window(ScoreStatisticsRebuild.daily(outcomes), firstDay: nil, lastDay: nil)))
        #expect(stats == (try await LiveStatisticsPropertyTests.scannedOutcomeStats(store)))
    }

    @Test("200 batches in flight: each answered as alone, refusals confined to their batch, everything acknowledged stored",
          arguments: StoreBackEnd.available)
    func manyInFlight(backEnd: StoreBackEnd) async throws {
        let (store, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let devices = (0..<4).map { "kiosk-c\($0)" }
        for device in devices { try await Contract.enrolled(store, device) }

        // 50 good batches per device; among them, traps that only another in-flight batch reveals.
        var batches: [IncomingBatch] = []
        for device in devices {
            for sequence in 1...50 {
                batches.append(Contract.incoming(device, sequence: Int64(sequence), outcomes: (0..<3).map { _ in Contract.outcome() }))
            }
        }
        let sharedNonce = "nonce-used-twice"
        let replayedNonce = Contract.incoming("kiosk-c0", sequence: 51, outcomes: [Contract.outcome()], nonce: sharedNonce)
        let firstNonce = Contract.incoming("kiosk-c0", sequence: 52, outcomes: [Contract.outcome()], nonce: sharedNonce)
        let conflicting = Contract.incoming("kiosk-c1", sequence: 7, outcomes: [Contract.outcome()])  // sequence 7 with other content
        let shared = Contract.outcome()
        let duplicateA = Contract.incoming("kiosk-c2", sequence: 51, outcomes: [shared])
        let duplicateB = Contract.incoming("kiosk-c3", sequence: 51, outcomes: [shared])
        batches += [replayedNonce, firstNonce, conflicting, duplicateA, duplicateB]

        let answers = try await withThrowingTaskGroup(of: (UUID, String, Int64, BatchStoreResult).self) { group in
            for incoming in batches.shuffled() {
                group.addTask { (incoming.batchID, incoming.batch.deviceID, incoming.batch.sequence, try await store.storeBatch(incoming)) }
            }
            return try await group.reduce(into: [(UUID, String, Int64, BatchStoreResult)]()) { $0.append($1) }
        }
        func answer(_ incoming: IncomingBatch) throws -> BatchStoreResult {
            try #require(answers.first { $0.0 == incoming.batchID }?.3)
        }
        func isStored(_ result: BatchStoreResult) -> Bool { if case .stored = result { return true } else { return false } }

        // Of two batches with one nonce, exactly one is stored; the other is a replay.
        let nonceAnswers = [try answer(replayedNonce), try answer(firstNonce)]
        #expect(nonceAnswers.filter(isStored).count == 1)
        #expect(nonceAnswers.contains { if case .nonceReplayed = $0 { return true } else { return false } })
        // Of two contents for kiosk-c1's sequence 7, exactly one is stored.
        let sequenceSeven = answers.filter { $0.1 == "kiosk-c1" && $0.2 == 7 }.map(\.3)
        #expect(sequenceSeven.filter(isStored).count == 1)
        #expect(sequenceSeven.contains { if case .sequenceConflict = $0 { return true } else { return false } })
        // One event in two batches: stored once.
        let duplicates = [try answer(duplicateA), try answer(duplicateB)]
        #expect(duplicates.filter(isStored).count == 1)
        #expect(duplicates.contains { if case .duplicateEvent = $0 { return true } else { return false } })

        // Everything answered stored is there, after a restart too.
        let storedOutcomes = answers.filter { isStored($0.3) }.reduce(0) { total, entry in
            total + (batches.first { $0.batchID == entry.0 }?.batch.outcomes.count ?? 0)
        }
        // 200 batches of 3, one of each trap pair (+1, +1), and kiosk-c1's sequence 7 either as
        // first sent (3 outcomes) or as the conflicting content (1).
        #expect([602, 600].contains(storedOutcomes), "\(storedOutcomes)")
        let reopened = try await reopen()
        let stats = try await reopened.outcomeStats()
        #expect(stats.totalEvents == storedOutcomes)
        // A refused batch leaves nothing behind, not even its batch row.
        #expect(stats.totalBatches == answers.filter { isStored($0.3) }.count)
    }

    @Test("one event in batches of two kiosks at once, 40 times over: each time one is stored and the other refused as a duplicate",
          arguments: StoreBackEnd.available)
    func sharedEventsRace(backEnd: StoreBackEnd) async throws {
        let (store, _, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let devices = ["kiosk-r0", "kiosk-r1"]
        for device in devices { try await Contract.enrolled(store, device) }
        // The kiosks take different device locks, so on PostgreSQL both transactions can find
        // the event not yet stored and insert it; the later one must still answer, not fail.
        let pairs = (1...40).map { sequence in
            let shared = Contract.outcome()
            return devices.map { Contract.incoming($0, sequence: Int64(sequence), outcomes: [shared]) }
        }
        let answers = try await withThrowingTaskGroup(of: (Int64, BatchStoreResult).self) { group in
            for incoming in pairs.joined() {
                group.addTask { (incoming.batch.sequence, try await store.storeBatch(incoming)) }
            }
            return try await group.reduce(into: [Int64: [BatchStoreResult]]()) { $0[$1.0, default: []].append($1.1) }
        }
        for (sequence, pair) in answers.sorted(by: { $0.key < $1.key }) {
            #expect(pair.filter { if case .stored = $0 { true } else { false } }.count == 1, "sequence \(sequence): \(pair)")
            #expect(pair.filter { if case .duplicateEvent = $0 { true } else { false } }.count == 1, "sequence \(sequence): \(pair)")
        }
        #expect(try await store.outcomeStats().totalEvents == 40)
    }

    @Test("batches in flight with withdrawals, limits and lifts among them: live statistics and counters equal those rebuilt from the stored outcomes",
          arguments: StoreBackEnd.available)
    func statisticsInFlight(backEnd: StoreBackEnd) async throws {
        let (store, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let devices = (0..<4).map { "kiosk-s\($0)" }
        let subjects = (0..<10).map { String(format: "%064x", 0xC0FFEE_00 + $0) }
        for device in devices {
            try await Contract.enrolled(store, device)
            let grants = subjects.map { Contract.consent(.grant, pseudonym: $0) }
            #expect(try await store.storeBatch(Contract.incoming(device, sequence: 1, outcomes: [], consentEvents: grants)) != .nonceReplayed)
        }
        var index = 0
        func outcome(_ subject: String) -> MatchOutcome {
            index += 1
            var outcome = Contract.outcome(label: index % 3 == 0 ? .impostor : .genuine, site: index % 2 == 0 ? "s1" : "s2")
            outcome.subject = .init(pseudonym: subject, consentRef: "c")
            outcome.score = Double(index % 97) / 97
            outcome.attemptedAt = Contract.now.addingTimeInterval(Double(index % 5) * 86_400)
            return outcome
        }
        var batches: [IncomingBatch] = []
        for device in devices {
            for sequence in 2...30 {
                var events: [ConsentEvent] = []
                if device == "kiosk-s1", sequence % 10 == 0 {
                    events.append(Contract.consent(.withdraw, pseudonym: subjects[sequence / 10], at: Contract.now.addingTimeInterval(10)))
                }
                // Limits and grants dated after every attempt: they restrict and lift (in whatever
                // order the batches commit) without refusing any outcome.
                let later = Contract.now.addingTimeInterval(10 * 86_400 + Double(sequence) * 60)
                if device == "kiosk-s2", sequence % 4 == 0 { events.append(Contract.consent(.limit, pseudonym: subjects[sequence % 10], at: later)) }
                if device == "kiosk-s3", sequence % 4 == 1 {
                    events.append(Contract.consent(.grant, pseudonym: subjects[(sequence + 3) % 10], at: later.addingTimeInterval(30)))
                }
                batches.append(Contract.incoming(device, sequence: Int64(sequence), outcomes: (0..<4).map { outcome(subjects[($0 + sequence) % 10]) },
                                                 consentEvents: events))
            }
        }
        // Batches refused whole, whose statistics must not count: a replayed nonce and an event stored twice.
        let shared = outcome(subjects[7])
        batches += [Contract.incoming("kiosk-s0", sequence: 31, outcomes: [outcome(subjects[8])], nonce: "twice", consentEvents: []),
                    Contract.incoming("kiosk-s0", sequence: 32, outcomes: [outcome(subjects[9])], nonce: "twice", consentEvents: []),
                    Contract.incoming("kiosk-s2", sequence: 31, outcomes: [shared], consentEvents: []),
                    Contract.incoming("kiosk-s3", sequence: 31, outcomes: [shared], consentEvents: [])]

        let answers = try await withThrowingTaskGroup(of: BatchStoreResult.self) { group in
            for incoming in batches.shuffled() { group.addTask { try await store.storeBatch(incoming) } }
            return try await group.reduce(into: [BatchStoreResult]()) { $0.append($1) }
        }
        #expect(answers.filter { if case .stored = $0 { return true } else { return false } }.count == batches.count - 2)

        for current in [store, try await reopen()] {
            let outcomes = try await current.calibrationOutcomes(from: nil, to: nil)
            #expect(try await current.outcomeStats().totalEvents > 300, "most outcomes are stored")
            // Those of subjects a limit holds are left out of calibration.
            #expect(outcomes.count > 100, "outcomes counted in the statistics: \(outcomes.count)")
            let live = try await current.scoreStatistics(firstDay: nil, lastDay: nil)
            #expect(live == (try ScoreStatisticsRebuild.window(ScoreStatisticsRebuild.daily(outcomes), firstDay: nil, lastDay: nil)))
            #expect(try await current.outcomeStats() == (try await LiveStatisticsPropertyTests.scannedOutcomeStats(current)))
        }
    }
}
