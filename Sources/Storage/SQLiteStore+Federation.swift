import Foundation
import GRDB

/// Federated rounds, updates and model releases in the same SQLite file as the outcomes.
extension SQLiteStore: FederationStore {
    public func openRound(_ round: NewRound, ledgerLength: Int) async throws -> RoundOpening {
        try await pool.write { db in
            if let refusal = try RoundOpeningCheck.refusal(openRoundID: db.scalar(Int.self, Self.sql.openRoundID),
                                                           roundCount: db.scalar(Int.self, Self.sql.roundCount), ledgerLength: ledgerLength) {
                return refusal
            }
            let opened = RoundOpeningCheck.opened(round, lastRoundID: try db.scalar(Int.self, Self.sql.lastRoundID))
            try db.execute(Self.sql.insertRound(opened))
            return .opened(opened)
        }
    }

    public func rounds() async throws -> [StoredRound] {
        try await pool.read { db in try db.fetchAll(Self.sql.rounds).map(StoreRows.round) }
    }

    public func round(id: Int) async throws -> StoredRound? {
        try await pool.read { db in try db.fetchOne(Self.sql.round(id: id)).map(StoreRows.round) }
    }

    public func openRound() async throws -> StoredRound? {
        try await pool.read { db in try db.fetchOne(Self.sql.openRound).map(StoreRows.round) }
    }

    public func privacyLedger() async throws -> [LedgerRound] {
        try await pool.read { db in try db.fetchAll(Self.sql.privacyLedger).map(StoreRows.ledgerRound) }
    }

    public func storeUpdate(_ update: IncomingUpdate) async throws -> UpdateStoreResult {
        do {
            return try await pool.write { db in
                guard try db.changes(Self.sql.insertNonce(deviceID: update.deviceID, nonce: update.nonce, seenAt: update.receivedAt)) == 1 else {
                    throw StoreAbort.update(.nonceReplayed)
                }
                let stored = try db.fetchOne(Self.sql.update(roundID: update.roundID, deviceID: update.deviceID))
                if let resend = try UpdateIntake.resend(of: update, stored: stored) { return resend }
                if let refusal = try UpdateIntake.refusal(of: update, round: db.fetchOne(Self.sql.roundAcceptingUpdates(id: update.roundID)),
                                                          storedOther: stored != nil) {
                    throw StoreAbort.update(refusal)
                }
                try db.execute(Self.sql.insertUpdate(update))
                return .stored(receipt: update.receipt, count: try db.scalar(Int.self, Self.sql.updateCount(roundID: update.roundID)) ?? 0)
            }
        } catch let StoreAbort.update(answer) {
            return answer
        }
    }

    public func updates(roundID: Int) async throws -> [StoredUpdate] {
        try await pool.read { db in try db.fetchAll(Self.sql.updates(roundID: roundID)).map(StoreRows.update) }
    }

    public func closeRound(id: Int, state: RoundState, outcome: [UInt8], at time: Date, release: NewModelRelease?,
                           verdicts: [String: String]) async throws -> Bool {
        try await pool.write { db in
            guard try db.changes(Self.sql.closeRound(id: id, state: state, outcome: outcome, at: time)) == 1 else { return false }
            try db.apply(StoreChange.closeRound(id: id, at: time, release: release, verdicts: verdicts, sql: Self.sql))
            return true
        }
    }

    public func modelReleases() async throws -> [StoredModelRelease] {
        try await pool.read { db in try db.fetchAll(Self.sql.modelReleases).map(StoreRows.modelRelease) }
    }

    public func modelRelease(version: Int) async throws -> StoredModelRelease? {
        try await pool.read { db in try db.fetchOne(Self.sql.modelRelease(version: version)).map(StoreRows.modelRelease) }
    }

    public func modelRollouts() async throws -> [StoredModelRollout] {
        try await pool.read { db in try db.fetchAll(Self.sql.modelRollouts).map(StoreRows.modelRollout) }
    }

    public func modelRollout(version: Int) async throws -> StoredModelRollout? {
        try await pool.read { db in try db.fetchOne(Self.sql.modelRollout(version: version)).map(StoreRows.modelRollout) }
    }

    public func transitionModelRollout(version: Int, from: Set<RolloutState>, to next: StoredModelRollout,
                                       actor: String) async throws -> Bool {
        try await pool.write { db in
            let stored = try db.fetchOne(Self.sql.modelRolloutState(version: version))
            guard let change = try RolloutWorkflow.transition(version: version, releaseExists: stored != nil,
                                                              storedState: try stored?.optionalText("state"), from: from, to: next,
                                                              actor: actor, sql: Self.sql) else { return false }
            try db.apply(change)
            return true
        }
    }
}
