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
/// as durable as before.
final class SQLiteGroupCommit: Sendable {
    typealias Outcome = Result<BatchStoreResult, any Error>

    private struct Waiting {
        var incoming: IncomingBatch
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
    private let store: @Sendable (IncomingBatch, Database) throws -> BatchStoreResult

    init(pool: DatabasePool, store: @escaping @Sendable (IncomingBatch, Database) throws -> BatchStoreResult) {
        self.pool = pool
        self.store = store
    }

    func submit(_ incoming: IncomingBatch) async throws -> BatchStoreResult {
        try await withCheckedThrowingContinuation { continuation in
            let lead = state.withLock { state in
                state.waiting.append(Waiting(incoming: incoming, continuation: continuation))
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
                    group.map { waiting in
                        var outcome: Outcome = .failure(CancellationError())
                        do {
                            try db.inSavepoint {
                                do {
                                    outcome = .success(try self.store(waiting.incoming, db))
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
                        }
                        return outcome
                    }
                }
            } catch {
                // The commit itself failed: nothing of the group is stored.
                for waiting in group { waiting.continuation.resume(throwing: error) }
                continue
            }
            for (waiting, outcome) in zip(group, outcomes) { waiting.continuation.resume(with: outcome) }
        }
    }
}
