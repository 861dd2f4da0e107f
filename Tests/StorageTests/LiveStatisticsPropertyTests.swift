import Calibration
import Compliance
import FeedbackWire
import Foundation
import GRDB
@testable import Storage
import TestSupport
import Testing

/// The live score statistics against the reference: after every step of a seeded random
/// history (batches over several cohorts and days across month ends, with shadow scores and
/// policy candidates' `shadow_scores`, the latter stored only for subjects with
/// model-improvement consent; limits and their lifts; withdrawals; erasure requests; retention
/// sweeps), the statistics
/// the store keeps equal, `==`, those rebuilt from its stored outcomes
/// (`ScoreStatisticsRebuild`), for the whole history and for windows of days, and
/// `outcomes stats` from the counters equals the count of the outcome rows; a reopened store
/// answers the same. Thresholds computed from the live statistics equal bob.measure's
/// `far_threshold` of the stored impostor scores bit for bit wherever the statistics keep the
/// scores the walk reaches (the exact tail), and keep the documented bound where they do not.
@Suite("Live score statistics equal the rebuild from stored outcomes")
struct LiveStatisticsPropertyTests {
    typealias Fixture = FeedbackStoreTests

    /// The first day outcomes are attempted on: 2026-01-25, so that 40 days cross two month ends.
    static let firstDay = StatisticsBuckets.day(year: 2026, month: 1, day: 25)
    static let days = 40
    static let dayLength: TimeInterval = 86_400
    static func start(ofDay day: Int) -> Date { StatisticsBuckets.start(ofDay: day) }
    static let subjects = (0..<12).map { String(format: "%064x", 0x5EED_0000 + $0) }
    /// The subjects who also consented to model improvement: only their outcomes keep their
    /// `shadow_scores`.
    static let improvingSubjects = Set(subjects.enumerated().filter { $0.offset % 2 == 0 }.map(\.element))

