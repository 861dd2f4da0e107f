import Foundation

/// Federated rounds, updates and model releases in the same database as the outcomes.
extension PostgresStore: FederationStore {
    public func openRound(_ round: NewRound, ledgerLength: Int) async throws -> RoundOpening {
        try await write { db in
            // The ledger check and the insert must see the same rounds on every node.
            try await db.execute("SELECT pg_advisory_xact_lock(?)", AdvisoryLock.federationRounds)
            let openRoundID = try await db.scalar(Int.self, Self.sql.openRoundID)
            let roundCount = try await db.scalar(Int.self, Self.sql.roundCount)
            if let refusal = RoundOpeningCheck.refusal(openRoundID: openRoundID, roundCount: roundCount, ledgerLength: ledgerLength) {
                return refusal
            }
            let opened = RoundOpeningCheck.opened(round, lastRoundID: try await db.scalar(Int.self, Self.sql.lastRoundID))
            try await db.execute(Self.sql.insertRound(opened))
            return .opened(opened)
        }
    }

    public func rounds() async throws -> [StoredRound] {
        try await read { db in try await db.fetchAll(Self.sql.rounds).map(StoreRows.round) }
    }

    public func round(id: Int) async throws -> StoredRound? {
        try await read { db in try await db.fetchOne(Self.sql.round(id: id)).map(StoreRows.round) }
    }

    public func openRound() async throws -> StoredRound? {
        try await single { db in try await db.fetchOne(Self.sql.openRound).map(StoreRows.round) }
    }

    public func privacyLedger() async throws -> [LedgerRound] {
        try await read { db in try await db.fetchAll(Self.sql.privacyLedger).map(StoreRows.ledgerRound) }
    }

    public func storeUpdate(_ update: IncomingUpdate) async throws -> UpdateStoreResult {
        do {
            return try await write { db in
                try await AdvisoryLock.device(update.deviceID, in: db)
                let nonce = Self.sql.insertNonce(deviceID: update.deviceID, nonce: update.nonce, seenAt: update.receivedAt)
                guard try await db.changes(nonce) == 1 else { throw StoreAbort.update(.nonceReplayed) }
                let stored = try await db.fetchOne(Self.sql.update(roundID: update.roundID, deviceID: update.deviceID))
                if let resend = try UpdateIntake.resend(of: update, stored: stored) { return resend }
                let round = try await db.fetchOne(Self.sql.roundAcceptingUpdates(id: update.roundID))
                if let refusal = try UpdateIntake.refusal(of: update, round: round, storedOther: stored != nil) {
                    throw StoreAbort.update(refusal)
                }
                try await db.execute(Self.sql.insertUpdate(update))
                return .stored(receipt: update.receipt, count: try await db.scalar(Int.self, Self.sql.updateCount(roundID: update.roundID)) ?? 0)
            }
        } catch let StoreAbort.update(answer) {
            return answer
        }
    }

    public func updates(roundID: Int) async throws -> [StoredUpdate] {
        try await read { db in try await db.fetchAll(Self.sql.updates(roundID: roundID)).map(StoreRows.update) }
    }

    public func closeRound(id: Int, state: RoundState, outcome: [UInt8], at time: Date, release: NewModelRelease?,
                           verdicts: [String: String]) async throws -> Bool {
        try await write { db in
            guard try await db.changes(Self.sql.closeRound(id: id, state: state, outcome: outcome, at: time)) == 1 else { return false }
            try await db.apply(StoreChange.closeRound(id: id, at: time, release: release, verdicts: verdicts, sql: Self.sql))
            return true
        }
    }

    public func modelReleases() async throws -> [StoredModelRelease] {
        try await read { db in try await db.fetchAll(Self.sql.modelReleases).map(StoreRows.modelRelease) }
    }

    public func modelRelease(version: Int) async throws -> StoredModelRelease? {
        try await read { db in try await db.fetchOne(Self.sql.modelRelease(version: version)).map(StoreRows.modelRelease) }
    }

    public func modelRollouts() async throws -> [StoredModelRollout] {
        try await read { db in try await db.fetchAll(Self.sql.modelRollouts).map(StoreRows.modelRollout) }
    }

    public func modelRollout(version: Int) async throws -> StoredModelRollout? {
        try await read { db in try await db.fetchOne(Self.sql.modelRollout(version: version)).map(StoreRows.modelRollout) }
    }

    public func transitionModelRollout(version: Int, from: Set<RolloutState>, to next: StoredModelRollout,
                                       actor: String) async throws -> Bool {
        try await write { db in
            // A release without a rollout has no row to lock: two nodes moving rollouts take turns.
            try await db.execute("SELECT pg_advisory_xact_lock(?)", AdvisoryLock.modelRollouts)
            let stored = try await db.fetchOne(Self.sql.modelRolloutState(version: version))
            guard let change = try RolloutWorkflow.transition(version: version, releaseExists: stored != nil,
                                                              storedState: try stored?.optionalText("state"), from: from, to: next,
                                                              actor: actor, sql: Self.sql) else { return false }
            try await db.apply(change)
            return true
        }
    }
}
