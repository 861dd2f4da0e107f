import FeedbackWire
import Foundation
import GRDB
import Synchronization

/// Group commit for SQLite batch intake. Every durable commit waits for one fsync of the log
/// (3–8 ms here), so one batch per commit caps intake near 250 batches/s however many kiosks
/// wait. Batches that arrive while a group is being stored are stored together in the next
/// transaction instead, and answered exactly as if they had committed one by one: one batch's
/// refusal (a replayed nonce, a sequence conflict) or error leaves nothing of that batch, and
/// later batches see earlier ones. A group commits without waiting for the fsync, and the next
/// group starts while `SQLiteLogSync` syncs the log on its own thread; no caller is answered
/// before a sync that began after the commit holding its batch has returned, so an
/// acknowledged batch is on disk. The score statistics of the kept batches are written once
/// per group, just before the commit (and before any batch that withdraws or limits a
/// consent, which may take what earlier ones stored out of them); if that write fails, the
/// whole group fails, as a failed commit does.
///
/// Batches go without a savepoint of their own: SQLite copies every page a savepoint changes
/// into a sub-journal file first, three quarters of the writer's page writes. A batch refused
/// before it wrote a row (a replayed nonce) has nothing to undo; one that fails after (a
/// conflicting sequence, a stored outcome or consent event, all rare) rolls the group's
/// transaction back, and the group is stored again with a savepoint for every batch, which
/// that batch's refusal rolls back. Batches with consent events go the same way: in a
/// savepoint each took about twice the writer's time of one without, and every kiosk's first
/// batch carries a grant for each of its subjects.
final class SQLiteGroupCommit: Sendable {
    typealias Outcome = Result<BatchStoreResult, any Error>

    private struct Waiting {
        var batch: PreparedBatch
        var continuation: CheckedContinuation<BatchStoreResult, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var committing = false
        /// Batches submitted and not yet answered: waiting, being stored, or waiting for a sync.
        var unanswered = 0
    }

    /// The most batches one commit takes: bounds the transaction and the wait of the last one.
    static let largestGroup = 64

    /// A group takes at most half the batches not yet answered, so that while one group waits
    /// for its sync the writer has the next to store. Taking all that waited left the writer
    /// idle through each sync, every upload being in the group just committed: with 64 uploads
    /// in flight the store alone took about a sixth fewer batches (docs/benchmarks.md).
    static func groupSize(waiting: Int, unanswered: Int) -> Int {
        min(waiting, largestGroup, max(1, unanswered / 2))
    }

    private let state = Mutex(State())
    /// Groups stored a second time, with a savepoint for each batch.
    let redoneGroups = Atomic<Int>(0)
    /// Groups whose transaction ran at `WriterPriority.niceness`.
    let raisedGroups = Atomic<Int>(0)
    private let pool: DatabasePool
    /// Stores one batch and adds what it changes in the score statistics to the delta.
    private let store: @Sendable (PreparedBatch, inout StatisticsDelta, Database) throws -> BatchStoreResult
    /// Writes a delta into the statistics rows.
    private let flush: @Sendable (StatisticsDelta, Database) throws -> Void
    /// After each commit (`SQLiteCheckpointer.nudge`).
    private let committed: @Sendable () -> Void
    /// Answers each group once its commit is on disk.
    let logSync: SQLiteLogSync

    init(pool: DatabasePool, logSync: SQLiteLogSync,
         store: @escaping @Sendable (PreparedBatch, inout StatisticsDelta, Database) throws -> BatchStoreResult,
         flush: @escaping @Sendable (StatisticsDelta, Database) throws -> Void, committed: @escaping @Sendable () -> Void = {}) {
        self.pool = pool
        self.logSync = logSync
        self.store = store
        self.flush = flush
        self.committed = committed
    }

    func submit(_ batch: PreparedBatch) async throws -> BatchStoreResult {
        try await withCheckedThrowingContinuation { continuation in
            let lead = state.withLock { state in
                state.waiting.append(Waiting(batch: batch, continuation: continuation))
                state.unanswered += 1
                if state.committing { return false }
                state.committing = true
                return true
            }
            if lead { Task { await self.commitWhileWaiting() } }
        }
    }

