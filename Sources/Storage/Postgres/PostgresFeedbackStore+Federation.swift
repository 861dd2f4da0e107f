import Foundation

/// Federated rounds, updates and model releases in the same database as the outcomes.
extension PostgresFeedbackStore: FederationStore {
    private enum UpdateAbort: Error {
        case update(UpdateStoreResult)
    }

    private static let roundColumns = """
        r.*, (SELECT COUNT(*) FROM federation_updates u WHERE u.round_id = r.round_id) AS update_count
        """

    public func openRound(_ round: NewRound, ledgerLength: Int) async throws -> RoundOpening {
        try await write { sql in
            // The ledger check and the insert must see the same rounds on every node.
            try await sql.execute("SELECT pg_advisory_xact_lock(?)", AdvisoryLock.federationRounds)
            if let open = try await sql.scalar(Int.self, "SELECT round_id FROM federation_rounds WHERE state = 'open'") {
                return .anotherRoundOpen(open)
            }
            guard try await sql.scalar(Int.self, "SELECT COUNT(*) FROM federation_rounds") == ledgerLength else { return .ledgerChanged }
            let id = (try await sql.scalar(Int.self, "SELECT MAX(round_id) FROM federation_rounds") ?? 0) + 1
            try await sql.execute("""
                INSERT INTO federation_rounds (round_id, state, base_version, sampling_rate, noise_multiplier, deadline,
                                               specification, opened_at, opened_by)
                VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?)
                """, id, round.baseVersion, round.samplingRate, round.noiseMultiplier, round.deadline, round.specification,
                                  round.openedAt, round.openedBy)
            return .opened(StoredRound(id: id, state: .open, baseVersion: round.baseVersion, samplingRate: round.samplingRate,
                                       noiseMultiplier: round.noiseMultiplier, deadline: round.deadline,
                                       specification: round.specification, openedAt: round.openedAt, openedBy: round.openedBy,
                                       closedAt: nil, outcome: nil, updateCount: 0))
        }
    }

    public func rounds() async throws -> [StoredRound] {
        try await read { sql in
            try await sql.fetchAll("SELECT \(Self.roundColumns) FROM federation_rounds r ORDER BY round_id").map(Self.round(from:))
        }
    }

    public func round(id: Int) async throws -> StoredRound? {
        try await read { sql in
            try await sql.fetchOne("SELECT \(Self.roundColumns) FROM federation_rounds r WHERE round_id = ?", id).map(Self.round(from:))
        }
    }

    public func openRound() async throws -> StoredRound? {
        try await single { sql in
            try await sql.fetchOne("SELECT \(Self.roundColumns) FROM federation_rounds r WHERE state = 'open'").map(Self.round(from:))
        }
    }

    public func privacyLedger() async throws -> [LedgerRound] {
        try await read { sql in
            try await sql.fetchAll("SELECT sampling_rate, noise_multiplier FROM federation_rounds ORDER BY round_id").map {
                LedgerRound(samplingRate: try $0("sampling_rate"), noiseMultiplier: try $0("noise_multiplier"))
            }
        }
    }

