import Foundation
import GRDB
import Synchronization

/// Copies the write-ahead log into the database file on a connection of its own, so that the
/// writer does not. By default SQLite checkpoints on the committing connection once the log
/// passes 1,000 pages, and the writer, which decides the rate of intake, stopped for every copy;
/// with automatic checkpoints off on the writer, the store alone took about a quarter more
/// batches (benchmarks.md). After each group commit `nudge()` starts a passive checkpoint
/// unless one is running: it copies what no reader still needs and never waits for a lock, and
/// the writer starts the log over once everything in it has been copied. The writer keeps an
/// automatic checkpoint at `writerBackstopPages`, for logs that other writes grow while no
/// batch arrives, or that grow faster than this connection copies.
final class SQLiteCheckpointer: Sendable {
    /// 32 MiB of 4 KiB pages.
    static let writerBackstopPages = 8_192

    private let connection: DatabaseQueue
    private let running = Mutex(false)

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .immediateError
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Whether a checkpoint started by `nudge()` is still copying.
    var isRunning: Bool { running.withLock { $0 } }

    /// Runs `body` with no checkpoint of this connection running or starting meanwhile: SQLite
    /// refuses a second checkpoint at once (`SQLITE_BUSY`) instead of waiting for the first.
    func paused<Value: Sendable>(_ body: () async throws -> Value) async throws -> Value {
        while !claim() { try await Task.sleep(for: .milliseconds(1)) }
        defer { running.withLock { $0 = false } }
        return try await body()
    }

    /// Starts a checkpoint in the background unless one runs already.
    func nudge() {
        guard claim() else { return }
        Task.detached(priority: .utility) { [self] in
            // A busy checkpointer lock (a truncating checkpoint of the writer) only means the
            // next commit starts another.
            _ = try? await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            running.withLock { $0 = false }
        }
    }

    /// Marks a checkpoint as running, unless one already is.
    private func claim() -> Bool {
        running.withLock { running in
            if running { return false }
            running = true
            return true
        }
    }
}
