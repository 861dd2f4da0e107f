import Foundation
import SeededRandom
import Testing
@testable import Calibration

@Suite("CohortStatistics.applying: a change merged into a row's sparse binary form")
struct CohortStatisticsChangeTests {
    typealias Attempt = CohortStatisticsTests.Attempt

    static func change(adding: [Attempt], removing: [Attempt]) throws -> CohortStatisticsChange {
        var change = CohortStatisticsChange()
        for attempt in adding { try change.add(score: attempt.score, label: attempt.label, subject: attempt.subject) }
        for attempt in removing { try change.remove(score: attempt.score, label: attempt.label, subject: attempt.subject) }
        return change
    }

    @Test("byte for byte what decoding, adding, removing and encoding give, over random rows and changes", arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func matchesTheDensePath(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let stored = CohortStatisticsTests.attempts(Int(random.next() % 2_000), seed: seed &* 31)
        let added = CohortStatisticsTests.attempts(Int(random.next() % 300), seed: seed &* 37)
        // Removals: some of the stored attempts and some of the ones being added.
        let removed = stored.filter { _ in random.next() % 4 == 0 } + added.filter { _ in random.next() % 5 == 0 }
        var dense = try CohortStatisticsTests.built(stored)
        let row = stored.isEmpty ? nil : dense.encoded()
        for attempt in added { try dense.add(score: attempt.score, label: attempt.label, subject: attempt.subject) }
        for attempt in removed { try dense.remove(score: attempt.score, label: attempt.label, subject: attempt.subject) }
        let applied = try CohortStatistics.applying(try Self.change(adding: added, removing: removed), toEncoded: row,
                                                    layout: CohortStatistics.liveLayout)
        if dense.isEmpty {
            #expect(applied == nil)
        } else {
            let result = try #require(applied)
            #expect(result.encoded == dense.encoded())
            #expect(result.outcomeCount == dense.outcomeCount)
            #expect(try CohortStatistics(encoded: result.encoded, layout: CohortStatistics.liveLayout) == dense)
        }
    }

    @Test("removing everything leaves no row")
    func removingEverything() throws {
        let stored = CohortStatisticsTests.attempts(500, seed: 9)
        let row = try CohortStatisticsTests.built(stored).encoded()
        #expect(try CohortStatistics.applying(try Self.change(adding: [], removing: stored.reversed()), toEncoded: row,
                                              layout: CohortStatistics.liveLayout) == nil)
    }

    @Test("a removal the row does not hold throws, whatever the label and wherever the score")
    func absentRemovals() throws {
        let stored: [Attempt] = [(0.95, .impostor, "a"), (0.2, .impostor, "a"), (0.5, .genuine, "b"), (0.1, .unknown, "c")]
        let row = try CohortStatisticsTests.built(stored).encoded()
        let absent: [Attempt] = [
            (0.95, .impostor, "someone else"),  // the tail holds 0.95 for another subject group
            (0.2, .impostor, "someone else"),   // below the tail: another group's cell
            (0.96, .impostor, "a"),             // no such tail score
            (0.6, .genuine, "b"),
            (1.0, .genuine, "b"),               // overflow
            (-1.5, .impostor, "a"),             // underflow
        ]
        for attempt in absent {
            #expect(throws: CalibrationError.self, "\(attempt)") {
                try CohortStatistics.applying(try Self.change(adding: [], removing: [attempt]), toEncoded: row,
                                              layout: CohortStatistics.liveLayout)
            }
        }
        #expect(throws: CalibrationError.self) {
            try CohortStatistics.applying(try Self.change(adding: [], removing: [(0.1, .unknown, "c"), (0.1, .unknown, "c")]),
                                          toEncoded: row, layout: CohortStatistics.liveLayout)
        }
    }

    @Test("stored bytes are validated as decoding validates them")
    func corruptRowsAreRefused() throws {
        let row = try CohortStatisticsTests.built(CohortStatisticsTests.attempts(400, seed: 5)).encoded()
        let change = try Self.change(adding: [(0.5, .genuine, "x")], removing: [])
        for position in stride(from: 1, to: row.count, by: max(1, row.count / 60)) {
            var corrupt = row
            corrupt[position] ^= 0x40
            let decoded = Result { try CohortStatistics(encoded: corrupt, layout: CohortStatistics.liveLayout) }
            let applied = Result { try CohortStatistics.applying(change, toEncoded: corrupt, layout: CohortStatistics.liveLayout) }
            if case .failure = decoded {
                #expect(throws: (any Error).self, "byte \(position)") { try applied.get() }
            } else {
                #expect(throws: Never.self, "byte \(position)") { try applied.get() }
            }
        }
        #expect(throws: (any Error).self) {
            try CohortStatistics.applying(change, toEncoded: Array(row.dropLast()), layout: CohortStatistics.liveLayout)
        }
    }

    @Test("a change encodes and decodes to itself; corrupt bytes are refused")
    func changeEncoding() throws {
        var change = CohortStatisticsChange()
        try change.add(score: 0.625, label: .genuine, subject: "a")
        try change.add(score: -0.0, label: .impostor, subject: "b")
        try change.remove(score: 0.1, label: .unknown, subject: "c")
        let bytes = change.encoded()
        #expect(try CohortStatisticsChange(encoded: bytes) == change)
        #expect(try CohortStatisticsChange(encoded: CohortStatisticsChange().encoded()) == CohortStatisticsChange())
        #expect(throws: (any Error).self) { try CohortStatisticsChange(encoded: Array(bytes.dropLast())) }
        #expect(throws: (any Error).self) { try CohortStatisticsChange(encoded: bytes + [0]) }
        var badLabel = bytes
        badLabel[9] = 7
        #expect(throws: (any Error).self) { try CohortStatisticsChange(encoded: badLabel) }
    }
}
