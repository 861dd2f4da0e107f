import Foundation
import GRDB
import Synchronization

/// Copies the write-ahead log into the database file on a connection of its own, so that the
/// writer does not. By default SQLite checkpoints on the committing connection once the log
/// passes 1,000 pages, and the writer, which decides the rate of intake, stopped for every copy;
/// with automatic checkpoints off on the writer, the store alone took about a quarter more
/// batches (benchmarks.md). After a group commit `nudge()` starts a passive checkpoint: it
/// copies what no reader still needs and never waits for a lock, and the writer starts the log
/// over once everything in it has been copied. At most one starts per `interval`; a commit
/// inside it is left to one started when the interval ends, which copies every commit made
/// until then. A checkpoint after every group syncs the log and the file each time, and the
/// pages written again by the next groups (index pages, counters) were copied again each time:
/// at about fifty groups a second that cost uploads a tenth of their rate and delayed the
/// log's own syncs, which every answer waits for (benchmarks.md). The writer keeps an automatic
/// checkpoint at `writerBackstopPages`, for logs that other writes grow while no batch arrives,
/// or that grow faster than this connection copies.
final class SQLiteCheckpointer: Sendable {
    /// 32 MiB of 4 KiB pages.
    static let writerBackstopPages = 8_192
    /// The least time between the starts of two checkpoints of `nudge()`.
    static let interval = Duration.milliseconds(100)

    private struct State {
        var running = false
        /// A checkpoint is to start once `interval` has passed since the last one started.
        var scheduled = false
        var lastStart: ContinuousClock.Instant?
    }

    private let connection: DatabaseQueue
    private let state = Mutex(State())
    private let interval: Duration
    /// Checkpoints `nudge()` has finished.
    let completed = Atomic<Int>(0)

    init(path: String, interval: Duration = SQLiteCheckpointer.interval) throws {
        var configuration = Configuration()
        configuration.busyMode = .immediateError
        connection = try DatabaseQueue(path: path, configuration: configuration)
        self.interval = interval
    }

    /// Whether a checkpoint of `nudge()` is copying or waiting to start.
    var isRunning: Bool { state.withLock { $0.running || $0.scheduled } }

    /// Runs `body` with no checkpoint of this connection running or starting meanwhile: SQLite
    /// refuses a second checkpoint at once (`SQLITE_BUSY`) instead of waiting for the first.
    func paused<Value: Sendable>(_ body: () async throws -> Value) async throws -> Value {
        while !claim() { try await Task.sleep(for: .milliseconds(1)) }
        defer { state.withLock { $0.running = false } }
        return try await body()
    }

    /// Starts a checkpoint in the background, or has one start when the interval ends.
    func nudge() {
        let now = ContinuousClock.now
        // true: start now; false: start later; nil: one is to start later already.
        let startsNow: Bool? = state.withLock { state in
            if state.scheduled { return nil }
            if !state.running, state.lastStart.map({ now - $0 >= interval }) ?? true {
                state.running = true
                state.lastStart = now
                return true
            }
            state.scheduled = true
            return false
        }
        switch startsNow {
        case true?: Task.detached(priority: .utility) { [self] in await copy() }
        case false?: Task.detached(priority: .utility) { [self] in await copyWhenDue() }
        case nil: break
        }
    }

    /// The checkpoint a nudge put off: started once the interval since the last start has
    /// passed and no checkpoint runs (`paused` may hold one off for a while).
    private func copyWhenDue() async {
        while true {
            let now = ContinuousClock.now
            let wait: Duration? = state.withLock { state in
                if state.running { return interval }
                if let last = state.lastStart, now - last < interval { return interval - (now - last) }
                state.scheduled = false
                state.running = true
                state.lastStart = now
                return nil
            }
            guard let wait else { break }
            try? await Task.sleep(for: wait)
        }
        await copy()
    }

    private func copy() async {
        // A busy checkpointer lock (a truncating checkpoint of the writer) only means the next
        // commit starts another.
        _ = try? await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        completed.add(1, ordering: .relaxed)
        state.withLock { $0.running = false }
    }

    /// Marks a checkpoint as running, unless one already is.
    private func claim() -> Bool {
        state.withLock { state in
            if state.running { return false }
            state.running = true
            return true
        }
    }
}
