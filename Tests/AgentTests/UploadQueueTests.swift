import FeedbackWire
import Foundation
import GRDB
import TestSupport
import Testing
@testable import Agent

@Suite("The kiosk's upload queue")
struct UploadQueueTests {
    static func directory() throws -> String {
        let path = try temporaryDirectory("agent")
        return path
    }

    static func outcome() -> MatchOutcome {
        SampleBatch.outcome(label: .impostor, score: 0.25, decision: .reject, modelVersion: "m1", thresholdVersion: "t1",
                            cohort: .init(site: "s1", cameraModel: "c1"), subject: .init(pseudonym: String(repeating: "e", count: 64), consentRef: "c"))
    }

    @Test("the queue's writer commits with synchronous=FULL (GRDB's pool would leave NORMAL)")
    func writerSyncsEveryCommit() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let queue = try UploadQueue(path: (directory as NSString).appendingPathComponent("queue.sqlite"))
        let level = try queue.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(level == 2, "2 is FULL, 1 NORMAL")
    }

    @Test("sealing splits into batches with consecutive sequences that survive reopening")
    func sealing() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = (dir as NSString).appendingPathComponent("queue.sqlite")
        let recorded = (0..<250).map { _ in Self.outcome() }
        do {
            let queue = try UploadQueue(path: path)
            try queue.record(recorded, at: Date())
            #expect(try queue.seal(deviceID: "kiosk-1", batchSize: 100, at: Date()) == 3)
        }
        let reopened = try UploadQueue(path: path)
        let batches = try reopened.sealedBatches()
        #expect(batches.map(\.sequence) == [1, 2, 3])
        #expect(batches.map(\.eventCount) == [100, 100, 50])
        let decoded = try batches.flatMap { try OutcomeBatchValidator.shared.decode($0.body).get().outcomes }
        #expect(decoded == recorded, "every outcome in exactly one batch, in order")
        try reopened.record([Self.outcome()], at: Date())
        #expect(try reopened.seal(deviceID: "kiosk-1", batchSize: 100, at: Date()) == 1)
        #expect(try reopened.status().nextSequence == 5)
    }

    @Test("each sealed batch reports how many recorded outcomes wait behind it")
    func backlogReport() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let queue = try UploadQueue(path: (dir as NSString).appendingPathComponent("queue.sqlite"))
        try queue.record((0..<25).map { _ in Self.outcome() }, at: Date())
        try queue.seal(deviceID: "kiosk-1", batchSize: 10, at: Date())
        try queue.record((0..<4).map { _ in Self.outcome() }, at: Date())
        try queue.seal(deviceID: "kiosk-1", batchSize: 10, at: Date())
        let backlogs = try queue.sealedBatches().map { try OutcomeBatchValidator.shared.decode($0.body).get().queueBacklog }
        // 25 sealed as 10 + 10 + 5 with 15, 5 and 0 behind them; then 4 more with none behind.
        #expect(backlogs == [15, 5, 0, 0])
    }

    @Test("only the acknowledged batch leaves the queue; a refused one is set aside")
    func acknowledgement() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let queue = try UploadQueue(path: (dir as NSString).appendingPathComponent("queue.sqlite"))
        try queue.record((0..<30).map { _ in Self.outcome() }, at: Date())
        try queue.seal(deviceID: "kiosk-1", batchSize: 10, at: Date())
        let receipt = BatchReceipt(batchID: UUID(), deviceID: "kiosk-1", sequence: 2, contentDigest: "x", acceptedEvents: 10, storedAt: Date())
        try queue.acknowledge(sequence: 2, receipt: receipt, at: Date())
        try queue.setAside(sequence: 3, problem: "schema-violation", at: Date())
        #expect(try queue.sealedBatches().map(\.sequence) == [1])
        let status = try queue.status()
        #expect(status.acknowledgedOutcomes == 10 && status.rejectedBatches == 1 && status.sealedOutcomes == 10)
    }

    @Test("a sealed batch keeps when each withdrawal in it was recorded, across reopening; later batches carry none")
    func withdrawalRecordingTimes() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = (dir as NSString).appendingPathComponent("queue.sqlite")
        func consent(_ kind: ConsentEvent.Kind) -> ConsentEvent {
            ConsentEvent(eventID: UUID(), occurredAt: Date(timeIntervalSince1970: 1_800_000_000), pseudonym: String(repeating: "e", count: 64),
                         purpose: "threshold-calibration", kind: kind, method: .touch, site: "s1", textVersion: "v1",
                         textSHA256: String(repeating: "a", count: 64))
        }
        let grant = consent(.grant), withdrawal = consent(.withdraw)
        let grantRecorded = Date(timeIntervalSince1970: 1_800_000_100), withdrawalRecorded = Date(timeIntervalSince1970: 1_800_000_200.25)
        do {
            let queue = try UploadQueue(path: path)
            try queue.recordConsent([grant], at: grantRecorded)
            try queue.recordConsent([withdrawal], at: withdrawalRecorded)
            try queue.record([Self.outcome()], at: withdrawalRecorded)
            try queue.seal(deviceID: "kiosk-1", batchSize: 10, at: Date())
        }
        let queue = try UploadQueue(path: path)
        let sealed = try #require(try queue.sealedBatches().first)
        #expect(sealed.withdrawals == [UploadQueue.QueuedWithdrawal(eventID: withdrawal.eventID.uuidString.lowercased(),
                                                                     recordedAt: withdrawalRecorded)],
                "the withdrawal with its recording time; not the grant")
        let receipt = BatchReceipt(batchID: UUID(), deviceID: "kiosk-1", sequence: sealed.sequence, contentDigest: "x", acceptedEvents: 1,
                                   storedAt: Date())
        try queue.acknowledge(sequence: sealed.sequence, receipt: receipt, at: Date())
        try queue.record([Self.outcome()], at: Date())
        try queue.seal(deviceID: "kiosk-1", batchSize: 10, at: Date())
        #expect(try queue.sealedBatches().map(\.withdrawals) == [[]])
    }

    @Test("the same event cannot be queued twice")
    func duplicateEvent() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let queue = try UploadQueue(path: (dir as NSString).appendingPathComponent("queue.sqlite"))
        let outcome = Self.outcome()
        try queue.record([outcome], at: Date())
        #expect(throws: AgentError.self) { try queue.record([outcome], at: Date()) }
        #expect(try queue.status().pendingOutcomes == 1)
    }

    @Test("recording validates against the schema and fills event id and time")
    func recordValidation() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let agent = KioskAgent(files: AgentFiles(directory: dir))
        guard case var .object(members) = Self.outcome().json else { return }
        members.removeAll { $0.key == "event_id" || $0.key == "attempted_at" }
        let recorded = try agent.record([.object(members)])
        #expect(recorded.count == 1)
        members.append(("image", .string("/9j/4AAQSkZJRg")))
        #expect(throws: AgentError.self) { try agent.record([.object(members)]) }
        #expect(try agent.openQueue().status().pendingOutcomes == 1)
    }

    @Test("an upload to an unreachable server keeps every batch and says why")
    func unreachable() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = AgentFiles(directory: dir)
        let agent = KioskAgent(files: files, connectTimeout: .milliseconds(300))
        // Enrolled state written by hand: a CA and client identity that no server will see.
        let keys = DeviceIdentityFixture.make()
        try files.write(Data(keys.caPEM.utf8), to: files.caCertificate, mode: 0o600)
        try files.write(Data(keys.certificatePEM.utf8), to: files.certificate, mode: 0o600)
        try files.write(Data(keys.tlsKeyPEM.utf8), to: files.tlsKey, mode: 0o600)
        try files.write(Data((keys.signingKey + "\n").utf8), to: files.signingKey, mode: 0o600)
        try files.write(try WireJSON.encoder().encode(AgentSettings(serverURL: "https://127.0.0.1:1", deviceID: "kiosk-1", enrolledAt: Date())),
                        to: files.settings, mode: 0o600)
        try agent.openQueue().record((0..<5).map { _ in Self.outcome() }, at: Date())
        let report = try await agent.upload(batchSize: 2, retry: .init(maximumAttempts: 2, initialDelay: .milliseconds(1)))
        #expect(report.batchesAcknowledged == 0)
        #expect(report.retries == 1)
        #expect(report.remainingBatches == 3)
        #expect(report.error?.contains("gave up after 2 attempts") == true)
        #expect(try agent.openQueue().status().sealedOutcomes == 5)
    }

    @Test("backoff delays stay within the exponential cap")
    func backoff() {
        let policy = KioskAgent.RetryPolicy(maximumAttempts: 10, initialDelay: .milliseconds(100), maximumDelay: .seconds(2))
        for attempt in 0..<10 {
            let cap = min(Duration.seconds(2), Duration.milliseconds(100) * (1 << attempt))
            for _ in 0..<20 { #expect(policy.delay(afterAttempt: attempt) <= cap) }
        }
    }
}
