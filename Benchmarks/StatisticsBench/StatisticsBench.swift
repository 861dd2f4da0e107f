import ArgumentParser
import Calibration
import Compliance
import Foundation
import GRDB
import Storage
import Synchronization

/// Threshold computation, drift and the calibration page on stores of millions of outcomes
/// (issue 15): `generate` fills a store straight through SQL, `measure` times the server on it.
@main
struct StatisticsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statistics-bench",
        abstract: "Fills a store with a synthetic fleet's outcomes and times threshold computation, drift and the calibration page on it.",
        subcommands: [Generate.self, Measure.self, Verify.self, ReadProfile.self, Sweep.self])

    /// Where `generate` records the fleet, so that `measure` writes the recent part of the same one.
    static func fleetFile(_ dataDirectory: String) -> String { (dataDirectory as NSString).appendingPathComponent("statistics-bench.json") }
    static func storeFile(_ dataDirectory: String) -> String { (dataDirectory as NSString).appendingPathComponent("faceloop.sqlite") }

    static func loadFleet(_ dataDirectory: String) throws -> Fleet {
        try JSONDecoder().decode(Fleet.self, from: Data(contentsOf: URL(fileURLWithPath: fleetFile(dataDirectory))))
    }

    static func saveFleet(_ fleet: Fleet, _ dataDirectory: String) throws {
        try JSONEncoder().encode(fleet).write(to: URL(fileURLWithPath: fleetFile(dataDirectory)))
    }

    /// The generated store (SQLite in the data directory, or PostgreSQL), and how to close it.
    static func openStore(dataDirectory: String, postgresURL: String?) async throws
        -> (store: any FeedbackStore & ComplianceStore, shutdown: () async -> Void) {
        guard let postgresURL else { return (try SQLiteStore(path: storeFile(dataDirectory)), {}) }
        let postgres = try await PostgresStore(url: postgresURL)
        return (postgres, { await postgres.shutdown() })
    }

    /// Loads a phase of the fleet into the store (SQLite in the data directory, or PostgreSQL).
    static func load(_ fleet: Fleet, phase: Fleet.Phase, dataDirectory: String, postgresURL: String?) async throws -> (outcomes: Int, seconds: Double) {
        let start = ContinuousClock.now
        var lastReport = start
        let progress: (Int, Int) -> Void = { cohorts, outcomes in
            let now = ContinuousClock.now
            guard now - lastReport > .seconds(30) else { return }
            lastReport = now
            print("  \(cohorts)/\(fleet.cohorts) cohorts, \(outcomes) outcomes, \(Int(Double(outcomes) / seconds(now - start))) outcomes/s")
        }
        let written: Int
        let statisticsOnly = fleet.statisticsOnly ?? false
        if let postgresURL {
            let sink = PostgresSink(url: postgresURL)
            written = statisticsOnly ? try BulkLoad.run(fleet, phase: phase, into: StatisticsOnlySink(sink), progress: progress)
                : try BulkLoad.run(fleet, phase: phase, into: sink, progress: progress)
        } else {
            let queue = try DatabaseQueue(path: storeFile(dataDirectory))
            written = try queue.inDatabase { db in
                statisticsOnly ? try BulkLoad.run(fleet, phase: phase, into: StatisticsOnlySink(SQLiteSink(db)), progress: progress)
                    : try BulkLoad.run(fleet, phase: phase, into: SQLiteSink(db), progress: progress)
            }
            try queue.close()
        }
        return (written, seconds(ContinuousClock.now - start))
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    /// Bytes the store takes: the SQLite file (and its log), or the PostgreSQL database.
    static func storeBytes(dataDirectory: String, postgresURL: String?) throws -> Int {
        if let postgresURL { return Int(try Psql.query(postgresURL, "SELECT pg_database_size(current_database())")) ?? 0 }
        let base = storeFile(dataDirectory)
        return [base, base + "-wal"].reduce(0) { total, path in
            total + ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        }
    }
}

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fills an empty store with a fleet's outcomes and the statistics rows the live maintenance would hold for them.",
        discussion: """
        The last days (from the month start before the last 30) are held back: `measure` writes them after it has published \
        a release, so that drift has a recent window.
        """)

    @Option(name: .customLong("data-dir")) var dataDirectory: String
    @Option(name: .customLong("postgres-url"), help: "An empty PostgreSQL database; without it the store is SQLite in the data directory.")
    var postgresURL: String?
    @Option var outcomes: Int
    @Option var cohorts = 1_000
    @Option var days = 365
    @Option var seed: UInt64 = 15
    @Flag(name: .customLong("statistics-only"),
          help: "Write the statistics rows and counters of the outcomes but not the outcome and batch rows (for volumes the disk cannot hold).")
    var statisticsOnly = false

    func run() async throws {
        guard outcomes > 0, cohorts > 0, cohorts % Fleet.cameraModels == 0, days >= 62 else {
            throw ValidationError("--outcomes must be positive, --cohorts a multiple of \(Fleet.cameraModels), --days at least 62")
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        guard !FileManager.default.fileExists(atPath: StatisticsBench.fleetFile(dataDirectory)) else {
            throw ValidationError("\(dataDirectory) already holds a generated store")
        }
        // The store's own schema and migrations, then nothing but bulk inserts.
        var fleet = Fleet(outcomes: outcomes, cohorts: cohorts, days: days, seed: seed,
                          lastDay: StatisticsBuckets.day(of: Date()))
        if let postgresURL {
            // The months' partitions made first, as a live store has them, so that the rows go straight into theirs.
            let store = try await PostgresStore(url: postgresURL)
            try await store.organizeOutcomeMonths(now: Date(), covering: fleet.firstDay...fleet.lastDay)
            await store.shutdown()
        } else {
            _ = try SQLiteStore(path: StatisticsBench.storeFile(dataDirectory))
        }
        fleet.statisticsOnly = statisticsOnly
        try StatisticsBench.saveFleet(fleet, dataDirectory)
        print("generating \(outcomes) outcomes\(statisticsOnly ? " (statistics rows only)" : "") over \(cohorts) cohorts × \(days) days (\(postgresURL == nil ? "SQLite" : "PostgreSQL")); "
              + "days \(fleet.recentFirstDay)…\(fleet.lastDay) held back for measure")
        let (written, seconds) = try await StatisticsBench.load(fleet, phase: .base, dataDirectory: dataDirectory, postgresURL: postgresURL)
        let bytes = try StatisticsBench.storeBytes(dataDirectory: dataDirectory, postgresURL: postgresURL)
        print("wrote \(written) outcomes in \(String(format: "%.1f", seconds)) s (indexes rebuilt, analysed): "
              + "\(Int(Double(written) / seconds)) outcomes/s; store \(bytes / 1_000_000) MB = \(bytes / max(written, 1)) bytes per outcome")
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Checks that a generated store's statistics rows equal statistics rebuilt from its outcome rows (small stores only).")

    @Option(name: .customLong("data-dir")) var dataDirectory: String
    @Option(name: .customLong("postgres-url")) var postgresURL: String?

    func run() async throws {
        let fleet = try StatisticsBench.loadFleet(dataDirectory)
        let (store, shutdown) = try await StatisticsBench.openStore(dataDirectory: dataDirectory, postgresURL: postgresURL)
        let daily = try ScoreStatisticsRebuild.daily(try await store.calibrationOutcomes(from: nil, to: nil))
        // The whole store, a window inside one month, and windows with partial months at either end.
        let windows: [(Int?, Int?)] = [(nil, nil), (fleet.firstDay + 40, fleet.firstDay + 45), (fleet.firstDay + 17, fleet.lastDay - 50),
                                       (fleet.recentFirstDay - 3, nil), (nil, fleet.firstDay + 100)]
        var failures = 0
        for (first, last) in windows {
            let live = try await store.scoreStatistics(firstDay: first, lastDay: last)
            let rebuilt = try ScoreStatisticsRebuild.window(daily, firstDay: first, lastDay: last)
            let same = live == rebuilt
            if !same { failures += 1 }
            print("window \(first.map(String.init) ?? "open")…\(last.map(String.init) ?? "open"): \(live.cohorts.count) cohorts, "
                  + "\(live.cohorts.values.reduce(0) { $0 + $1.outcomeCount }) counted outcomes: \(same ? "equal" : "DIFFERENT")")
        }
        await shutdown()
        if failures > 0 { throw BenchError("\(failures) windows differ from the rebuild") }
    }
}

struct ReadProfile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-profile",
        abstract: "Times the SQLite store's window reads as the server makes them (rows fetched in cohort order and packed per cohort) and unpacking every cohort of a window.",
        discussion: """
        Windows: the whole history (month rows), the 330 days before the held-back part (drift's reference: a partial first \
        month of day rows), and the held-back part (drift's recent window). Each is read twice; the second read is reported.
        """)

    @Option(name: .customLong("data-dir")) var dataDirectory: String

    func run() async throws {
        let fleet = try StatisticsBench.loadFleet(dataDirectory)
        let store = try SQLiteStore(path: StatisticsBench.storeFile(dataDirectory))
        let windows: [(String, Int?, Int?)] = [("whole history", nil, nil), ("before the held-back days", fleet.firstDay, fleet.recentFirstDay - 1),
                                               ("the held-back days", fleet.recentFirstDay, nil)]
        for (name, first, last) in windows {
            var live = try await store.scoreStatistics(firstDay: first, lastDay: last)
            let (read, window) = try await Measure.time { try await store.scoreStatistics(firstDay: first, lastDay: last) }
            live = window
            let packed = live.cohorts.values.reduce(0) { $0 + $1.bytes.count }
            let (unpack, outcomes) = try await Measure.time {
                try live.cohorts.values.reduce(0) { $0 + (try $1.unpacked()).outcomeCount }
            }
            print("\(name): \(live.cohorts.count) cohorts, \(outcomes) outcomes, \(packed / 1_000) kB packed; "
                  + "read and packed in \(Measure.ms(read)), unpacked one by one in \(Measure.ms(unpack))")
        }
    }
}

