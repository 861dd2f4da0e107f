import FeedbackWire
import Foundation
import HTTPSignatures
import PostgresTestSupport
@testable import Storage
import Testing

/// SQLite keeps a batch's signed body as a Zstandard frame; the signed bytes come back whole,
/// and bodies kept as they came (older rows, PostgreSQL) read as they are.
@Suite("Stored batch bodies")
struct StoredBatchBodyTests {
    typealias Fixture = FeedbackStoreTests

    static let body = Fixture.incoming("kiosk-1", sequence: 1, outcomes: (0..<100).map { _ in Fixture.outcome() }).body

    @Test("a body is stored as a frame that gives back the signed bytes; raw and empty bodies read as they are")
    func roundTrip() throws {
        let frame = StoredBatchBody.compressed(Self.body)
        #expect(frame.starts(with: StoredBatchBody.frameMagic))
        #expect(frame.count * 5 < Self.body.count, "\(frame.count) of \(Self.body.count) bytes")
        #expect(try StoredBatchBody.signedBytes(frame, limit: 1 << 20) == Self.body)
        #expect(try StoredBatchBody.signedBytes(Self.body, limit: 1 << 20) == Self.body)
        #expect(StoredBatchBody.compressed([]).isEmpty)
        #expect(try StoredBatchBody.signedBytes([], limit: 0).isEmpty)
        // Bytes that do not compress are kept as they are.
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(StoredBatchBody.compressed(noise) == noise)
    }

    /// Contexts are kept and handed to the next compression: bodies of different sizes
    /// compressed at once, and after an incompressible one, each still give back themselves,
    /// with the content checksum the first frame had.
    @Test("bodies compressed at once with reused contexts each give back their own bytes")
    func concurrentReuse() async throws {
        var generator = SystemRandomNumberGenerator()
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let bodies = (1...24).map { size in
            Fixture.incoming("kiosk-\(size)", sequence: Int64(size), outcomes: (0..<(size * 7)).map { _ in Fixture.outcome() }).body
        }
        let checksumFlag: UInt8 = 0x04
        try await withThrowingTaskGroup(of: Void.self) { group in
            for round in 0..<4 {
                for body in bodies {
                    group.addTask { () async throws in
                        #expect(StoredBatchBody.compressed(noise) == noise)
                        let frame = StoredBatchBody.compressed(body)
                        #expect(frame.starts(with: StoredBatchBody.frameMagic), "round \(round)")
                        #expect(frame.count > 4 && frame[4] & checksumFlag != 0, "the frame header names a content checksum")
                        #expect(try StoredBatchBody.signedBytes(frame, limit: 1 << 20) == body)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("a damaged frame, or one holding more than the limit, is refused with a reason")
    func damagedFrame() throws {
        let frame = StoredBatchBody.compressed(Self.body)
        #expect(throws: StoredBatchBodyError.self) { try StoredBatchBody.signedBytes(Array(frame.prefix(frame.count / 2)), limit: 1 << 20) }
        var flipped = frame
        flipped[frame.count / 2] ^= 0xFF
        #expect(throws: StoredBatchBodyError.self) { try StoredBatchBody.signedBytes(flipped, limit: 1 << 20) }
        do {
            _ = try StoredBatchBody.signedBytes(frame, limit: Self.body.count - 1)
            Issue.record("a frame over the limit was read")
        } catch {
            #expect(error.description.contains("more than \(Self.body.count - 1)"))
        }
    }

    @Test("SQLite's batch row holds the body's frame, PostgreSQL's the body; both give back bytes matching the stored digest",
          arguments: StoreBackEnd.available)
    func storedRow(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        let incoming = Fixture.incoming("kiosk-1", sequence: 1, outcomes: (0..<100).map { _ in Fixture.outcome() })
        guard case .stored = try await store.storeBatch(incoming) else { Issue.record("not stored"); return }
        let stored = try await ShadowScoresStoreTests.storedBody(of: incoming.batchID, in: store)
        if backEnd == .sqlite {
            #expect(stored.starts(with: StoredBatchBody.frameMagic))
            #expect(stored.count * 5 < incoming.body.count)
        } else {
            #expect(stored == incoming.body)
        }
        let signed = try StoredBatchBody.signedBytes(stored, limit: 1 << 20)
        #expect(signed == incoming.body)
        #expect(ContentDigest.sha256Field(for: signed) == incoming.contentDigest)
    }
}
