import FeedbackWire
import Foundation
import GRDB

/// Versioned pseudonymisation keys and kiosks' re-keying on the single-node store.
extension SQLiteStore {
    public func jurisdictionKey(jurisdiction: String, version: Int) async throws -> JurisdictionKey? {
        try await pool.read { db in
            try db.fetchOne(Self.sql.jurisdictionKey(jurisdiction: jurisdiction, version: version)).map(StoreRows.jurisdictionKey)
        }
    }

    public func rotatePseudonymKey(jurisdiction: String, key: [UInt8], actor: String, at time: Date) async throws -> JurisdictionKey? {
        try await pool.write { db in
            guard try db.exists(Self.sql.lockJurisdiction(name: jurisdiction)) else { return nil }
            let next = JurisdictionKey(jurisdiction: jurisdiction,
                                       version: (try db.scalar(Int.self, Self.sql.currentKeyVersion(jurisdiction: jurisdiction)) ?? 0) + 1,
                                       key: key, createdAt: time)
            try db.apply(StoreChange([Self.sql.insertJurisdictionKey(next)],
                                     audit: [try PendingAuditEntry(.pseudonymKeyRotated, actor: actor,
                                                                   details: StoreAuditDetails.pseudonymKeyRotated(
                                                                       jurisdiction: jurisdiction, version: next.version),
                                                                   at: time)]))
            return next
        }
    }

    public func rekeyPseudonyms(_ rekey: PseudonymRekeyRequest, deviceID: String, at time: Date) async throws -> PseudonymRekeyResult {
        try await pool.write { db in
            var result = PseudonymRekeyResult(pairs: rekey.pairs.count)
            // The impostor groups of the statistics follow the pseudonym, and either subject's
            // restriction may change with the consent events moved: out before, back in after.
            var statistics = StatisticsDelta()
            for pair in rekey.pairs {
                let subjects = Array(Set([pair.from, pair.to])).sorted()
                try Self.recount(subjects, adding: false, into: &statistics, in: db)
                result.add(changes: try Self.sql.rekey(pair, in: rekey).map { try db.changes($0) })
                try Self.recount(subjects, adding: true, into: &statistics, in: db)
            }
            try Self.flush(statistics, in: db, windows: self.statisticsWindows)
            try db.appendAudit([try PendingAuditEntry(.pseudonymsRekeyed, actor: "device:\(deviceID)",
                                                      details: StoreAuditDetails.pseudonymsRekeyed(rekey, deviceID: deviceID, result: result),
                                                      at: time)])
            return result
        }
    }
}