struct Sweep: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Times one retention sweep of a generated store with its outcomes kept for the given number of days.",
        discussion: """
        Sets the default jurisdiction's retention of outcomes, then sweeps once as the server does every hour. On PostgreSQL \
        the months all of whose outcomes are due go whole (their partitions dropped); the rest go row by row, as on SQLite.
        """)

    @Option(name: .customLong("data-dir")) var dataDirectory: String
    @Option(name: .customLong("postgres-url")) var postgresURL: String?
    @Option(name: .customLong("retention-days")) var retentionDays: Int

    func run() async throws {
        let (store, shutdown) = try await StatisticsBench.openStore(dataDirectory: dataDirectory, postgresURL: postgresURL)
        let now = Date()
        guard try await store.setRetention(RetentionRule(jurisdiction: JurisdictionRecord.defaultName, purpose: .outcomeStorage,
                                                         days: retentionDays), actor: "statistics-bench", at: now)
        else { throw BenchError("no default jurisdiction") }
        // On PostgreSQL, what an upload would wait for meanwhile: the lock every insert of
        // outcomes takes first, asked for again and again through psql until the sweep is done.
        let sweeping = Mutex(true)
        let probe = Task.detached { () -> [Double] in
            guard let postgresURL else { return [] }
            var waits: [Double] = []
            while sweeping.withLock({ $0 }) {
                let start = ContinuousClock.now
                _ = try Psql.query(postgresURL, "BEGIN; LOCK TABLE ONLY outcomes IN ROW EXCLUSIVE MODE; COMMIT;")
                waits.append(StatisticsBench.seconds(ContinuousClock.now - start))
                try await Task.sleep(for: .milliseconds(20))
            }
            return waits
        }
        let start = ContinuousClock.now
        let records = try await store.sweepRetention(now: now)
        let elapsed = ContinuousClock.now - start
        sweeping.withLock { $0 = false }
        let waits = try await probe.value.sorted()
        let months = try await (store as? PostgresStore)?.outcomeMonths().count
        await shutdown()
        print("sweep at \(retentionDays) days: \(records.map(\.outcomesErased).reduce(0, +)) outcomes of \(records.count) subjects "
              + "erased, \(records.map(\.batchesRedacted).reduce(0, +)) batches redacted, in \(elapsed)"
              + (months.map { "; \($0) month partitions left" } ?? ""))
        if let longest = waits.last {
            print("an upload's lock on outcomes meanwhile (\(waits.count) tries through psql): median \(Measure.ms(waits[waits.count / 2])), "
                  + "longest \(Measure.ms(longest))")
        }
    }
}
