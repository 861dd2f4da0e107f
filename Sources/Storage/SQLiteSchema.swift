import Compliance
import Foundation
import GRDB

/// Append-only migrations of the server's SQLite file. Never edit a registered step; add one.
/// The tables are defined once for both back ends (`StoreTables`); the steps say when each
/// table, column and index came.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-feedback-path") { db in
            try db.execute([
                StoreTables.devices.create(.sqlite, before: "reported_backlog"),
                StoreTables.enrollmentTokens.create(.sqlite, before: "sites"),
                StoreTables.apiTokens.create(.sqlite, before: "revoked_at"),
                StoreTables.batches.create(.sqlite, before: "redacted_at"),
                StoreTables.outcomes.create(.sqlite, before: "shadow_model_version"),
                StoreTables.outcomes.createIndex("outcomes_by_cohort"),
                StoreTables.outcomes.createIndex("outcomes_by_subject"),
                StoreTables.outcomes.createIndex("outcomes_by_batch"),
                StoreTables.nonces.create(.sqlite),
                StoreTables.nonces.createIndex("nonces_by_time"),
            ])
        }
        migrator.registerMigration("v2-threshold-releases") { db in
            try db.execute([
                StoreTables.thresholdReleases.create(.sqlite, before: "computed_by_token"),
                StoreTables.outcomes.createIndex("outcomes_by_time"),
            ])
        }
        migrator.registerMigration("v3-federation") { db in
            try db.execute(StoreTables.createFederation(.sqlite))
        }
        migrator.registerMigration("v4-compliance") { db in
            try db.execute(StoreTables.createCompliance(.sqlite)
                + StoreTables.batches.addColumns(.sqlite, "redacted_at") + StoreTables.apiTokens.addColumns(.sqlite, "revoked_at"))
            // Every server starts with one jurisdiction, so that kiosks of unregistered sites
            // still pseudonymise under a key of their own server.
            try db.execute(sql: """
                INSERT INTO jurisdictions (name, data_region, biometric_law, request_days, pseudonym_key)
                VALUES (?, 'unspecified', NULL, 30, ?)
                """, arguments: [JurisdictionRecord.defaultName, Data(Pseudonymizer.generateKey())])
            for (purpose, days) in RetentionRule.defaults {
                try db.execute(sql: "INSERT INTO retention_rules (jurisdiction, purpose, days) VALUES (?, ?, ?)",
                               arguments: [JurisdictionRecord.defaultName, purpose.rawValue, days])
            }
        }
        migrator.registerMigration("v5-kiosk-backlog-and-refusals") { db in
            try db.execute(StoreTables.addKioskBacklogAndRefusals(.sqlite))
            // Batches stored before this step list their refusals only in their receipts.
            try db.execute(sql: """
                INSERT INTO refused_event_counts (device_id, reason, events)
                SELECT b.device_id, json_extract(r.value, '$.reason'), COUNT(*)
                FROM batches b, json_each(CAST(b.receipt AS TEXT), '$.refused_events') r
                WHERE length(b.receipt) > 0
                GROUP BY b.device_id, json_extract(r.value, '$.reason')
                """)
        }
        migrator.registerMigration("v6-privacy-review") { db in
            try db.execute(StoreTables.privacyReview(.sqlite))
        }
        migrator.registerMigration("v7-model-rollout") { db in
            try db.execute(StoreTables.modelRollout(.sqlite))
        }
        migrator.registerMigration("v8-withdrawal-block-time") { db in
            try db.execute(StoreTables.withdrawalBlockTime(.sqlite))
        }
        migrator.registerMigration("v9-device-sites") { db in
            try db.execute(StoreTables.deviceSiteBinding(.sqlite))
        }
        migrator.registerMigration("v10-web-sessions") { db in
            try db.execute(StoreTables.webSessionTable(.sqlite))
        }
        migrator.registerMigration("v11-device-certificates") { db in
            try db.execute(StoreTables.deviceCertificateTable(.sqlite))
        }
        migrator.registerMigration("v12-jurisdiction-key-versions") { db in
            try db.execute(StoreTables.jurisdictionKeyVersions(.sqlite))
        }
        migrator.registerMigration("v13-server-keys") { db in
            try db.execute(StoreTables.serverKeyTable(.sqlite))
        }
        migrator.registerMigration("v14-score-statistics") { db in
            try db.execute(StoreTables.scoreStatisticsTables(.sqlite))
            try SQLiteStore.fillScoreStatistics(in: db)
        }
        migrator.registerMigration("v15-shadow-scores") { db in
            try db.execute(StoreTables.shadowScoresColumn(.sqlite))
        }
        migrator.registerMigration("v16-policy-searches") { db in
            try db.execute(StoreTables.policySearchTablesSQLite())
        }
        // Retention finds overdue outcomes by time: by attempt through outcomes_by_time, by arrival through this.
        migrator.registerMigration("v17-batches-by-arrival") { db in
            try db.execute(sql: StoreTables.batches.createIndex("batches_by_arrival"))
        }
        migrator.registerMigration("v18-statistics-revision") { db in
            try db.execute(sql: StoreTables.statisticsRevision.create(.sqlite))
            try db.execute(sql: "INSERT INTO statistics_revision (id, revision) VALUES (1, 0)")
        }
        // Nothing reads outcomes by cohort since the live statistics; the index cost every insert.
        migrator.registerMigration("v19-no-cohort-index") { db in
            try db.execute(sql: StoreTables.dropRetiredOutcomeIndex)
        }
        // Two fewer look-ups per outcome stored (no batch index, no reference to the batch).
        migrator.registerMigration("v20-outcomes-with-arrival") { db in
            try db.execute(StoreTables.rebuildOutcomesWithArrival())
        }
        migrator.registerMigration("v21-consent-limits") { db in
            try db.execute(sql: StoreTables.consentLimitsIndex)
        }
        return migrator
    }
}

private extension Database {
    func execute(_ statements: [String]) throws {
        for statement in statements { try execute(sql: statement) }
    }
}
