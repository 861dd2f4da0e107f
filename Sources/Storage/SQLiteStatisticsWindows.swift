import Calibration
import GRDB
import Synchronization

/// The windows of live statistics this process has read, kept packed and brought up to date
/// with the changes its own commits made since, so that reading a window again costs what
/// arrived (and was erased) since, not the history behind it.
///
/// A whole-history read on 100 M outcomes parses about 80 MB of month rows, and threshold
/// computation, drift and the calibration page each read one to three windows. Every write of
/// the statistics (`SQLiteStore.flush`) takes the next number of `statistics_revision` in its
/// transaction and hands its day rows' changes here; after the commit they are published under
/// that number. A window read learns the store's revision in its snapshot and, when it has the
/// window at an earlier revision and every change in between, applies those changes to the
/// cohorts they touch (`PackedCohortStatistics.applying`) instead of reading rows. Anything
/// else reads the rows: a window not kept, a change missing (another process wrote the file, or
/// a savepoint was rolled back after a write), or more changes waiting than `largestBacklog`.
///
/// Changes are kept only while some window or a read in progress needs them; windows are kept
/// up to `largestWindowCount`, least recently read out first.
final class SQLiteStatisticsWindows: TransactionObserver, Sendable {
    /// One commit's changes to the day rows, under the revision its transaction took.
    struct Change: Sendable {
        var revision: Int
        var days: [StatisticsRowKey: CohortStatisticsChange]
        var entryCount: Int
    }

    typealias Window = StatisticsWindow

    private struct Kept {
        var cohorts: [CohortKey: PackedCohortStatistics]
        var revision: Int
        var lastRead: UInt64
    }

    private struct Windows {
        var kept: [Window: Kept] = [:]
        /// Reads so far: what `lastRead` counts in.
        var reads: UInt64 = 0
        /// Reads answered by applying changes (for tests).
        var updates = 0
    }

    private struct Published {
        /// Ascending by revision, consecutive.
        var changes: [Change] = []
        var entryCount = 0
        /// Full reads in progress: the changes committed meanwhile are kept for them.
        var readsInProgress = 0
        /// The lowest revision a kept window is at (nil: none is kept).
        var oldestKept: Int?
    }

    /// The server reads four windows (the whole history, a release's reference window, the
    /// window since it, a computation's last N days); the rest is room for others. Each is at
    /// most the whole history's size (23 MB packed on 100 M outcomes over 2,000 cohorts).
    static let largestWindowCount = 8
    /// Changes waiting, in outcomes counted in or out (about 16 bytes each, and as much again in
    /// the containers: at most about 30 MB): past it they are dropped, and each kept window is read
    /// from its rows at its next read. The server brings its kept windows up to date every
    /// 10 s (`bringKeptWindowsUpToDate`), which keeps the backlog to 10 s of arrivals.
    static let largestBacklog = 1_000_000

    private let windows = Mutex(Windows())
    private let published = Mutex(Published())
    /// The writer's changes in its open transaction (only the writer touches it).
    private let staged = Mutex<[Change]>([])

    // MARK: Writer

