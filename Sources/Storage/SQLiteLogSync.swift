import Foundation
import Synchronization

import Glibc

/// Makes SQLite's write-ahead log durable off the writer, for group commits (`SQLiteGroupCommit`).
///
/// With `synchronous=FULL` the writer waited for each commit's fsync of the log (3–8 ms here),
/// about a quarter of its time under load, while every upload waited for the writer. A group now
/// commits with `synchronous=NORMAL` (SQLite writes the log and does not sync it), hands its
/// answers here and starts the next group at once. This syncs the log on a thread of its own and
/// answers every group that committed before the sync began: the acknowledgement still comes
/// only once the batch is on disk, and the syncs of groups that commit meanwhile are taken
/// together.
///
/// A sync of the log covers every frame written before it: a checkpoint that copies frames into
/// the database file syncs that file before the log can start over (SQLite does so at every
/// level of `synchronous`), and writes outside group commits keep `synchronous=FULL`. Readers
/// may see a group's rows for the few milliseconds before its sync; a power cut then takes them
/// back, as it does any transaction not yet acknowledged.
final class SQLiteLogSync: Sendable {
    typealias Answer = @Sendable (Result<Void, any Error>) -> Void

    /// The log could not be synced: the groups waiting are answered with this, not acknowledged.
    struct Failed: Error, CustomStringConvertible {
        var path: String
        var code: Int32
        var description: String { "syncing \(path) failed: \(String(cString: strerror(code)))" }
    }

    private struct Waiting {
        var answers: [Answer] = []
        var syncing = false
    }

    /// The log's descriptor and the file it was opened on: a log deleted and made again (the
    /// last connection closed, another process opened the file) is opened again.
    private struct OpenLog {
        var descriptor: Int32
        var device: UInt64
        var inode: UInt64
    }

    private let databasePath: String
    private let logPath: String
    private let waiting = Mutex(Waiting())
    private let log = Mutex<OpenLog?>(nil)
    private let queue = DispatchQueue(label: "faceloop.sqlite-log-sync")
    private let replacedSync: (@Sendable () throws -> Void)?

    /// The paths as SQLite resolved them (symbolic links followed): `sqlite3_db_filename` and
    /// `sqlite3_filename_wal` of the writer.
    /// `sync` stands in for the fsync in tests (to hold it back, or fail it).
    init(databasePath: String, logPath: String, sync: (@Sendable () throws -> Void)? = nil) {
        self.databasePath = databasePath
        self.logPath = logPath
        replacedSync = sync
    }

    deinit {
        log.withLock { log in
            if let log { close(log.descriptor) }
        }
    }

    /// Calls `answer` once everything committed before this call is on disk, or with `Failed`.
    func afterSync(_ answer: @escaping Answer) {
        let starts = waiting.withLock { waiting in
            waiting.answers.append(answer)
            if waiting.syncing { return false }
            waiting.syncing = true
            return true
        }
        if starts { queue.async { self.syncWhileWaiting() } }
    }

    private func syncWhileWaiting() {
        while true {
            let answers = waiting.withLock { waiting in
                let answers = waiting.answers
                waiting.answers = []
                if answers.isEmpty { waiting.syncing = false }
                return answers
            }
            if answers.isEmpty { return }
            // Taken before the sync starts: each of these committed before it.
            let result = Result { try replacedSync?() ?? syncLog() }
            for answer in answers { answer(result) }
        }
    }

    private func syncLog() throws {
        try log.withLock { open in
            var status = stat()
            guard stat(logPath, &status) == 0 else {
                guard errno == ENOENT else { throw Failed(path: logPath, code: errno) }
                // No log: SQLite copied it into the file and removed it, having synced the file.
                try Self.sync(path: databasePath)
                return
            }
            if let current = open, current.device != UInt64(status.st_dev) || current.inode != UInt64(status.st_ino) {
                close(current.descriptor)
                open = nil
            }
            if open == nil {
                let descriptor = Glibc.open(logPath, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw Failed(path: logPath, code: errno) }
                open = OpenLog(descriptor: descriptor, device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
            }
            guard let descriptor = open?.descriptor, fdatasync(descriptor) == 0 else { throw Failed(path: logPath, code: errno) }
        }
    }

    private static func sync(path: String) throws {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failed(path: path, code: errno) }
        defer { close(descriptor) }
        guard fdatasync(descriptor) == 0 else { throw Failed(path: path, code: errno) }
    }
}
