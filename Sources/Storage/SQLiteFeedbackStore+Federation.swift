import Foundation
import GRDB

/// Federated rounds, updates and model releases in the same SQLite file as the outcomes.
extension SQLiteFeedbackStore: FederationStore {
    private enum UpdateAbort: Error {
        case update(UpdateStoreResult)
    }

    private static let roundColumns = """
        r.*, (SELECT COUNT(*) FROM federation_updates u WHERE u.round_id = r.round_id) AS update_count
        """

    public func openRound(_ round: NewRound, ledgerLength: Int) async throws -> RoundOpening {
        try await pool.write { db in
            if let open = try Int.fetchOne(db, sql: "SELECT round_id FROM federation_rounds WHERE state = 'open'") {
                return .anotherRoundOpen(open)
            }
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM federation_rounds") == ledgerLength else { return .ledgerChanged }
            let id = (try Int.fetchOne(db, sql: "SELECT MAX(round_id) FROM federation_rounds") ?? 0) + 1
            try db.execute(sql: """
                INSERT INTO federation_rounds (round_id, state, base_version, sampling_rate, noise_multiplier, deadline,
                                               specification, opened_at, opened_by)
                VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, round.baseVersion, round.samplingRate, round.noiseMultiplier,
                                 round.deadline.timeIntervalSince1970, Data(round.specification),
                                 round.openedAt.timeIntervalSince1970, round.openedBy])
            return .opened(StoredRound(id: id, state: .open, baseVersion: round.baseVersion, samplingRate: round.samplingRate,
                                       noiseMultiplier: round.noiseMultiplier, deadline: round.deadline,
                                       specification: round.specification, openedAt: round.openedAt, openedBy: round.openedBy,
                                       closedAt: nil, outcome: nil, updateCount: 0))
        }
    }

    public func rounds() async throws -> [StoredRound] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.roundColumns) FROM federation_rounds r ORDER BY round_id").map(Self.round(from:))
        }
    }

    public func round(id: Int) async throws -> StoredRound? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.roundColumns) FROM federation_rounds r WHERE round_id = ?", arguments: [id])
                .map(Self.round(from:))
        }
    }

    public func openRound() async throws -> StoredRound? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.roundColumns) FROM federation_rounds r WHERE state = 'open'").map(Self.round(from:))
        }
    }

    public func privacyLedger() async throws -> [LedgerRound] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT sampling_rate, noise_multiplier FROM federation_rounds ORDER BY round_id").map {
                LedgerRound(samplingRate: $0[0], noiseMultiplier: $0[1])
            }
        }
    }

    public func storeUpdate(_ update: IncomingUpdate) async throws -> UpdateStoreResult {
        do {
            return try await pool.write { db in
                do {
                    try db.execute(sql: "INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?, ?, ?)",
                                   arguments: [update.deviceID, update.nonce, update.receivedAt.timeIntervalSince1970])
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    throw UpdateAbort.update(.nonceReplayed)
                }
                let existing = try Row.fetchOne(db, sql: """
                    SELECT content_digest, receipt FROM federation_updates WHERE round_id = ? AND device_id = ?
                    """, arguments: [update.roundID, update.deviceID])
                // A retry of the same bytes gets its receipt even after the round closed.
                if let existing, existing["content_digest"] as String == update.contentDigest {
                    let receipt: Data = existing["receipt"]
                    return .alreadyStored(receipt: [UInt8](receipt))
                }
                guard let round = try Row.fetchOne(db, sql: "SELECT state, deadline FROM federation_rounds WHERE round_id = ?",
                                                   arguments: [update.roundID]) else {
                    throw UpdateAbort.update(.noSuchRound)
                }
                let state = RoundState(rawValue: round["state"]) ?? .cancelled
                guard state == .open else { throw UpdateAbort.update(.roundClosed(state)) }
                let deadline = Date(timeIntervalSince1970: round["deadline"])
                guard update.receivedAt <= deadline else { throw UpdateAbort.update(.late(deadline: deadline)) }
                guard existing == nil else { throw UpdateAbort.update(.conflict) }
                try db.execute(sql: """
                    INSERT INTO federation_updates (round_id, device_id, content_digest, body, signature_input, signature,
                                                    received_at, receipt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [update.roundID, update.deviceID, update.contentDigest, Data(update.body),
                                     update.signatureInput, update.signature, update.receivedAt.timeIntervalSince1970,
                                     Data(update.receipt)])
                let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM federation_updates WHERE round_id = ?",
                                             arguments: [update.roundID]) ?? 0
                return .stored(receipt: update.receipt, count: count)
            }
        } catch let UpdateAbort.update(result) {
            return result
        }
    }

    public func updates(roundID: Int) async throws -> [StoredUpdate] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT device_id, body, received_at, verdict FROM federation_updates WHERE round_id = ? ORDER BY device_id
                """, arguments: [roundID]).map {
                StoredUpdate(deviceID: $0["device_id"], body: [UInt8]($0["body"] as Data),
                             receivedAt: Date(timeIntervalSince1970: $0["received_at"]), verdict: $0["verdict"])
            }
        }
    }

    public func closeRound(id: Int, state: RoundState, outcome: [UInt8], at time: Date, release: NewModelRelease?,
                           verdicts: [String: String]) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE federation_rounds SET state = ?, outcome = ?, closed_at = ? WHERE round_id = ? AND state = 'open'",
                           arguments: [state.rawValue, Data(outcome), time.timeIntervalSince1970, id])
            guard db.changesCount == 1 else { return false }
            for (deviceID, verdict) in verdicts {
                try db.execute(sql: StoreQueries.setUpdateVerdict, arguments: [verdict, id, deviceID])
            }
            try db.execute(sql: "UPDATE federation_updates SET body = X'' WHERE round_id = ?", arguments: [id])
            if let release {
                try db.execute(sql: "INSERT INTO model_releases (version, round_id, payload, envelope, published_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [release.version, id, Data(release.payload), Data(release.envelope), time.timeIntervalSince1970])
                try Self.appendAudit(kind: .releasePublished, actor: "system:round-closer",
                                     details: StoreAuditDetails.modelPublication(version: release.version, roundID: id,
                                                                                 envelope: release.envelope),
                                     at: time, in: db)
            }
            return true
        }
    }

    public func modelReleases() async throws -> [StoredModelRelease] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM model_releases ORDER BY version").map(Self.modelRelease(from:))
        }
    }

    public func modelRelease(version: Int) async throws -> StoredModelRelease? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM model_releases WHERE version = ?", arguments: [version]).map(Self.modelRelease(from:))
        }
    }

    static func round(from row: Row) -> StoredRound {
        StoredRound(id: row["round_id"], state: RoundState(rawValue: row["state"]) ?? .cancelled, baseVersion: row["base_version"],
                    samplingRate: row["sampling_rate"], noiseMultiplier: row["noise_multiplier"],
                    deadline: Date(timeIntervalSince1970: row["deadline"]), specification: [UInt8](row["specification"] as Data),
                    openedAt: Date(timeIntervalSince1970: row["opened_at"]), openedBy: row["opened_by"],
                    closedAt: (row["closed_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    outcome: (row["outcome"] as Data?).map { [UInt8]($0) }, updateCount: row["update_count"])
    }

    static func modelRelease(from row: Row) -> StoredModelRelease {
        StoredModelRelease(version: row["version"], roundID: row["round_id"], payload: [UInt8](row["payload"] as Data),
                           envelope: [UInt8](row["envelope"] as Data), publishedAt: Date(timeIntervalSince1970: row["published_at"]))
    }
}
