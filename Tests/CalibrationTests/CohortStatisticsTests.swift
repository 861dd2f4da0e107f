import Foundation
import SeededRandom
import Testing
@testable import Calibration

@Suite("CohortStatistics: live, exactly erasable, mergeable, compactly encoded")
struct CohortStatisticsTests {
    typealias Attempt = (score: Double, label: ScoreLabel, subject: String)

    /// Attempts around the live tail floor (so both the histogram-only part and the tail are
    /// used), with ties (3 decimals), −0.0, exact 1.0 (overflow) and all three labels.
    static func attempts(_ count: Int, seed: UInt64) -> [Attempt] {
        var random = SeededGenerator(seed: seed)
        return (0..<count).map { index in
            let label: ScoreLabel = [.impostor, .impostor, .impostor, .genuine, .unknown][Int(random.next() % 5)]
            var score = min(max(random.normal(mean: label == .genuine ? 0.93 : 0.86, deviation: 0.04), -1), 1)
            score = (score * 1000).rounded() / 1000
            if index % 97 == 0 { score = -0.0 }
            if index % 89 == 0 { score = 1 }
            return (score, label, "p-\(random.next() % 40)")
        }
    }

    static func built(_ attempts: some Sequence<Attempt>) throws -> CohortStatistics {
        var statistics = CohortStatistics(layout: CohortStatistics.liveLayout)
        for attempt in attempts { try statistics.add(score: attempt.score, label: attempt.label, subject: attempt.subject) }
        return statistics
    }

    @Test("adding then removing every attempt, in another order, gives back the empty statistics")
    func addRemoveRoundTrip() throws {
        let attempts = Self.attempts(3_000, seed: 11)
        let empty = CohortStatistics(layout: CohortStatistics.liveLayout)
        var statistics = try Self.built(attempts)
        #expect(statistics.outcomeCount == attempts.count)
        #expect(statistics.impostorSubjects.impostorCount == statistics.scores.impostorCount)
        var random = SeededGenerator(seed: 3)
        for attempt in attempts.shuffled(using: &random) {
            try statistics.remove(score: attempt.score, label: attempt.label, subject: attempt.subject)
        }
        #expect(statistics == empty)
        #expect(statistics.isEmpty)
        #expect(statistics.encoded() == empty.encoded())
    }