    /// Called by the writer inside the transaction that writes `plan`, after taking `revision`.
    func stage(_ plan: StatisticsWritePlan, revision: Int) {
        let entryCount = plan.dayChanges.values.reduce(0) { $0 + $1.entryCount }
        staged.withLock { $0.append(Change(revision: revision, days: plan.dayChanges, entryCount: entryCount)) }
    }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }

    func databaseDidChange(with event: DatabaseEvent) {}

    func databaseDidCommit(_ db: Database) {
        let staged = staged.withLock { staged in
            defer { staged = [] }
            return staged
        }
        guard !staged.isEmpty else { return }
        // A write inside a savepoint that was rolled back left a change whose revision the
        // next write took again, or that is past the committed revision: the last change
        // staged under each revision up to the committed one is what the commit holds.
        let committed = (try? SQLiteStore.statisticsRevision(in: db)) ?? Int.min
        var byRevision: [Int: Change] = [:]
        for change in staged { byRevision[change.revision] = change }
        publish(byRevision.values.filter { $0.revision <= committed }.sorted { $0.revision < $1.revision })
    }

    func databaseDidRollback(_ db: Database) {
        staged.withLock { $0 = [] }
    }

    private func publish(_ changes: [Change]) {
        published.withLock { published in
            guard published.oldestKept != nil || published.readsInProgress > 0 else { return }
            for change in changes {
                if let last = published.changes.last, change.revision != last.revision + 1 {
                    // A gap: readers see it and read rows; what is kept before it can no longer be used.
                    published.changes = []
                    published.entryCount = 0
                }
                published.changes.append(change)
                published.entryCount += change.entryCount
            }
            if published.entryCount > Self.largestBacklog {
                published.changes = []
                published.entryCount = 0
            }
        }
    }

    // MARK: Readers

    /// The window at `revision` (read in the same snapshot as the caller's revision), when it
    /// is kept at that or an earlier revision with every change since; nil otherwise.
    func cohorts(of window: Window, at revision: Int) -> [CohortKey: PackedCohortStatistics]? {
        windows.withLock { windows in
            guard var kept = bringUpToDate(window, at: revision, in: &windows) else { return nil }
            windows.reads += 1
            kept.lastRead = windows.reads
            windows.kept[window] = kept
            noteOldestKept(windows.kept)
            return kept.cohorts
        }
    }

    /// Brings every kept window to `revision` (read in a snapshot), so that the changes held for
    /// them can go: what the server does every 10 s between requests.
    func bringKeptWindowsUpToDate(at revision: Int) {
        windows.withLock { windows in
            for window in Array(windows.kept.keys) { _ = bringUpToDate(window, at: revision, in: &windows) }
            noteOldestKept(windows.kept)
        }
    }

    /// The kept window at `revision`, with the changes since applied; nil (and the window no
    /// longer kept, when it cannot be brought there) otherwise.
    private func bringUpToDate(_ window: Window, at revision: Int,
                               in windows: inout Windows) -> Kept? {
        guard var kept = windows.kept[window], kept.revision <= revision else { return nil }
        guard kept.revision < revision else { return kept }
        guard let changes = changes(after: kept.revision, through: revision),
              let cohorts = try? window.applying(changes.map(\.days), to: kept.cohorts) else {
            windows.kept[window] = nil
            return nil
        }
        kept.cohorts = cohorts
        kept.revision = revision
        windows.updates += 1
        windows.kept[window] = kept
        return kept
    }

    /// How many reads were answered by applying changes to a kept window (for tests).
    var updatesApplied: Int { windows.withLock { $0.updates } }

    /// The windows kept (for tests).
    var keptWindows: Set<Window> { windows.withLock { Set($0.kept.keys) } }

    /// Outcomes of the changes held (for tests).
    var backlog: Int { published.withLock { $0.entryCount } }

    /// Call before a full read's snapshot is taken, and `keep` (or `endRead`) after it.
    func beginRead() {
        published.withLock { $0.readsInProgress += 1 }
    }

    func endRead() {
        published.withLock { $0.readsInProgress -= 1 }
    }

    /// Keeps a window read in full at `revision`.
    func keep(_ cohorts: [CohortKey: PackedCohortStatistics], of window: Window, at revision: Int) {
        windows.withLock { windows in
            if let kept = windows.kept[window], kept.revision >= revision { return }
            windows.reads += 1
            windows.kept[window] = Kept(cohorts: cohorts, revision: revision, lastRead: windows.reads)
            if windows.kept.count > Self.largestWindowCount,
               let oldest = windows.kept.min(by: { $0.value.lastRead < $1.value.lastRead })?.key {
                windows.kept[oldest] = nil
            }
            noteOldestKept(windows.kept)
        }
    }

    /// Drops what is no window's business any more.
    private func noteOldestKept(_ kept: [Window: Kept]) {
        let oldest = kept.values.map(\.revision).min()
        published.withLock { published in
            published.oldestKept = oldest
            guard let oldest else {
                if published.readsInProgress == 0 {
                    published.changes = []
                    published.entryCount = 0
                }
                return
            }
            guard published.readsInProgress == 0 else { return }
            let done = published.changes.prefix { $0.revision <= oldest }
            published.entryCount -= done.reduce(0) { $0 + $1.entryCount }
            published.changes.removeFirst(done.count)
        }
    }

    private func changes(after first: Int, through last: Int) -> [Change]? {
        published.withLock { published in
            let wanted = published.changes.filter { $0.revision > first && $0.revision <= last }
            guard wanted.count == last - first else { return nil }
            return wanted
        }
    }
}
