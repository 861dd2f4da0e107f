import FeedbackWire
import Foundation

/// Versioned pseudonymisation keys and kiosks' re-keying on PostgreSQL.
extension PostgresStore {
    public func jurisdictionKey(jurisdiction: String, version: Int) async throws -> JurisdictionKey? {
        try await read { db in
            try await db.fetchOne(Self.sql.jurisdictionKey(jurisdiction: jurisdiction, version: version)).map(StoreRows.jurisdictionKey)
        }
    }

    public func rotatePseudonymKey(jurisdiction: String, key: [UInt8], actor: String, at time: Date) async throws -> JurisdictionKey? {
        try await write { db in
            // The jurisdiction's row lock numbers two nodes' rotations one after the other.
            guard try await db.exists(Self.sql.lockJurisdiction(name: jurisdiction)) else { return nil }
            let current = try await db.scalar(Int.self, Self.sql.currentKeyVersion(jurisdiction: jurisdiction)) ?? 0
            let next = JurisdictionKey(jurisdiction: jurisdiction, version: current + 1, key: key, createdAt: time)
            try await db.apply(StoreChange([Self.sql.insertJurisdictionKey(next)],
                                           audit: [try PendingAuditEntry(.pseudonymKeyRotated, actor: actor,
                                                                         details: StoreAuditDetails.pseudonymKeyRotated(
                                                                             jurisdiction: jurisdiction, version: next.version),
                                                                         at: time)]))
            return next
        }
    }

    public func rekeyPseudonyms(_ rekey: PseudonymRekeyRequest, deviceID: String, at time: Date) async throws -> PseudonymRekeyResult {
        try await write { db in
            // Consent events change subject: no batch may decide on them meanwhile.
            try await AdvisoryLock.consent(exclusive: true, in: db)
            var result = PseudonymRekeyResult(pairs: rekey.pairs.count)
            // The impostor groups of the statistics follow the pseudonym, and either subject's
            // restriction may change with the consent events moved: out before, back in after.
            var statistics = StatisticsDelta()
            for pair in rekey.pairs {
                let subjects = Array(Set([pair.from, pair.to])).sorted()
                try await Self.recount(subjects, adding: false, into: &statistics, in: db)
                var changes: [Int] = []
                for statement in Self.sql.rekey(pair, in: rekey) { changes.append(try await db.changes(statement)) }
                result.add(changes: changes)
                try await Self.recount(subjects, adding: true, into: &statistics, in: db)
            }
            try await Self.flush(statistics, in: db)
            try await db.apply(StoreChange([], audit: [try PendingAuditEntry(
                .pseudonymsRekeyed, actor: "device:\(deviceID)",
                details: StoreAuditDetails.pseudonymsRekeyed(rekey, deviceID: deviceID, result: result), at: time)]))
            return result
        }
    }
}
