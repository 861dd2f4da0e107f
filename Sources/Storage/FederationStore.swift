import Foundation

/// What the server keeps of federated rounds: rounds (their specification and outcome),
/// the kiosks' signed updates, and the signed model releases. Every opened round is part of
/// the privacy ledger, so the ledger is written in the same transaction as the round.
/// Each method is one transaction, durable when it returns. Payloads are opaque bytes
/// (JSON the server writes), so any back end can carry them with plain columns.
public protocol FederationStore: Sendable {
    /// Inserts the round as `open` with the next id, unless a round is already open or
    /// the ledger has grown since the caller read it (a concurrent opening won).
    func openRound(_ round: NewRound, ledgerLength: Int) async throws -> RoundOpening
    func rounds() async throws -> [StoredRound]
    func round(id: Int) async throws -> StoredRound?
    /// The open round, if any.
    func openRound() async throws -> StoredRound?
    /// (q, z) of every round ever opened, oldest first: the privacy ledger.
    func privacyLedger() async throws -> [LedgerRound]

    /// Records the nonce and stores the update if the round is open, its deadline has not
    /// passed at `receivedAt`, and the device has not sent a different update.
    func storeUpdate(_ update: IncomingUpdate) async throws -> UpdateStoreResult
    func updates(roundID: Int) async throws -> [StoredUpdate]

    /// Closes an open round in one transaction: its new state and outcome, the release it
    /// produced (if any), each update's verdict (by device id), and the deletion of every
    /// update body of the round. Returns false when the round was no longer open.
    func closeRound(id: Int, state: RoundState, outcome: [UInt8], at time: Date, release: NewModelRelease?,
                    verdicts: [String: String]) async throws -> Bool
    func modelReleases() async throws -> [StoredModelRelease]
    func modelRelease(version: Int) async throws -> StoredModelRelease?

    /// Every model release's rollout, by version; a release without a stored rollout is
    /// reported as a `candidate` with empty fields, updated when it was published.
    func modelRollouts() async throws -> [StoredModelRollout]
    /// The release's rollout (a `candidate` when none is stored), or nil when there is no
    /// such release.
    func modelRollout(version: Int) async throws -> StoredModelRollout?
    /// Compare-and-set: writes `next` only when the stored state (`candidate` when there is
    /// no row) is in `from`, and appends a `model_rollout` audit entry by `actor`, dated
    /// `next.updatedAt`, in the same transaction. False, with nothing written, when the state
    /// is not in `from` or there is no such release; throws when `next` is another release's.
    func transitionModelRollout(version: Int, from: Set<RolloutState>, to next: StoredModelRollout, actor: String) async throws -> Bool
}

public enum RoundState: String, Sendable, Codable, CaseIterable {
    case open, published, rejected, failed, cancelled
}

public struct NewRound: Sendable, Equatable {
    public var baseVersion: Int
    public var samplingRate: Double
    public var noiseMultiplier: Double
    public var deadline: Date
    /// The round's specification as JSON; the round id inside it is the store's to assign,
    /// so readers take the id from `StoredRound.id`.
    public var specification: [UInt8]
    public var openedAt: Date
    public var openedBy: String

    public init(baseVersion: Int, samplingRate: Double, noiseMultiplier: Double, deadline: Date, specification: [UInt8],
                openedAt: Date, openedBy: String) {
        self.baseVersion = baseVersion
        self.samplingRate = samplingRate
        self.noiseMultiplier = noiseMultiplier
        self.deadline = deadline
        self.specification = specification
        self.openedAt = openedAt
        self.openedBy = openedBy
    }
}

public enum RoundOpening: Sendable, Equatable {
    case opened(StoredRound)
    case anotherRoundOpen(Int)
    case ledgerChanged
}

/// A round as stored: what it was opened with, and what has happened to it since. Reads of
/// the opening's parameters go straight through (`round.deadline`).
@dynamicMemberLookup
public struct StoredRound: Sendable, Equatable {
    public var id: Int
    public var state: RoundState
    public var opening: NewRound
    public var closedAt: Date?
    public var outcome: [UInt8]?
    public var updateCount: Int

    public subscript<Value>(dynamicMember parameter: KeyPath<NewRound, Value>) -> Value {
        opening[keyPath: parameter]
    }
}

/// One opened round's DP parameters.
public struct LedgerRound: Sendable, Equatable {
    public var samplingRate: Double
    public var noiseMultiplier: Double

    public init(samplingRate: Double, noiseMultiplier: Double) {
        self.samplingRate = samplingRate
        self.noiseMultiplier = noiseMultiplier
    }
}

/// A verified update, with its raw signed body so it can be re-verified later.
public struct IncomingUpdate: IncomingUpload {
    public var roundID: Int
    public var deviceID: String
    public var upload: SignedUpload
    public var receipt: [UInt8]

    public init(roundID: Int, deviceID: String, body: [UInt8], contentDigest: String, signatureInput: String, signature: String,
                nonce: String, receivedAt: Date, receipt: [UInt8]) {
        self.roundID = roundID
        self.deviceID = deviceID
        upload = SignedUpload(body: body, contentDigest: contentDigest, signatureInput: signatureInput, signature: signature,
                              nonce: nonce, receivedAt: receivedAt)
        self.receipt = receipt
    }
}

public enum UpdateStoreResult: Sendable, Equatable {
    /// Committed now; `count` updates are now stored for the round.
    case stored(receipt: [UInt8], count: Int)
    /// The same bytes were stored before: the original receipt.
    case alreadyStored(receipt: [UInt8])
    case conflict
    case roundClosed(RoundState)
    case late(deadline: Date)
    case noSuchRound
    case nonceReplayed
}

public struct StoredUpdate: Sendable, Equatable {
    public var deviceID: String
    /// Empty once the round closed: only digest, signature, receipt and verdict outlive it.
    public var body: [UInt8]
    public var receivedAt: Date
    /// What the round's aggregation did with the update; nil while the round is open.
    public var verdict: String?
}

public struct NewModelRelease: Sendable, Equatable {
    public var version: Int
    public var payload: [UInt8]
    public var envelope: [UInt8]

    public init(version: Int, payload: [UInt8], envelope: [UInt8]) {
        self.version = version
        self.payload = payload
        self.envelope = envelope
    }
}

public struct StoredModelRelease: Sendable, Equatable {
    public var version: Int
    /// 0 for a release no round made: a policy search's candidate.
    public var roundID: Int
    public var payload: [UInt8]
    public var envelope: [UInt8]
    public var publishedAt: Date
}