    public func storeUpdate(_ update: IncomingUpdate) async throws -> UpdateStoreResult {
        do {
            return try await write { sql in
                try await AdvisoryLock.device(update.deviceID, in: sql)
                guard try await sql.changes("INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                                            update.deviceID, update.nonce, update.receivedAt) == 1 else {
                    throw UpdateAbort.update(.nonceReplayed)
                }
                let existing = try await sql.fetchOne("""
                    SELECT content_digest, receipt FROM federation_updates WHERE round_id = ? AND device_id = ?
                    """, update.roundID, update.deviceID)
                // A retry of the same bytes gets its receipt even after the round closed.
                if let existing, try existing("content_digest", as: String.self) == update.contentDigest {
                    return .alreadyStored(receipt: try existing.bytes("receipt"))
                }
                // Shared row lock: the round cannot close between this check and the commit.
                guard let round = try await sql.fetchOne("SELECT state, deadline FROM federation_rounds WHERE round_id = ? FOR SHARE",
                                                         update.roundID) else {
                    throw UpdateAbort.update(.noSuchRound)
                }
                let state = RoundState(rawValue: try round("state", as: String.self)) ?? .cancelled
                guard state == .open else { throw UpdateAbort.update(.roundClosed(state)) }
                let deadline = try round.date("deadline")
                guard update.receivedAt <= deadline else { throw UpdateAbort.update(.late(deadline: deadline)) }
                guard existing == nil else { throw UpdateAbort.update(.conflict) }
                try await sql.execute("""
                    INSERT INTO federation_updates (round_id, device_id, content_digest, body, signature_input, signature,
                                                    received_at, receipt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, update.roundID, update.deviceID, update.contentDigest, update.body, update.signatureInput,
                                      update.signature, update.receivedAt, update.receipt)
                let count = try await sql.scalar(Int.self, "SELECT COUNT(*) FROM federation_updates WHERE round_id = ?", update.roundID) ?? 0
                return .stored(receipt: update.receipt, count: count)
            }
        } catch let UpdateAbort.update(result) {
            return result
        }
    }

    public func updates(roundID: Int) async throws -> [StoredUpdate] {
        try await read { sql in
            try await sql.fetchAll("""
                SELECT device_id, body, received_at, verdict FROM federation_updates WHERE round_id = ? ORDER BY device_id
                """, roundID).map {
                StoredUpdate(deviceID: try $0("device_id"), body: try $0.bytes("body"), receivedAt: try $0.date("received_at"),
                             verdict: try $0("verdict"))
            }
        }
    }

    public func closeRound(id: Int, state: RoundState, outcome: [UInt8], at time: Date, release: NewModelRelease?,
                           verdicts: [String: String]) async throws -> Bool {
        try await write { sql in
            guard try await sql.changes("""
                UPDATE federation_rounds SET state = ?, outcome = ?, closed_at = ? WHERE round_id = ? AND state = 'open'
                """, state.rawValue, outcome, time, id) == 1 else { return false }
            for (deviceID, verdict) in verdicts {
                try await sql.execute(StoreQueries.setUpdateVerdict, verdict, id, deviceID)
            }
            try await sql.execute("UPDATE federation_updates SET body = ''::bytea WHERE round_id = ?", id)
            if let release {
                try await sql.execute("INSERT INTO model_releases (version, round_id, payload, envelope, published_at) VALUES (?, ?, ?, ?, ?)",
                                      release.version, id, release.payload, release.envelope, time)
                try await Self.appendAudit(kind: .releasePublished, actor: "system:round-closer",
                                           details: StoreAuditDetails.modelPublication(version: release.version, roundID: id,
                                                                                       envelope: release.envelope),
                                           at: time, in: sql)
            }
            return true
        }
    }

    public func modelReleases() async throws -> [StoredModelRelease] {
        try await read { sql in try await sql.fetchAll("SELECT * FROM model_releases ORDER BY version").map(Self.modelRelease(from:)) }
    }

    public func modelRelease(version: Int) async throws -> StoredModelRelease? {
        try await read { sql in
            try await sql.fetchOne("SELECT * FROM model_releases WHERE version = ?", version).map(Self.modelRelease(from:))
        }
    }

    static func round(from row: SQLRow) throws -> StoredRound {
        StoredRound(id: try row("round_id"), state: RoundState(rawValue: try row("state", as: String.self)) ?? .cancelled,
                    baseVersion: try row("base_version"), samplingRate: try row("sampling_rate"),
                    noiseMultiplier: try row("noise_multiplier"), deadline: try row.date("deadline"),
                    specification: try row.bytes("specification"), openedAt: try row.date("opened_at"), openedBy: try row("opened_by"),
                    closedAt: try row.optionalDate("closed_at"), outcome: try row.optionalBytes("outcome"),
                    updateCount: try row("update_count"))
    }

    static func modelRelease(from row: SQLRow) throws -> StoredModelRelease {
        StoredModelRelease(version: try row("version"), roundID: try row("round_id"), payload: try row.bytes("payload"),
                           envelope: try row.bytes("envelope"), publishedAt: try row.date("published_at"))
    }
}