    /// Commits groups until nobody waits; one such loop runs at a time.
    private func commitWhileWaiting() async {
        while true {
            let group: [Waiting] = state.withLock { state in
                let taken = Array(state.waiting.prefix(Self.groupSize(waiting: state.waiting.count, unanswered: state.unanswered)))
                state.waiting.removeFirst(taken.count)
                if taken.isEmpty { state.committing = false }
                return taken
            }
            if group.isEmpty { return }
            let outcomes: [Outcome]
            do {
                do {
                    outcomes = try await write { db in try self.store(group, savepointEach: false, in: db) }
                } catch is SavepointsNeeded {
                    redoneGroups.add(1, ordering: .relaxed)
                    outcomes = try await write { db in try self.store(group, savepointEach: true, in: db) }
                }
            } catch {
                // The commit itself failed: nothing of the group is stored.
                state.withLock { $0.unanswered -= group.count }
                for waiting in group { waiting.continuation.resume(throwing: error) }
                continue
            }
            committed()
            logSync.afterSync { synced in
                self.state.withLock { $0.unanswered -= group.count }
                for (waiting, outcome) in zip(group, outcomes) {
                    switch synced {
                    case .success: waiting.continuation.resume(with: outcome)
                    // Committed but not known to be on disk: not acknowledged. A retry finds the
                    // batch stored and gets its receipt.
                    case let .failure(error): waiting.continuation.resume(throwing: error)
                    }
                }
            }
        }
    }

    /// `pool.write`, with the transaction and its commit run at `WriterPriority`, and committed
    /// without a sync of the log (`logSync` makes it durable before anyone is answered). Every
    /// other write of the connection keeps `synchronous=FULL`.
    private func write<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.writeWithoutTransaction { db in
            try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
            let written = Result { try WriterPriority.run { raised in
                if raised { raisedGroups.add(1, ordering: .relaxed) }
                var result: T?
                try db.inTransaction {
                    result = try updates(db)
                    return .commit
                }
                guard let result else { throw DatabaseError(resultCode: .SQLITE_INTERNAL, message: "no result from a committed group") }
                return result
            } }
            // Restored before anything else runs on the connection; should it fail, the group
            // is not acknowledged.
            try db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute()
            return try written.get()
        }
    }

    /// Thrown out of a group's transaction, which rolls it back, when a batch stored without a
    /// savepoint failed after it had written.
    private struct SavepointsNeeded: Error {}

    /// Stores the group's batches in order and writes their statistics; the caller commits.
    private func store(_ group: [Waiting], savepointEach: Bool, in db: Database) throws -> [Outcome] {
        // The batches' statistics are written once, before the commit: the same rows (a
        // cohort's day and month) were read, merged and written again for every batch. Only
        // the statistics of batches that were kept are taken in.
        var statistics = StatisticsDelta()
        let outcomes = try group.map { waiting in
            let consentEvents = waiting.batch.incoming.batch.consentEvents
            // A withdrawal erases and a limit takes outcomes out of the statistics, among them
            // those earlier batches of the group stored, so those batches' statistics go into
            // the rows first. Grants and re-consents only put back the stored outcomes of a
            // subject whose limit they lift, which no batch counted while the limit held (a
            // kiosk's first batch, with a grant per subject, would otherwise flush the group).
            if consentEvents.contains(where: { $0.kind == .withdraw || $0.kind == .limit }) || statistics.isLarge {
                try self.flush(statistics, db)
                statistics = StatisticsDelta()
            }
            var added = StatisticsDelta()
            let (outcome, kept) = savepointEach
                ? storeInSavepoint(waiting.batch, &added, db)
                : try storeWithoutSavepoint(waiting.batch, &added, db)
            if kept { statistics.merge(added) }
            return outcome
        }
        try self.flush(statistics, db)
        return outcomes
    }

    private func storeInSavepoint(_ batch: PreparedBatch, _ added: inout StatisticsDelta, _ db: Database) -> (Outcome, kept: Bool) {
        var outcome: Outcome = .failure(CancellationError())
        var kept = false
        do {
            try db.inSavepoint {
                do {
                    outcome = .success(try self.store(batch, &added, db))
                    kept = true
                    return .commit
                } catch let StoreAbort.batch(answer) {
                    outcome = .success(answer)
                    return .rollback
                } catch {
                    outcome = .failure(error)
                    return .rollback
                }
            }
        } catch {
            return (.failure(error), false)
        }
        return (outcome, kept)
    }

    /// A refusal found before the batch wrote a row (a replayed nonce) needs nothing undone;
    /// any later one (a conflicting sequence, an event stored already) or any error needs the
    /// batch's rows undone, which only a savepoint can do: the group is stored again.
    private func storeWithoutSavepoint(_ batch: PreparedBatch, _ added: inout StatisticsDelta, _ db: Database) throws -> (Outcome, kept: Bool) {
        let changesBefore = db.totalChangesCount
        do {
            return (.success(try self.store(batch, &added, db)), true)
        } catch let StoreAbort.batch(answer) where db.totalChangesCount == changesBefore {
            return (.success(answer), false)
        } catch {
            throw SavepointsNeeded()
        }
    }
}
