#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A child process started with `posix_spawn` and reaped with `waitpid` on its own PID.
///
/// The tests do not use Foundation's `Process`: on Linux its `waitUntilExit` was seen to return
/// (with status 0) before the child had written its output, which made end-to-end tests read
/// empty standard output under load. Here the standard streams are files opened by the spawn
/// itself, and the exit status comes straight from the kernel.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?

    public enum SpawnError: Error, CustomStringConvertible {
        case failed(executable: String, errno: Int32)
        public var description: String {
            switch self {
            case .failed(let executable, let code): "cannot start \(executable): \(String(cString: strerror(code)))"
            }
        }
    }

    /// Starts `executable` with standard input, output and error opened from the given paths
    /// (output files are created or truncated). `environment` is added to this process's own.
    public init(executable: String, arguments: [String], environment: [String: String] = [:],
                standardInput: String = "/dev/null", standardOutput: String = "/dev/null", standardError: String = "/dev/null") throws {
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }

        #if canImport(Glibc)
        var actions = posix_spawn_file_actions_t()
        #else
        var actions: posix_spawn_file_actions_t?
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, standardInput, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw SpawnError.failed(executable: executable, errno: result) }
        pid = child
    }

    /// Reaps the child if it has ended, without blocking.
    private func poll() -> Int32? {
        lock.withLock {
            if let exitStatus { return exitStatus }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            guard reaped == pid else { return nil }
            let signal = status & 0x7f
            exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            return exitStatus
        }
    }

    public var isRunning: Bool { poll() == nil }

    /// Waits for the child to end; the exit code, or 128 + the signal that ended it.
    @discardableResult
    public func wait() -> Int32 {
        while true {
            if let status = poll() { return status }
            usleep(5_000)
        }
    }

    /// Sends `signal` unless the child has already been reaped (its PID could then be reused).
    public func send(_ signal: Int32) {
        lock.withLock {
            if exitStatus == nil { _ = kill(pid, signal) }
        }
    }
}
