import FeedbackWire
import Foundation
import HTTPSignatures
import Storage
import Testing

@Suite("FederationStore contract")
struct FederationStoreTests {
    static let now = FeedbackStoreTests.now

    static func open(_ backEnd: StoreBackEnd) async throws
        -> (any FeedbackStore & FederationStore, reopen: @Sendable () async throws -> any FeedbackStore, cleanup: () -> Void) {
        let (store, reopen, cleanup) = try await backEnd.open()
        return (try #require(store as? any FeedbackStore & FederationStore), reopen, cleanup)
    }

    static func round(deadline: Date = now.addingTimeInterval(600), q: Double = 1, z: Double = 1) -> NewRound {
        NewRound(baseVersion: 0, samplingRate: q, noiseMultiplier: z, deadline: deadline, specification: Array(#"{"spec":1}"#.utf8),
                 openedAt: now, openedBy: "erin")
    }

    static func update(_ device: String, round: Int, body: String = "update", at time: Date = now,
                       nonce: String = UUID().uuidString) -> IncomingUpdate {
        IncomingUpdate(roundID: round, deviceID: device, body: Array(body.utf8), contentDigest: ContentDigest.sha256Field(for: Array(body.utf8)),
                       signatureInput: "sig1=()", signature: "sig1=:AA==:", nonce: nonce, receivedAt: time,
                       receipt: Array("receipt-\(device)-\(body)".utf8))
    }

    @Test("one open round at a time; the ledger grows with every opened round", arguments: StoreBackEnd.available)
    func opening(backEnd: StoreBackEnd) async throws {
        let (store, _, cleanup) = try await Self.open(backEnd)
        defer { cleanup() }
        guard case let .opened(first) = try await store.openRound(Self.round(z: 1.5), ledgerLength: 0) else {
            Issue.record("the first round did not open")
            return
        }
        #expect(first.id == 1 && first.state == .open)
        #expect(try await store.openRound(Self.round(), ledgerLength: 1) == .anotherRoundOpen(1))
        #expect(try await store.closeRound(id: 1, state: .failed, outcome: Array("{}".utf8), at: Self.now, release: nil, verdicts: [:]))
        #expect(try await store.closeRound(id: 1, state: .published, outcome: [], at: Self.now, release: nil, verdicts: [:]) == false,
                "a closed round stays closed")
        #expect(try await store.openRound(Self.round(), ledgerLength: 0) == .ledgerChanged, "a stale ledger read is refused")
        guard case let .opened(second) = try await store.openRound(Self.round(q: 0.5), ledgerLength: 1) else {
            Issue.record("the second round did not open")
            return
        }
        #expect(second.id == 2)
        #expect(try await store.privacyLedger() == [LedgerRound(samplingRate: 1, noiseMultiplier: 1.5),
                                                    LedgerRound(samplingRate: 0.5, noiseMultiplier: 1)])
    }

    @Test("updates: stored once per device, retries get the receipt, conflicts, replays, late and closed rounds are refused",
          arguments: StoreBackEnd.available)
    func updates(backEnd: StoreBackEnd) async throws {
        let (store, _, cleanup) = try await Self.open(backEnd)
        defer { cleanup() }
        try await FeedbackStoreTests.enrolled(store, "k-1")
        try await FeedbackStoreTests.enrolled(store, "k-2")
        _ = try await store.openRound(Self.round(), ledgerLength: 0)
        #expect(try await store.storeUpdate(Self.update("k-1", round: 1)) == .stored(receipt: Array("receipt-k-1-update".utf8), count: 1))
        #expect(try await store.storeUpdate(Self.update("k-1", round: 1)) == .alreadyStored(receipt: Array("receipt-k-1-update".utf8)))
        #expect(try await store.storeUpdate(Self.update("k-1", round: 1, body: "other")) == .conflict)
        #expect(try await store.storeUpdate(Self.update("k-2", round: 1, nonce: "n-1")) == .stored(receipt: Array("receipt-k-2-update".utf8), count: 2))
        #expect(try await store.storeUpdate(Self.update("k-2", round: 1, nonce: "n-1")) == .nonceReplayed)
        #expect(try await store.storeUpdate(Self.update("k-2", round: 9)) == .noSuchRound)
        #expect(try await store.updates(roundID: 1).map(\.deviceID) == ["k-1", "k-2"])

        #expect(try await store.closeRound(id: 1, state: .published, outcome: Array("{}".utf8), at: Self.now,
                                           release: NewModelRelease(version: 1, payload: Array("p".utf8), envelope: Array("e".utf8)),
                                           verdicts: ["k-1": "aggregated", "k-2": "left out: norm above C"]))
        // The raw updates go with the round; their digests, receipts and verdicts stay.
        let kept = try await store.updates(roundID: 1)
        #expect(kept.map(\.body) == [[], []])
        #expect(kept.map(\.verdict) == ["aggregated", "left out: norm above C"])
        #expect(try await store.storeUpdate(Self.update("k-1", round: 1)) == .alreadyStored(receipt: Array("receipt-k-1-update".utf8)),
                "a retry after the close still gets its receipt")
        #expect(try await store.storeUpdate(Self.update("k-1", round: 1, body: "late")) == .roundClosed(.published))
        #expect(try await store.modelReleases().map(\.version) == [1])
        #expect(try await store.modelRelease(version: 1)?.roundID == 1)

        _ = try await store.openRound(Self.round(deadline: Self.now.addingTimeInterval(10)), ledgerLength: 1)
        #expect(try await store.storeUpdate(Self.update("k-1", round: 2, at: Self.now.addingTimeInterval(11)))
                == .late(deadline: Self.now.addingTimeInterval(10)))
        #expect(try await store.round(id: 2)?.updateCount == 0, "a refused update leaves nothing behind")
    }

    @Test("a reopened store still has the round and its updates", arguments: StoreBackEnd.available)
    func survivesReopen(backEnd: StoreBackEnd) async throws {
        let (store, reopen, cleanup) = try await Self.open(backEnd)
        defer { cleanup() }
        try await FeedbackStoreTests.enrolled(store, "k-1")
        _ = try await store.openRound(Self.round(), ledgerLength: 0)
        _ = try await store.storeUpdate(Self.update("k-1", round: 1))
        let reopened = try #require(try await reopen() as? any FederationStore)
        let round = try #require(try await reopened.openRound())
        #expect(round.id == 1 && round.updateCount == 1)
        #expect(try await reopened.updates(roundID: 1).first?.body == Array("update".utf8))
    }
}