    /// Two kiosks, a 30-day retention rule, and every subject's grant well before the first
    /// attempt (and half the subjects' model-improvement grant).
    static func prepare(_ store: any FeedbackStore, _ history: inout History) async throws {
        try await Fixture.enrolled(store, "kiosk-1")
        try await Fixture.enrolled(store, "kiosk-2")
        let compliance = try #require(store as? any ComplianceStore)
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: JurisdictionRecord.defaultName, purpose: .outcomeStorage,
                                                                days: 30), actor: "test", at: Fixture.now))
        _ = try await compliance.addConsentText(ConsentText(purpose: .modelImprovement, version: "v1", language: "en",
                                                            sha256: Fixture.consentTextSHA256, effectiveAt: start(ofDay: firstDay - 20),
                                                            material: false), actor: "test", at: Fixture.now)
        let grants = subjects.map { Fixture.consent(.grant, pseudonym: $0, at: start(ofDay: firstDay - 10)) }
            + improvingSubjects.sorted().map {
                Fixture.consent(.grant, pseudonym: $0, at: start(ofDay: firstDay - 10), purpose: .modelImprovement)
            }
        #expect(try await history.store(in: store, outcomes: [], consentEvents: grants).isStored)
    }

    @Test("seeded random histories: live == rebuilt after every step, and after a reopen", arguments: StoreBackEnd.available, [1, 2])
    func randomHistory(backEnd: StoreBackEnd, seed: UInt64) async throws {
        let (opened, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        var store = opened
        var history = History(seed: seed)
        try await Self.prepare(store, &history)
        var windowUpdates = 0

        for step in 0..<60 {
            // The last steps run each kind of step the seed has not run yet, so that every
            // history holds all of them.
            let missing = step >= 60 - History.kinds.count ? History.kinds.first { !history.performed.contains($0.name) } : nil
            let action = try await history.step(store, forcing: missing?.name)
            guard try await Self.agree(store, history: &history, context: "seed \(seed) step \(step) \(action)") else { return }
            if step % 15 == 14 {
                windowUpdates += (store as? SQLiteStore)?.statisticsWindows.updatesApplied
                    ?? (store as? PostgresStore)?.statisticsWindows.updatesApplied ?? 0
                store = try await reopen()
                guard try await Self.agree(store, history: &history, context: "seed \(seed) step \(step) after reopening") else { return }
            }
        }
        #expect(history.performed == Set(History.kinds.map(\.name)), "every kind of step ran: \(history.performed)")
        #expect(history.exactThresholds > 100 && history.binnedThresholds > 100,
                "thresholds checked: \(history.exactThresholds) exact, \(history.binnedThresholds) binned")
        // Most windows were read again after a write: brought up to date, not read from rows.
        #expect(windowUpdates >= 100, "kept windows updated \(windowUpdates) times")
        #expect(history.shadowScoresDropped > 0 && history.shadowScoresDropped < history.shadowScoresSent,
                "some shadow_scores were dropped, not all: \(history.shadowScoresDropped) of \(history.shadowScoresSent)")
    }

    /// Compares live and rebuilt statistics for the whole history and a few windows, and the
    /// counters with the outcome rows; false (and an issue recorded) at the first difference.
    static func agree(_ store: any FeedbackStore, history: inout History, context: String) async throws -> Bool {
        let outcomes = try await store.calibrationOutcomes(from: nil, to: nil)
        if let leak = outcomes.first(where: { !$0.shadowScores.isEmpty && !history.improving.contains($0.subjectPseudonym) }) {
            Issue.record("\(context): shadow_scores stored for \(leak.subjectPseudonym), who has no model-improvement consent")
            return false
        }
        let daily = try ScoreStatisticsRebuild.daily(outcomes)
        var windows: [(Int?, Int?)] = [(nil, nil), (firstDay + 7, firstDay + 7 + 28 + 9), (nil, firstDay + 6), (firstDay + 37, nil)]
        // February 2026 exactly (a whole month), and random windows.
        windows.append((StatisticsBuckets.day(year: 2026, month: 2, day: 1), StatisticsBuckets.day(year: 2026, month: 2, day: 28)))
        for _ in 0..<3 {
            let first = firstDay - 2 + history.random.int(below: days + 4)
            windows.append((first, first + history.random.int(below: 45)))
        }
        for (first, last) in windows {
            let live = try await store.scoreStatistics(firstDay: first, lastDay: last)
            let rebuilt = try ScoreStatisticsRebuild.window(daily, firstDay: first, lastDay: last)
            guard live == rebuilt else {
                Issue.record("""
                    \(context), window \(first.map(String.init) ?? "…")–\(last.map(String.init) ?? "…"): live \(live.cohorts.count) cohorts \
                    \(live.cohorts.values.map(\.outcomeCount).reduce(0, +)) outcomes days \(String(describing: live.firstDay))–\
                    \(String(describing: live.lastDay)), rebuilt \(rebuilt.cohorts.count) cohorts \
                    \(rebuilt.cohorts.values.map(\.outcomeCount).reduce(0, +)) outcomes days \(String(describing: rebuilt.firstDay))–\
                    \(String(describing: rebuilt.lastDay))
                    """)
                return false
            }
            guard try thresholdsAgree(live, stored: storedImpostorScores(outcomes, firstDay: first, lastDay: last), history: &history,
                                      context: "\(context), window \(first.map(String.init) ?? "…")–\(last.map(String.init) ?? "…")")
            else { return false }
        }
        let counted = try await store.outcomeStats()
        let scanned = try await scannedOutcomeStats(store)
        guard counted == scanned else {
            Issue.record("\(context): outcome stats from the counters \(counted), from the outcome rows \(scanned)")
            return false
        }
        return true
    }

    static let thresholdTargets = [0.5, 0.3, 0.2, 0.1, 0.05, 0.01, 1e-3]

    /// Each impostor score of the stored outcomes attempted on a day of the window, under the
    /// cohort it counts in: the attempt's own model, and each candidate that scored it in shadow.
    static func storedImpostorScores(_ outcomes: [CalibrationOutcome], firstDay: Int?, lastDay: Int?) -> [CohortKey: [Double]] {
        var scores: [CohortKey: [Double]] = [:]
        for outcome in outcomes where outcome.label == "impostor" {
            let day = Int((outcome.attemptedAt.timeIntervalSince1970 / 86_400).rounded(.down))
            if let firstDay, day < firstDay { continue }
            if let lastDay, day > lastDay { continue }
            var scored = [(outcome.modelVersion, outcome.score)] + outcome.shadowScores.map { ($0.modelVersion, $0.score) }
            if let version = outcome.shadowModelVersion, let score = outcome.shadowScore { scored.append((version, score)) }
            for (modelVersion, score) in scored {
                scores[CohortKey(modelVersion: modelVersion, cameraModel: outcome.cameraModel, cohort: outcome.site), default: []].append(score)
            }
        }
        return scores
    }

    /// `falseMatchThreshold` of every cohort of `live` against bob's `far_threshold` of the
    /// cohort's stored impostor scores: equal bits when `.exact`; when `.binned`, as strict as
    /// bob's or stricter by at most the one bin the walk stopped in (docs/calibration.md). The
    /// false matches it reports are always the stored scores at or above it.
    static func thresholdsAgree(_ live: LiveStatistics, stored: [CohortKey: [Double]], history: inout History, context: String) throws -> Bool {
        guard Set(stored.keys).isSubset(of: live.cohorts.keys) else {
            Issue.record("\(context): impostor scores stored for cohorts the statistics lack: \(Set(stored.keys).subtracting(live.cohorts.keys))")
            return false
        }
        for (key, packed) in live.cohorts.sorted(by: { $0.key < $1.key }) {
            let statistics = try packed.unpackedScores()
            let impostors = stored[key] ?? []
            let sorted = try SortedScores(impostors)
            for target in thresholdTargets {
                let place = "\(context), \(key) at \(target) over \(impostors.count) impostors"
                guard impostors.count >= 2 else {
                    #expect(throws: CalibrationError.self, "\(place)") { try statistics.falseMatchThreshold(target: target) }
                    continue
                }
                let bob = try ErrorRates.farThreshold(impostors: sorted, target: target)
                let estimate = try statistics.falseMatchThreshold(target: target)
                let acceptedAtEstimate = impostors.count { $0 >= estimate.threshold }
                guard estimate.impostorCount == impostors.count, estimate.falseMatches == acceptedAtEstimate else {
                    Issue.record("\(place): the estimate counts \(estimate.falseMatches) of \(estimate.impostorCount), the stored scores \(acceptedAtEstimate)")
                    return false
                }
                switch estimate.precision {
                case .exact:
                    history.exactThresholds += 1
                    guard estimate.threshold.bitPattern == bob.bitPattern else {
                        Issue.record("\(place): exact threshold \(estimate.threshold), bob's \(bob)")
                        return false
                    }
                case .binned(let binWidth):
                    history.binnedThresholds += 1
                    let acceptedAtBob = impostors.count { $0 >= bob }
                    let grid = statistics.layout.grid
                    let edgeAtOrBelow = estimate.threshold.isFinite ? grid.edge(grid.binIndex(of: estimate.threshold)) : -Double.infinity
                    let binStart = min(edgeAtOrBelow, statistics.layout.tailFloor) - binWidth
                    guard acceptedAtEstimate <= acceptedAtBob, acceptedAtBob == acceptedAtEstimate || bob >= binStart else {
                        Issue.record("\(place): binned threshold \(estimate.threshold) accepts \(acceptedAtEstimate), bob's \(bob) accepts \(acceptedAtBob)")
                        return false
                    }
                }
            }
        }
        return true
    }

    /// `outcomes stats` as it was computed before the counters: from every outcome row.
    static func scannedOutcomeStats(_ store: any FeedbackStore) async throws -> OutcomeStats {
        let sql = SQLiteStore.sql
        if let sqlite = store as? SQLiteStore {
            return try await sqlite.pool.read { db in
                try StoreRows.outcomeStats(total: db.scalar(Int.self, sql.outcomeCount) ?? 0, batches: db.scalar(Int.self, sql.batchCount) ?? 0,
                                           byDevice: db.fetchAll(sql.outcomesByDevice), byCohort: db.fetchAll(sql.outcomesByCohort),
                                           byLabel: db.fetchAll(sql.outcomesByLabel))
            }
        }
        let postgres = try #require(store as? PostgresStore)
        let pg = PostgresStore.sql
        return try await postgres.read { db in
            let total = try await db.scalar(Int.self, pg.outcomeCount) ?? 0
            let batches = try await db.scalar(Int.self, pg.batchCount) ?? 0
            let byDevice = try await db.fetchAll(pg.outcomesByDevice)
            let byCohort = try await db.fetchAll(pg.outcomesByCohort)
            return try StoreRows.outcomeStats(total: total, batches: batches, byDevice: byDevice, byCohort: byCohort,
                                              byLabel: await db.fetchAll(pg.outcomesByLabel))
        }
    }
}

