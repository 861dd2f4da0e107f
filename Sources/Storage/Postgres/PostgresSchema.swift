import Compliance
import Foundation

/// Append-only migrations of the PostgreSQL database, applied under an advisory lock so that
/// nodes starting together apply each once. Never edit a registered step; add one. The
/// tables are the SQLite file's, defined once for both (`StoreTables`; times are seconds
/// since 1970 as double precision), so `faceloop admin migrate-store` copies rows column by
/// column.
enum PostgresSchema {
    struct Migration {
        var name: String
        var statements: [String]
        /// Run after the statements, in the step's transaction: what SQL alone cannot compute.
        var fill: (@Sendable (SQLConnection) async throws -> Void)? = nil
    }

    static let migrations: [Migration] = [
        Migration(name: "v1-initial", statements: [
            StoreTables.devices.create(.postgres, before: "reported_backlog"),
            StoreTables.enrollmentTokens.create(.postgres, before: "sites"),
            StoreTables.apiTokens.create(.postgres),
            StoreTables.batches.create(.postgres),
            StoreTables.outcomes.create(.postgres, before: "shadow_model_version"),
            StoreTables.outcomes.createIndex("outcomes_by_cohort"),
            StoreTables.outcomes.createIndex("outcomes_by_subject"),
            StoreTables.outcomes.createIndex("outcomes_by_batch"),
            StoreTables.outcomes.createIndex("outcomes_by_time"),
            StoreTables.nonces.create(.postgres),
            StoreTables.nonces.createIndex("nonces_by_time"),
            StoreTables.thresholdReleases.create(.postgres, before: "computed_by_token"),
        ] + StoreTables.createFederation(.postgres) + [
            // At most one open round, whichever node opens it.
            "CREATE UNIQUE INDEX one_open_round ON federation_rounds ((state)) WHERE state = 'open'",
        ] + StoreTables.createCompliance(.postgres)),
        Migration(name: "v2-kiosk-backlog-and-refusals", statements:
            StoreTables.addKioskBacklogAndRefusals(.postgres) + [
                // Batches stored before this step list their refusals only in their receipts.
                """
                INSERT INTO refused_event_counts (device_id, reason, events)
                SELECT b.device_id, r.value ->> 'reason', COUNT(*)
                FROM batches b, jsonb_array_elements(convert_from(b.receipt, 'UTF8')::jsonb -> 'refused_events') r
                WHERE length(b.receipt) > 0 AND jsonb_typeof(convert_from(b.receipt, 'UTF8')::jsonb -> 'refused_events') = 'array'
                GROUP BY b.device_id, r.value ->> 'reason'
                """,
            ]),
        Migration(name: "v3-privacy-review", statements: StoreTables.privacyReview(.postgres)),
        Migration(name: "v4-model-rollout", statements: StoreTables.modelRollout(.postgres)),
        Migration(name: "v5-withdrawal-block-time", statements: StoreTables.withdrawalBlockTime(.postgres)),
        Migration(name: "v6-device-sites", statements: StoreTables.deviceSiteBinding(.postgres)),
        Migration(name: "v7-web-sessions", statements: StoreTables.webSessionTable(.postgres)),
        Migration(name: "v8-device-certificates", statements: StoreTables.deviceCertificateTable(.postgres)),
        Migration(name: "v9-jurisdiction-key-versions", statements: StoreTables.jurisdictionKeyVersions(.postgres)),
        Migration(name: "v10-server-keys", statements: StoreTables.serverKeyTable(.postgres)),
        Migration(name: "v11-score-statistics", statements: StoreTables.scoreStatisticsTables(.postgres),
                  fill: { db in try await PostgresStore.fillScoreStatistics(in: db) }),
        Migration(name: "v12-shadow-scores", statements: StoreTables.shadowScoresColumn(.postgres)),
        Migration(name: "v13-policy-searches", statements: StoreTables.policySearchTablesPostgres()),
        Migration(name: "v14-batches-by-arrival", statements: [StoreTables.batches.createIndex("batches_by_arrival")]),
        // Outcomes partitioned by month of attempt (`OutcomeMonth`), so that retention drops
        // whole months. The rows are copied into the new table and its indexes built after.
        Migration(name: "v15-outcomes-by-month", statements: [
            "ALTER TABLE outcomes RENAME TO outcomes_unpartitioned",
            "ALTER INDEX outcomes_pkey RENAME TO outcomes_unpartitioned_pkey",
            "ALTER TABLE outcomes_unpartitioned DROP CONSTRAINT outcomes_batch_id_fkey",
        ] + StoreTables.outcomes.indexes.map { "DROP INDEX \($0.name)" } + [
            StoreTables.outcomes.createPartitioned(byRangeOf: "attempted_at"),
            "CREATE TABLE \(OutcomeMonth.defaultPartition) PARTITION OF outcomes DEFAULT",
        ], fill: { db in try await PostgresStore.moveOutcomesIntoMonths(in: db) }),
        // The statistics' day-row changes each transaction wrote, for every node's kept windows
        // (`PostgresStatisticsWindows`); the snapshots the log is pruned by; and what a window
        // read earlier must check before it applies changes.
        Migration(name: "v16-statistics-changes", statements: [
            """
            CREATE TABLE statistics_changes (
                xid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
                model_version TEXT NOT NULL,
                camera_model TEXT NOT NULL,
                site TEXT NOT NULL,
                day BIGINT NOT NULL,
                change BYTEA NOT NULL
            )
            """,
            "CREATE INDEX statistics_changes_by_xid ON statistics_changes (xid)",
            "CREATE TABLE statistics_changes_snapshots (taken_at DOUBLE PRECISION NOT NULL, snapshot TEXT NOT NULL)",
            """
            CREATE TABLE statistics_changes_horizon (
                id BIGINT PRIMARY KEY CHECK (id = 1),
                pruned_before DOUBLE PRECISION NOT NULL,
                generation BIGINT NOT NULL
            )
            """,
            "INSERT INTO statistics_changes_horizon (id, pruned_before, generation) VALUES (1, 0, 0)",
        ]),
        // Nothing reads outcomes by cohort since the live statistics; the index cost every insert.
        Migration(name: "v17-no-cohort-index", statements: [StoreTables.dropRetiredOutcomeIndex]),
        Migration(name: "v18-consent-limits", statements: [StoreTables.consentLimitsIndex]),
    ]

    /// Rows every new database starts with (as the SQLite file does): the default jurisdiction
    /// with a key of its own, and its retention rules.
    static func seed(in sql: SQLConnection) async throws {
        try await sql.execute("""
            INSERT INTO jurisdictions (name, data_region, biometric_law, request_days, pseudonym_key)
            VALUES (?, 'unspecified', NULL, 30, ?) ON CONFLICT (name) DO NOTHING
            """, JurisdictionRecord.defaultName, Pseudonymizer.generateKey())
        for (purpose, days) in RetentionRule.defaults {
            try await sql.execute("""
                INSERT INTO retention_rules (jurisdiction, purpose, days) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
                """, JurisdictionRecord.defaultName, purpose.rawValue, days)
        }
    }

    /// Every table, parents before children: the order `migrate-store` copies in.
    static let tables = StoreTables.all.map(\.name)
}
