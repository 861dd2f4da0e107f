#if os(Linux)
import Glibc
#endif

/// Runs work of SQLite's one writer at a higher scheduling priority than the threads that
/// handle requests. Over mutual TLS those threads (TLS, signatures, the schema check, preparing
/// batches) keep both cores nearly busy, and every batch waits for the writer: when it had to
/// share a core with them it fell behind, and the cores went idle while the requests waited
/// for its commit. With the writer at nice -10 the ingest bench over mutual TLS stored about a
/// tenth more (docs/benchmarks.md). Linux only, where nice belongs to a thread; raising it
/// needs `CAP_SYS_NICE` or a `RLIMIT_NICE` that allows it (docs/operations.md). Without either
/// the writer runs as it was, and `isAvailable` says so.
enum WriterPriority {
    /// The nice value the writer runs at (0 is the default, -20 the highest priority).
    static let niceness: Int32 = -10

    /// Whether this process may raise a thread to `niceness`: tried on the calling thread,
    /// which is left as it was.
    static var isAvailable: Bool {
        run { raised in raised }
    }

    /// `body`, run on the calling thread at `niceness` when this process may raise it (`body`
    /// is told whether it was), at the thread's own priority otherwise. The thread gets its
    /// priority back afterwards: it is a pool thread that goes on to run other work.
    static func run<T>(_ body: (_ raised: Bool) throws -> T) rethrows -> T {
        #if os(Linux)
        // Linux applies PRIO_PROCESS with id 0 to the calling thread alone.
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        errno = 0
        let before = getpriority(which, 0)
        if errno == 0, setpriority(which, 0, niceness) == 0 {
            // Lowering a thread's priority again needs no privilege.
            defer { _ = setpriority(which, 0, before) }
            return try body(true)
        }
        #endif
        return try body(false)
    }
}