/// A seeded history of writes to one store.
struct History {
    typealias Fixture = FeedbackStoreTests
    typealias Tests = LiveStatisticsPropertyTests

    var random: SplitMix
    var sequences: [String: Int64] = [:]
    /// Consent decisions after the seeded ones happen later than every attempt, one minute
    /// apart, so that each is its subject's latest: a limit restricts without refusing the
    /// attempts before it.
    var consentClock = Tests.start(ofDay: Tests.firstDay + Tests.days + 10)
    /// How far retention sweeps have come (their cutoff, 30 days before their `now`).
    var sweptDays = 0
    var restricted: Set<String> = []
    var performed: Set<String> = []
    /// Subjects whose model-improvement consent is in force.
    var improving = Tests.improvingSubjects
    /// Whether outcomes carry policy candidates' `shadow_scores` (not in a store from before them).
    var shadowScores: Bool
    /// Entries of `shadow_scores` sent, and those the receipts said were dropped.
    var shadowScoresSent = 0
    var shadowScoresDropped = 0
    /// Thresholds from the statistics checked against bob's, by precision.
    var exactThresholds = 0
    var binnedThresholds = 0

    /// Each kind of step, with the first roll of its range in `step`.
    static let kinds: [(name: String, firstRoll: Int)] = [
        ("batch", 0), ("limit and lift in one batch", 50), ("limit", 55), ("lift", 67), ("withdrawal", 78),
        ("model-improvement withdrawal", 81), ("erasure request", 84), ("retention sweep", 90),
    ]

