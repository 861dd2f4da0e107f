import FeedbackWire
import Foundation
import GRDB
import Synchronization

/// Group commit for SQLite batch intake. With `synchronous=FULL` every commit waits for one
/// fsync of the log (3–5 ms here), so one batch per commit caps intake near 250 batches/s
/// however many kiosks wait. Batches that arrive while a commit is on its way are stored
/// together in the next transaction instead, each inside its own savepoint: one batch's
/// refusal (a replayed nonce, a sequence conflict) or error rolls back that batch only, and
/// later batches see earlier ones exactly as if they had committed one by one. No caller is
/// answered before the commit that holds its batch has returned, so an acknowledged batch is
/// as durable as before. The score statistics of the kept batches are written once per group,
/// just before the commit (and before any batch with consent events, which may erase what
/// earlier ones stored); if that write fails, the whole group fails, as a failed commit does.
final class SQLiteGroupCommit: Sendable {
    typealias Outcome = Result<BatchStoreResult, any Error>

    private struct Waiting {
        var batch: PreparedBatch
        var continuation: CheckedContinuation<BatchStoreResult, any Error>
    }

    private struct State {
        var waiting: [Waiting] = []
        var committing = false
    }

    /// The most batches one commit takes: bounds the transaction and the wait of the last one.
    static let largestGroup = 64

    private let state = Mutex(State())
    private let pool: DatabasePool
    /// Stores one batch and adds what it changes in the score statistics to the delta.
    private let store: @Sendable (PreparedBatch, inout StatisticsDelta, Database) throws -> BatchStoreResult
    /// Writes a delta into the statistics rows.
    private let flush: @Sendable (StatisticsDelta, Database) throws -> Void
    /// After each commit (`SQLiteCheckpointer.nudge`).
    private let committed: @Sendable () -> Void

    init(pool: DatabasePool, store: @escaping @Sendable (PreparedBatch, inout StatisticsDelta, Database) throws -> BatchStoreResult,
         flush: @escaping @Sendable (StatisticsDelta, Database) throws -> Void, committed: @escaping @Sendable () -> Void = {}) {
        self.pool = pool
        self.store = store
        self.flush = flush
        self.committed = committed
    }

    func submit(_ batch: PreparedBatch) async throws -> BatchStoreResult {
        try await withCheckedThrowingContinuation { continuation in
            let lead = state.withLock { state in
                state.waiting.append(Waiting(batch: batch, continuation: continuation))
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
                let taken = Array(state.waiting.prefix(Self.largestGroup))
                state.waiting.removeFirst(taken.count)
                if taken.isEmpty { state.committing = false }
                return taken
            }
            if group.isEmpty { return }
            let outcomes: [Outcome]
            do {
                outcomes = try await pool.write { db in
                    // The batches' statistics are written once, before the commit: the same
                    // rows (a cohort's day and month) were read, merged and written again for
                    // every batch. Only the statistics of batches whose savepoint was kept are
                    // taken in.
                    var statistics = StatisticsDelta()
                    let outcomes = try group.map { waiting in
                        // Consent events may erase or recount outcomes that earlier batches of
                        // the group stored, so those batches' statistics go into the rows first.
                        if !waiting.batch.incoming.batch.consentEvents.isEmpty || statistics.isLarge {
                            try self.flush(statistics, db)
                            statistics = StatisticsDelta()
                        }
                        var outcome: Outcome = .failure(CancellationError())
                        var added = StatisticsDelta()
                        var committed = false
                        do {
                            try db.inSavepoint {
                                do {
                                    outcome = .success(try self.store(waiting.batch, &added, db))
                                    committed = true
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
                            outcome = .failure(error)
                            committed = false
                        }
                        if committed { statistics.merge(added) }
                        return outcome
                    }
                    try self.flush(statistics, db)
                    return outcomes
                }
            } catch {
                // The commit itself failed: nothing of the group is stored.
                for waiting in group { waiting.continuation.resume(throwing: error) }
                continue
            }
            committed()
            for (waiting, outcome) in zip(group, outcomes) { waiting.continuation.resume(with: outcome) }
        }
    }
}