    @Test("removing part of the attempts equals never having added them")
    func partialRemoval() throws {
        let attempts = Self.attempts(2_000, seed: 12)
        var statistics = try Self.built(attempts)
        let (kept, erased) = (attempts.enumerated().filter { $0.offset % 3 != 0 }.map(\.element),
                              attempts.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))
        for attempt in erased.reversed() {
            try statistics.remove(score: attempt.score, label: attempt.label, subject: attempt.subject)
        }
        #expect(statistics == (try Self.built(kept)))
        var subtracted = try Self.built(attempts)
        try subtracted.subtract(try Self.built(erased))
        #expect(subtracted == statistics)
    }

    @Test("an absent attempt is refused and changes nothing: wrong subject, score, label or count")
    func absentRemovals() throws {
        var statistics = try Self.built([(0.95, .impostor, "p-1"), (0.5, .impostor, "p-1"), (0.9, .genuine, "p-2"), (0.2, .unknown, "p-3")])
        let before = statistics
        let group = ImpostorSubjects.group(of: "p-1")
        let otherSubject = (0..<1_000).map { "q-\($0)" }.first { ImpostorSubjects.group(of: $0) != group } ?? "q"
        let absent: [Attempt] = [
            (0.95, .impostor, otherSubject),   // tail entry of another group
            (0.5, .impostor, otherSubject),    // below the tail, group with no impostor
            (0.951, .impostor, "p-1"),         // tail score not present
            (0.95, .genuine, "p-1"),           // label not present there
            (0.3, .impostor, "p-1"),           // below the tail, empty bin
        ]
        for attempt in absent {
            #expect(throws: CalibrationError.self) {
                try statistics.remove(score: attempt.score, label: attempt.label, subject: attempt.subject)
            }
            #expect(statistics == before, "\(attempt)")
        }
        try statistics.remove(score: 0.2, label: .unknown, subject: "p-3")
        #expect(throws: CalibrationError.self) { try statistics.remove(score: 0.2, label: .unknown, subject: "p-3") }
        var twice = before
        try twice.subtract(try Self.built([(0.95, .impostor, "p-1")]))
        let afterOne = twice
        #expect(throws: CalibrationError.self) { try twice.subtract(try Self.built([(0.95, .impostor, "p-1"), (0.95, .impostor, "p-1")])) }
        #expect(twice == afterOne)
        #expect(throws: CalibrationError.self) { try statistics.add(score: .nan, label: .impostor, subject: "p-1") }
        #expect(throws: CalibrationError.self) { try statistics.add(score: .infinity, label: .genuine, subject: "p-1") }
    }

    @Test("shuffled chunks merged equal one pass", arguments: [1 as UInt64, 2, 3])
    func mergeEqualsOnePass(seed: UInt64) throws {
        let attempts = Self.attempts(4_000, seed: 20 + seed)
        let onePass = try Self.built(attempts)
        var random = SeededGenerator(seed: seed)
        let shuffled = attempts.shuffled(using: &random)
        var merged = CohortStatistics(layout: CohortStatistics.liveLayout)
        var start = 0
        var chunks: [CohortStatistics] = []
        while start < shuffled.count {
            let end = min(shuffled.count, start + Int(random.next() % 700) + 1)
            chunks.append(try Self.built(shuffled[start..<end]))
            start = end
        }
        for chunk in chunks.shuffled(using: &random) { try merged.merge(chunk) }
        #expect(merged == onePass)
        #expect(merged.encoded() == onePass.encoded())
        #expect(try CohortStatistics.merged(chunks, layout: CohortStatistics.liveLayout) == onePass)
    }

    @Test("the binary form round-trips and is sparse")
    func encodingRoundTrip() throws {
        for statistics in [CohortStatistics(layout: CohortStatistics.liveLayout), try Self.built(Self.attempts(5_000, seed: 5))] {
            let bytes = statistics.encoded()
            let back = try CohortStatistics(encoded: bytes, layout: CohortStatistics.liveLayout)
            #expect(back == statistics)
            #expect(back.encoded() == bytes)
            // 2 × 16,384 dense bins would be 256 KiB; the sparse form holds only the bins used.
            #expect(bytes.count < 16 * 1_024)
        }
        let layout = try StatisticsLayout(grid: .cosine, tailFloor: 0.5)
        let other = try Self.built(Self.attempts(100, seed: 6)).encoded()
        #expect(throws: CalibrationError.incompatibleStatistics) { try CohortStatistics(encoded: other, layout: layout) }
    }

    @Test("corrupt bytes are refused: every truncation, and flipped fields")
    func corruptBytes() throws {
        let statistics = try Self.built(Self.attempts(400, seed: 9))
        let bytes = statistics.encoded()
        for length in 0..<bytes.count {
            #expect(throws: CalibrationError.self) { try CohortStatistics(encoded: Array(bytes[..<length]), layout: CohortStatistics.liveLayout) }
        }
        #expect(throws: CalibrationError.self) { try CohortStatistics(encoded: bytes + [0], layout: CohortStatistics.liveLayout) }
        var wrongVersion = bytes
        wrongVersion[0] = 2
        #expect(throws: CalibrationError.self) { try CohortStatistics(encoded: wrongVersion, layout: CohortStatistics.liveLayout) }
        // Every single-byte change either is refused or decodes to statistics whose invariants
        // hold (re-encoding gives the same bytes back).
        var random = SeededGenerator(seed: 4)
        for index in bytes.indices {
            var changed = bytes
            changed[index] ^= UInt8(truncatingIfNeeded: random.next() | 1)
            if let decoded = try? CohortStatistics(encoded: changed, layout: CohortStatistics.liveLayout) {
                #expect(decoded.encoded() == changed)
                #expect(decoded.impostorSubjects.impostorCount == decoded.scores.impostorCount)
                #expect(decoded.scores.impostorTail.count == decoded.scores.impostor.count(atOrAboveEdge: decoded.layout.tailFloorEdgeIndex))
            }
        }
    }

    @Test("a tail out of order, below the floor or disagreeing with the histogram is refused")
    func inconsistentParts() throws {
        let statistics = try Self.built([(0.95, .impostor, "a"), (0.97, .impostor, "b")])
        let bytes = statistics.encoded()
        // The tail entries are the 2 × 9 bytes before the empty list of cells below the tail (1 byte).
        let tailStart = bytes.count - 1 - 18
        var swapped = bytes
        swapped.replaceSubrange(tailStart..<tailStart + 18, with: Array(bytes[tailStart + 9..<tailStart + 18]) + Array(bytes[tailStart..<tailStart + 9]))
        #expect(throws: CalibrationError.self) { try CohortStatistics(encoded: swapped, layout: CohortStatistics.liveLayout) }
        var moved = bytes
        let score = Double(0.96).bitPattern
        for index in 0..<8 { moved[tailStart + 9 + index] = UInt8(truncatingIfNeeded: score >> UInt64(8 * index)) }
        // 0.96 is still sorted and in the tail, but in a bin the histogram has empty.
        #expect(throws: CalibrationError.self) { try CohortStatistics(encoded: moved, layout: CohortStatistics.liveLayout) }
    }

    @Test("cells below the tail that disagree with the impostor histogram are refused")
    func inconsistentCells() throws {
        let statistics = try Self.built([(0.5, .impostor, "a"), (0.95, .impostor, "b")])
        let bytes = statistics.encoded()
        let key = Int(try #require(statistics.impostorSubjects.coarseKeys.first))
        func varint(_ value: Int) -> [UInt8] {
            var value = value, out: [UInt8] = []
            while value >= 0x80 { out.append(UInt8(value & 0x7F) | 0x80); value >>= 7 }
            return out + [UInt8(value)]
        }
        // The cells section ends the encoding: one cell, its key gap (key + 1), its count.
        let cells = [1] + varint(key + 1) + [1]
        #expect(Array(bytes.suffix(cells.count)) == cells)
        let head = Array(bytes.dropLast(cells.count))
        #expect(try CohortStatistics(encoded: head + cells, layout: CohortStatistics.liveLayout) == statistics)
        let more = head + [1] + varint(key + 1) + [2]
        #expect(throws: CalibrationError.self) { try CohortStatistics(encoded: more, layout: CohortStatistics.liveLayout) }
        let group = key % ImpostorSubjects.groupCount
        let otherGroup = head + [1] + varint(key + (group == 255 ? 0 : 2)) + [1]
        if group != 255 {
            #expect(try CohortStatistics(encoded: otherGroup, layout: CohortStatistics.liveLayout).impostorSubjects.coarseKeys == [UInt32(key + 1)])
        }
        let otherBin = head + [1] + varint(key + 1 + ImpostorSubjects.groupCount) + [1]
        #expect(throws: CalibrationError.self) { try CohortStatistics(encoded: otherBin, layout: CohortStatistics.liveLayout) }
    }

    @Test("thresholds from live statistics, through the binary form, equal bob.measure's for targets inside the tail",
          arguments: Fixtures.bob.cases)
    func bobExactInsideTail(_ fixture: BobFixtures.Case) throws {
        // The grid of ScoreStatisticsTests' fixture test; the floor at the median impostor's
        // bin, so about half the impostors are in the tail and the other half only counted.
        let grid = try ScoreGrid(lowerBound: -2, binWidth: 0x1p-12, binCount: 4 << 12)
        let sorted = fixture.impostors.sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        let floor = grid.edge(grid.placement(of: median) == .overflow ? grid.binCount : (median < grid.lowerBound ? 0 : grid.binIndex(of: median)))
        let layout = try StatisticsLayout(grid: grid, tailFloor: floor)
        var live = CohortStatistics(layout: layout)
        for (index, score) in fixture.impostors.enumerated() { try live.add(score: score, label: .impostor, subject: "s\(index % 7)") }
        for score in fixture.genuine { try live.add(score: score, label: .genuine, subject: "g") }
        let decoded = try CohortStatistics(encoded: live.encoded(), layout: layout)
        #expect(decoded == live)
        let tailCount = decoded.scores.impostorTail.count
        var checked = 0
        for entry in fixture.far_threshold where entry.target * Double(fixture.impostors.count) < Double(tailCount) {
            guard case .value(let bob) = entry.result else { continue }
            let estimate = try decoded.scores.falseMatchThreshold(target: entry.target)
            #expect(estimate.precision == .exact, "\(fixture.name) \(entry.target)")
            #expect(estimate.threshold.bitPattern == bob.exact.bitPattern, "\(fixture.name) \(entry.target)")
            checked += 1
        }
        if fixture.impostors.count >= 20 && Set(fixture.impostors).count > 2 { #expect(checked > 0, "\(fixture.name)") }
    }

    @Test("on the live layout, 2e6 heavy-tailed impostors give bob.measure's thresholds at 1e-3 … 1e-6")
    func bobExactLiveLayout() throws {
        let large = Fixtures.bob.large
        let scores = Fixtures.heavyTailScores(
            count: large.generator.count, multiplier: large.generator.multiplier, modulus: large.generator.modulus)
        var live = CohortStatistics(layout: CohortStatistics.liveLayout)
        var chunk = CohortStatistics(layout: CohortStatistics.liveLayout)
        for (index, score) in scores.enumerated() {
            try chunk.add(score: score, label: .impostor, subject: "s\(index % 5_000)")
            if index % 100_000 == 99_999 {
                try live.merge(chunk)
                chunk = CohortStatistics(layout: CohortStatistics.liveLayout)
            }
        }
        try live.merge(chunk)
        #expect(live.scores.impostorCount == scores.count)
        for entry in large.far_threshold where entry.target <= 1e-3 {
            guard case .value(let bob) = entry.result else { continue }
            #expect(entry.target * Double(scores.count) < Double(live.scores.impostorTail.count))
            let estimate = try live.scores.falseMatchThreshold(target: entry.target)
            #expect(estimate.precision == .exact, "\(entry.target)")
            #expect(estimate.threshold.bitPattern == bob.exact.bitPattern, "\(entry.target)")
        }
    }

    @Test("a subject's group is the documented FNV-1a hash, spread over all groups")
    func groupHash() {
        // FNV-1a 64 of "" is the offset basis 0xcbf29ce484222325, of "a" 0xaf63dc4c8601ec8c;
        // the top bytes after fmix64 (computed independently in Python).
        #expect(ImpostorSubjects.group(of: "") == 0xEF)
        #expect(ImpostorSubjects.group(of: "a") == 0x82)
        #expect(ImpostorSubjects.group(of: "p-17") == 0x0F)
        let groups = Set((0..<5_000).map { ImpostorSubjects.group(of: "subject-\($0)") })
        #expect(groups.count == ImpostorSubjects.groupCount)
    }

    @Test("live layout: the tail floor is the documented grid edge")
    func liveLayout() {
        #expect(CohortStatistics.liveLayout.tailFloor == 0.888671875)
        #expect(CohortStatistics.liveLayout.grid == .cosine)
        #expect(CohortStatistics.liveLayout.tailFloorEdgeIndex == 7280 + 8192)
    }
}
