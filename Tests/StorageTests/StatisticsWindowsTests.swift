import Calibration
import Foundation
@testable import Storage
import TestSupport
import Testing

/// `SQLiteStatisticsWindows`: a window read again is brought up to date with the process's own
/// writes, and read from the rows again when some write did not come through this process.
/// (`LiveStatisticsPropertyTests` checks the windows brought up to date against the rebuild
/// after every kind of write.)
@Suite("Kept windows of live statistics")
struct StatisticsWindowsTests {
    typealias Tests = LiveStatisticsPropertyTests

    static func rebuilt(_ store: SQLiteStore, firstDay: Int? = nil, lastDay: Int? = nil) async throws -> LiveStatistics {
        try ScoreStatisticsRebuild.window(ScoreStatisticsRebuild.daily(try await store.calibrationOutcomes(from: nil, to: nil)),
                                          firstDay: firstDay, lastDay: lastDay)
    }

    /// A store in a directory of its own (removed by `cleanup`).
    static func store() throws -> (store: SQLiteStore, path: String, cleanup: () -> Void) {
        let directory = try temporaryDirectory("windows")
        let path = (directory as NSString).appendingPathComponent("store.sqlite")
        return (try SQLiteStore(path: path), path, { try? FileManager.default.removeItem(atPath: directory) })
    }

    @Test("a window kept by one store follows another store's writes to the same file, and its own")
    func secondWriter() async throws {
        let (reader, path, cleanup) = try Self.store()
        defer { cleanup() }
        let other = try SQLiteStore(path: path)
        var history = History(seed: 5)
        try await Tests.prepare(reader, &history)
        for _ in 0..<3 { _ = try await history.store(in: reader, outcomes: (0..<8).map { _ in history.outcome() }, consentEvents: []) }
        let first = try await reader.scoreStatistics(firstDay: nil, lastDay: nil)
        #expect(first == (try await Self.rebuilt(reader)))
        #expect(!first.cohorts.isEmpty)

        // Another store's write is no change this one saw: the window is read from the rows.
        _ = try await history.store(in: other, outcomes: (0..<8).map { _ in history.outcome() }, consentEvents: [])
        let afterOther = try await reader.scoreStatistics(firstDay: nil, lastDay: nil)
        #expect(afterOther == (try await Self.rebuilt(reader)))
        #expect(afterOther != first)
        #expect(reader.statisticsWindows.updatesApplied == 0)

        // Its own writes (a batch, then an erasure) are applied to the window kept.
        _ = try await history.store(in: reader, outcomes: (0..<8).map { _ in history.outcome() }, consentEvents: [])
        #expect(try await reader.scoreStatistics(firstDay: nil, lastDay: nil) == (try await Self.rebuilt(reader)))
        _ = try await reader.eraseSubject(pseudonym: Tests.subjects[0], purposes: [.outcomeStorage], cause: .request, trigger: nil,
                                          requestedAt: Date(), actor: "test", at: Date())
        #expect(try await reader.scoreStatistics(firstDay: nil, lastDay: nil) == (try await Self.rebuilt(reader)))
        #expect(reader.statisticsWindows.updatesApplied == 2)
    }

    @Test("bringing the kept windows up to date applies what was written and frees the changes held")
    func broughtUpToDate() async throws {
        let (store, _, cleanup) = try Self.store()
        defer { cleanup() }
        var history = History(seed: 11)
        try await Tests.prepare(store, &history)
        try await store.bringStatisticsWindowsUpToDate()
        _ = try await store.scoreStatistics(firstDay: nil, lastDay: nil)
        _ = try await store.scoreStatistics(firstDay: Tests.firstDay, lastDay: Tests.firstDay + 9)
        for _ in 0..<3 { _ = try await history.store(in: store, outcomes: (0..<6).map { _ in history.outcome() }, consentEvents: []) }
        #expect(store.statisticsWindows.backlog > 0)
        try await store.bringStatisticsWindowsUpToDate()
        #expect(store.statisticsWindows.backlog == 0)
        #expect(store.statisticsWindows.updatesApplied == 2)
        #expect(try await store.scoreStatistics(firstDay: nil, lastDay: nil) == (try await Self.rebuilt(store)))
        #expect(try await store.scoreStatistics(firstDay: Tests.firstDay, lastDay: Tests.firstDay + 9)
                == (try await Self.rebuilt(store, firstDay: Tests.firstDay, lastDay: Tests.firstDay + 9)))
        #expect(store.statisticsWindows.updatesApplied == 2, "already up to date: nothing more applied")
    }

    @Test("changes land only in the windows holding their days; a cohort emptied leaves the window")
    func windowsByDay() async throws {
        let (store, _, cleanup) = try Self.store()
        defer { cleanup() }
        var history = History(seed: 9)
        try await Tests.prepare(store, &history)
        let windows: [(Int?, Int?)] = [(nil, nil), (Tests.firstDay, Tests.firstDay + 9), (Tests.firstDay + 10, nil)]
        for _ in 0..<4 {
            _ = try await history.store(in: store, outcomes: (0..<6).map { _ in history.outcome() }, consentEvents: [])
            for (first, last) in windows {
                #expect(try await store.scoreStatistics(firstDay: first, lastDay: last)
                        == (try await Self.rebuilt(store, firstDay: first, lastDay: last)))
            }
        }
        // Every subject erased: every cohort empties, and each window with it.
        for subject in Tests.subjects {
            _ = try await store.eraseSubject(pseudonym: subject, purposes: [.outcomeStorage], cause: .request, trigger: nil,
                                             requestedAt: Date(), actor: "test", at: Date())
        }
        for (first, last) in windows {
            let live = try await store.scoreStatistics(firstDay: first, lastDay: last)
            #expect(live.cohorts.isEmpty && live.firstDay == nil && live.lastDay == nil)
        }
        #expect(store.statisticsWindows.updatesApplied >= 9 + 3)
    }
}