    init(seed: UInt64, shadowScores: Bool = true) {
        random = SplitMix(seed: seed)
        self.shadowScores = shadowScores
    }

    /// One random step, or one of the kind `forcing` names; what it was.
    mutating func step(_ store: any FeedbackStore, forcing: String? = nil) async throws -> String {
        let compliance = try #require(store as? any ComplianceStore)
        let drawn = random.int(below: 100)
        let roll = forcing.flatMap { name in Self.kinds.first { $0.name == name }?.firstRoll } ?? drawn
        let subject = Tests.subjects[random.int(below: Tests.subjects.count)]
        let action: String
        switch roll {
        case 0..<50:
            action = "batch"
            _ = try await self.store(in: store, outcomes: (0..<(1 + random.int(below: 10))).map { _ in outcome() }, consentEvents: [])
        case 50..<55:
            // Two decisions of one subject in one batch: a limit and its lift, or for a
            // restricted subject a lift and a new limit. The store reads whether the batch's
            // subjects were restricted once, before its events.
            action = "limit and lift in one batch"
            let events = restricted.contains(subject) ? [consent(.grant, subject), consent(.limit, subject)]
                                                      : [consent(.limit, subject), consent(.grant, subject)]
            _ = try await self.store(in: store, outcomes: [outcome(subject: subject)], consentEvents: events)
        case 55..<67:
            // A limit, with some outcomes of the subject (attempted before it) in the same batch.
            action = "limit"
            restricted.insert(subject)
            _ = try await self.store(in: store, outcomes: (0..<random.int(below: 3)).map { _ in outcome(subject: subject) },
                                     consentEvents: [consent(.limit, subject)])
        case 67..<78:
            // A grant later than the limit lifts it; for a subject not restricted it changes nothing.
            let lifted = restricted.sorted().randomElement(using: &random) ?? subject
            action = "lift"
            restricted.remove(lifted)
            _ = try await self.store(in: store, outcomes: [outcome()], consentEvents: [consent(.grant, lifted)])
        case 78..<81:
            action = "withdrawal"
            _ = try await self.store(in: store, outcomes: [], consentEvents: [consent(.withdraw, subject)])
        case 81..<84:
            // Reaches back: the subject's stored shadow_scores are cleared, the outcomes stay.
            action = "model-improvement withdrawal"
            improving.remove(subject)
            _ = try await self.store(in: store, outcomes: [], consentEvents: [consent(.withdraw, subject, purpose: .modelImprovement)])
        case 84..<90:
            action = "erasure request"
            consentClock += 60
            _ = try await compliance.eraseSubject(pseudonym: subject, purposes: [.outcomeStorage], cause: .request, trigger: nil,
                                                  requestedAt: consentClock, actor: "test", at: consentClock)
        default:
            action = "retention sweep"
            sweptDays += 2 + random.int(below: 4)
            _ = try await compliance.sweepRetention(now: Tests.start(ofDay: Tests.firstDay + sweptDays)
                                                    .addingTimeInterval(30 * Tests.dayLength + Double(random.int(below: 86_400))))
        }
        performed.insert(action)
        return action
    }

