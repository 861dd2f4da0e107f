import Dispatch
import FeedbackWire
import Foundation
import GRDB
@testable import Storage
import Synchronization
import TestSupport
import Testing

/// Group commits return before the log is synced (`SQLiteLogSync`): the answer must still wait
/// for a sync that began after the commit.
@Suite("SQLite's log synced off the writer")
struct LogSyncTests {
    /// A sync that waits until the test lets it go, or fails while `failing` holds.
    final class HeldSync: Sendable {
        let entered = Atomic<Int>(0)
        let failing = Atomic<Bool>(false)
        private let release = DispatchSemaphore(value: 0)
        let holds: Bool

        init(holds: Bool) { self.holds = holds }

        func sync() throws {
            entered.add(1, ordering: .sequentiallyConsistent)
            if holds { release.wait() }
            if failing.load(ordering: .sequentiallyConsistent) { throw SQLiteLogSync.Failed(path: "test", code: EIO) }
        }

        func letGo() { release.signal() }
    }

    static func open(_ sync: HeldSync) throws -> (SQLiteStore, cleanup: () -> Void) {
        let directory = try temporaryDirectory("log-sync")
        let store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"), syncingLog: { try sync.sync() })
        return (store, { try? FileManager.default.removeItem(atPath: directory) })
    }

    @Test("a stored batch is visible before its log is synced, and answered only after")
    func answerWaitsForSync() async throws {
        let sync = HeldSync(holds: true)
        let (store, cleanup) = try Self.open(sync)
        defer { cleanup() }
        try await FeedbackStoreTests.enrolled(store, "kiosk-1")
        let answered = Atomic<Bool>(false)
        let upload = Task {
            let result = try await store.storeBatch(FeedbackStoreTests.incoming("kiosk-1", sequence: 1, outcomes: [FeedbackStoreTests.outcome()]))
            answered.store(true, ordering: .sequentiallyConsistent)
            return result
        }
        // Committed: readers see the outcome while the sync is held.
        var seen = false
        for _ in 0..<3000 where !seen {
            seen = try await store.outcomeStats().totalEvents == 1
            if !seen { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(seen, "the group did not commit")
        // The sync starts on a thread of its own after the commit, which a loaded machine may
        // not have run yet when the reader saw the outcome.
        var syncsEntered = 0
        for _ in 0..<3000 where syncsEntered == 0 {
            syncsEntered = sync.entered.load(ordering: .sequentiallyConsistent)
            if syncsEntered == 0 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(syncsEntered == 1)
        try await Task.sleep(for: .milliseconds(50))
        let answeredEarly = answered.load(ordering: .sequentiallyConsistent)
        #expect(!answeredEarly, "answered before the log was synced")
        sync.letGo()
        guard case .stored = try await upload.value else { Issue.record("not stored"); return }
        // Writes outside group commits still sync at their commit.
        #expect(try await store.pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } == 2)
    }

    @Test("a failed sync acknowledges nothing; a retry of the batch gets its receipt")
    func failedSync() async throws {
        let sync = HeldSync(holds: false)
        let (store, cleanup) = try Self.open(sync)
        defer { cleanup() }
        try await FeedbackStoreTests.enrolled(store, "kiosk-1")
        let batch = FeedbackStoreTests.incoming("kiosk-1", sequence: 1, outcomes: [FeedbackStoreTests.outcome()])
        sync.failing.store(true, ordering: .sequentiallyConsistent)
        await #expect(throws: SQLiteLogSync.Failed.self) { try await store.storeBatch(batch) }
        sync.failing.store(false, ordering: .sequentiallyConsistent)
        var retry = batch
        retry.nonce = UUID().uuidString
        guard case let .alreadyStored(receipt) = try await store.storeBatch(retry) else { Issue.record("the retry was not answered from the stored batch"); return }
        #expect(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(receipt)).acceptedEvents == 1)
    }
}