    mutating func consent(_ kind: ConsentEvent.Kind, _ subject: String, purpose: Purpose = .outcomeStorage) -> ConsentEvent {
        consentClock += 60
        return Fixture.consent(kind, pseudonym: subject, at: consentClock, purpose: purpose)
    }

    /// An outcome on a random day of the window (now and then at midnight exactly), in one of
    /// eight cohorts, impostor scores often in the exact tail and sometimes repeated.
    mutating func outcome(subject: String? = nil) -> MatchOutcome {
        let day = Tests.firstDay + random.int(below: Tests.days)
        let second = random.int(below: 5) == 0 ? 0 : random.int(below: 86_400)
        let label: MatchOutcome.Label = [.genuine, .impostor, .impostor, .unknown][random.int(below: 4)]
        var score = 0.55 + 0.45 * random.unit()
        if random.int(below: 3) == 0 { score = (score * 64).rounded(.down) / 64 }
        var outcome = SampleBatch.outcome(label: label, score: score,
                                          attemptedAt: Tests.start(ofDay: day).addingTimeInterval(Double(second)),
                                          modelVersion: ["m1", "m2"][random.int(below: 2)],
                                          cohort: .init(site: ["s1", "s2"][random.int(below: 2)], cameraModel: ["c1", "c2"][random.int(below: 2)],
                                                        tags: []),
                                          subject: .init(pseudonym: subject ?? Tests.subjects[random.int(below: Tests.subjects.count)],
                                                         consentRef: "c"))
        if random.int(below: 3) == 0 { outcome.shadow = .init(modelVersion: "m3", score: 0.5 + 0.5 * random.unit()) }
        if shadowScores, random.int(below: 2) == 0 {
            // One to three of four policy candidates, from a rotating start as a kiosk scores them.
            let first = random.int(below: 4)
            outcome.shadowScores = (0..<(1 + random.int(below: 3))).map {
                .init(modelVersion: "p\((first + $0) % 4)", score: 0.5 + 0.5 * random.unit())
            }
        }
        return outcome
    }

    /// Stores a batch of a random kiosk, received after every attempt (so retention counts
    /// from the attempts).
    mutating func store(in store: any FeedbackStore, outcomes: [MatchOutcome], consentEvents: [ConsentEvent]) async throws -> BatchStoreResult {
        let device = ["kiosk-1", "kiosk-2"][random.int(below: 2)]
        sequences[device, default: 0] += 1
        let result = try await store.storeBatch(Fixture.incoming(device, sequence: sequences[device] ?? 1, outcomes: outcomes,
                                                                 consentEvents: consentEvents,
                                                                 receivedAt: Tests.start(ofDay: Tests.firstDay + Tests.days + 5)))
        if case let .stored(bytes) = result {
            shadowScoresSent += outcomes.map(\.shadowScores.count).reduce(0, +)
            shadowScoresDropped += try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes)).shadowScoresDropped
        }
        return result
    }
}

extension BatchStoreResult {
    var isStored: Bool { if case .stored = self { true } else { false } }
}

/// SplitMix64: a seeded generator, the same sequence on every machine.
struct SplitMix: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
