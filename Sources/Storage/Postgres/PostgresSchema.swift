import Compliance
import Foundation

/// Append-only migrations of the PostgreSQL database, applied under an advisory lock so that
/// nodes starting together apply each once. Never edit a registered step; add one. The
/// columns mirror the SQLite schema (times are seconds since 1970 as double precision), so
/// `faceloop admin migrate-store` copies rows column by column.
enum PostgresSchema {
    struct Migration {
        var name: String
        var statements: [String]
    }

    static let migrations: [Migration] = [
        Migration(name: "v1-initial", statements: [
            """
            CREATE TABLE devices (
                device_id TEXT PRIMARY KEY,
                status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
                signing_key BYTEA NOT NULL,
                certificate_der BYTEA NOT NULL,
                certificate_fingerprint TEXT NOT NULL UNIQUE,
                certificate_serial TEXT NOT NULL,
                certificate_not_after DOUBLE PRECISION NOT NULL,
                enrolled_at DOUBLE PRECISION NOT NULL,
                revoked_at DOUBLE PRECISION
            )
            """,
            """
            CREATE TABLE enrollment_tokens (
                token_sha256 TEXT PRIMARY KEY,
                device_id TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                redeemed_at DOUBLE PRECISION
            )
            """,
            """
            CREATE TABLE api_tokens (
                token_sha256 TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                label TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                revoked_at DOUBLE PRECISION
            )
            """,
            """
            CREATE TABLE batches (
                batch_id TEXT PRIMARY KEY,
                device_id TEXT NOT NULL REFERENCES devices(device_id),
                sequence BIGINT NOT NULL,
                content_digest TEXT NOT NULL,
                body BYTEA NOT NULL,
                signature_input TEXT NOT NULL,
                signature TEXT NOT NULL,
                received_at DOUBLE PRECISION NOT NULL,
                event_count BIGINT NOT NULL,
                receipt BYTEA NOT NULL,
                redacted_at DOUBLE PRECISION,
                UNIQUE (device_id, sequence)
            )
            """,
            """
            CREATE TABLE outcomes (
                event_id TEXT PRIMARY KEY,
                batch_id TEXT NOT NULL REFERENCES batches(batch_id),
                device_id TEXT NOT NULL,
                attempted_at DOUBLE PRECISION NOT NULL,
                model_version TEXT NOT NULL,
                threshold_version TEXT NOT NULL,
                site TEXT NOT NULL,
                camera_model TEXT NOT NULL,
                tags TEXT NOT NULL,
                score DOUBLE PRECISION NOT NULL,
                decision TEXT NOT NULL,
                label TEXT NOT NULL,
                label_source TEXT NOT NULL,
                face_size_px BIGINT NOT NULL,
                sharpness DOUBLE PRECISION NOT NULL,
                brightness DOUBLE PRECISION NOT NULL,
                liveness_score DOUBLE PRECISION,
                subject_pseudonym TEXT NOT NULL,
                consent_ref TEXT NOT NULL
            )
            """,
            "CREATE INDEX outcomes_by_cohort ON outcomes (model_version, site, camera_model)",
            "CREATE INDEX outcomes_by_subject ON outcomes (subject_pseudonym)",
            "CREATE INDEX outcomes_by_batch ON outcomes (batch_id)",
            "CREATE INDEX outcomes_by_time ON outcomes (attempted_at)",
            """
            CREATE TABLE nonces (
                device_id TEXT NOT NULL,
                nonce TEXT NOT NULL,
                seen_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (device_id, nonce)
            )
            """,
            "CREATE INDEX nonces_by_time ON nonces (seen_at)",
            """
            CREATE TABLE threshold_releases (
                version BIGINT PRIMARY KEY,
                state TEXT NOT NULL CHECK (state IN ('computed', 'approved', 'published', 'superseded', 'rolled_back')),
                payload BYTEA NOT NULL,
                refused BYTEA NOT NULL,
                largest_change DOUBLE PRECISION,
                required_approvals BIGINT NOT NULL,
                approvals TEXT NOT NULL,
                computed_at DOUBLE PRECISION NOT NULL,
                computed_by TEXT NOT NULL,
                published_at DOUBLE PRECISION,
                envelope BYTEA
            )
            """,
            """
            CREATE TABLE federation_rounds (
                round_id BIGINT PRIMARY KEY,
                state TEXT NOT NULL CHECK (state IN ('open', 'published', 'rejected', 'failed', 'cancelled')),
                base_version BIGINT NOT NULL,
                sampling_rate DOUBLE PRECISION NOT NULL,
                noise_multiplier DOUBLE PRECISION NOT NULL,
                deadline DOUBLE PRECISION NOT NULL,
                specification BYTEA NOT NULL,
                opened_at DOUBLE PRECISION NOT NULL,
                opened_by TEXT NOT NULL,
                closed_at DOUBLE PRECISION,
                outcome BYTEA
            )
            """,
            // At most one open round, whichever node opens it.
            "CREATE UNIQUE INDEX one_open_round ON federation_rounds ((state)) WHERE state = 'open'",
            """
            CREATE TABLE federation_updates (
                round_id BIGINT NOT NULL REFERENCES federation_rounds(round_id),
                device_id TEXT NOT NULL REFERENCES devices(device_id),
                content_digest TEXT NOT NULL,
                body BYTEA NOT NULL,
                signature_input TEXT NOT NULL,
                signature TEXT NOT NULL,
                received_at DOUBLE PRECISION NOT NULL,
                receipt BYTEA NOT NULL,
                PRIMARY KEY (round_id, device_id)
            )
            """,
            """
            CREATE TABLE model_releases (
                version BIGINT PRIMARY KEY,
                round_id BIGINT NOT NULL UNIQUE REFERENCES federation_rounds(round_id),
                payload BYTEA NOT NULL,
                envelope BYTEA NOT NULL,
                published_at DOUBLE PRECISION NOT NULL
            )
            """,
            """
            CREATE TABLE jurisdictions (
                name TEXT PRIMARY KEY,
                data_region TEXT NOT NULL,
                biometric_law TEXT,
                request_days BIGINT NOT NULL CHECK (request_days > 0),
                pseudonym_key BYTEA NOT NULL
            )
            """,
            """
            CREATE TABLE sites (
                site TEXT PRIMARY KEY,
                jurisdiction TEXT NOT NULL REFERENCES jurisdictions(name),
                public_place BOOLEAN NOT NULL
            )
            """,
            """
            CREATE TABLE retention_rules (
                jurisdiction TEXT NOT NULL REFERENCES jurisdictions(name),
                purpose TEXT NOT NULL,
                days BIGINT NOT NULL CHECK (days > 0),
                PRIMARY KEY (jurisdiction, purpose)
            )
            """,
            """
            CREATE TABLE consent_texts (
                purpose TEXT NOT NULL,
                version TEXT NOT NULL,
                language TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                effective_at DOUBLE PRECISION NOT NULL,
                material BOOLEAN NOT NULL,
                PRIMARY KEY (purpose, version, language)
            )
            """,
            """
            CREATE TABLE consent_events (
                arrival BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                event_id TEXT NOT NULL UNIQUE,
                device_id TEXT NOT NULL,
                batch_id TEXT NOT NULL,
                site TEXT NOT NULL,
                subject_pseudonym TEXT NOT NULL,
                purpose TEXT NOT NULL,
                kind TEXT NOT NULL,
                method TEXT NOT NULL,
                occurred_at DOUBLE PRECISION NOT NULL,
                received_at DOUBLE PRECISION NOT NULL,
                text_version TEXT NOT NULL,
                text_sha256 TEXT NOT NULL,
                refusal TEXT
            )
            """,
            "CREATE INDEX consent_by_subject ON consent_events (subject_pseudonym, purpose)",
            """
            CREATE TABLE erasures (
                erasure_id TEXT PRIMARY KEY,
                subject_pseudonym TEXT NOT NULL,
                purpose TEXT NOT NULL,
                cause TEXT NOT NULL CHECK (cause IN ('withdrawal', 'request', 'retention')),
                trigger_ref TEXT,
                requested_at DOUBLE PRECISION NOT NULL,
                erased_at DOUBLE PRECISION NOT NULL,
                outcomes_erased BIGINT NOT NULL,
                batches_redacted BIGINT NOT NULL,
                locations TEXT NOT NULL
            )
            """,
            "CREATE INDEX erasures_by_subject ON erasures (subject_pseudonym)",
            """
            CREATE TABLE subject_requests (
                request_id TEXT PRIMARY KEY,
                subject_pseudonym TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('access', 'erasure')),
                jurisdiction TEXT NOT NULL,
                received_at DOUBLE PRECISION NOT NULL,
                due_at DOUBLE PRECISION NOT NULL,
                completed_at DOUBLE PRECISION,
                result BYTEA
            )
            """,
            """
            CREATE TABLE audit_entries (
                idx BIGINT PRIMARY KEY,
                entry BYTEA NOT NULL,
                leaf_hash BYTEA NOT NULL
            )
            """,
            """
            CREATE TABLE audit_checkpoints (
                tree_size BIGINT PRIMARY KEY,
                checkpoint BYTEA NOT NULL
            )
            """,
        ]),
        Migration(name: "v2-kiosk-backlog-and-refusals", statements: [
            "ALTER TABLE devices ADD COLUMN reported_backlog BIGINT",
            "ALTER TABLE devices ADD COLUMN backlog_reported_at DOUBLE PRECISION",
            """
            CREATE TABLE refused_event_counts (
                device_id TEXT NOT NULL REFERENCES devices(device_id),
                reason TEXT NOT NULL,
                events BIGINT NOT NULL,
                PRIMARY KEY (device_id, reason)
            )
            """,
            // Batches stored before this step list their refusals only in their receipts.
            """
            INSERT INTO refused_event_counts (device_id, reason, events)
            SELECT b.device_id, r.value ->> 'reason', COUNT(*)
            FROM batches b, jsonb_array_elements(convert_from(b.receipt, 'UTF8')::jsonb -> 'refused_events') r
            WHERE length(b.receipt) > 0 AND jsonb_typeof(convert_from(b.receipt, 'UTF8')::jsonb -> 'refused_events') = 'array'
            GROUP BY b.device_id, r.value ->> 'reason'
            """,
        ]),
        Migration(name: "v3-privacy-review", statements: [
            "CREATE INDEX consent_by_device ON consent_events (device_id, site)",
            "ALTER TABLE federation_updates ADD COLUMN verdict TEXT",
            "ALTER TABLE threshold_releases ADD COLUMN computed_by_token TEXT",
            // Rounds closed before this step kept their raw updates; nothing needs them now.
            "UPDATE federation_updates SET body = ''::bytea WHERE round_id IN (SELECT round_id FROM federation_rounds WHERE state <> 'open')",
        ]),
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
    static let tables = [
        "devices", "enrollment_tokens", "api_tokens", "batches", "refused_event_counts", "outcomes", "nonces", "threshold_releases",
        "federation_rounds", "federation_updates", "model_releases", "jurisdictions", "sites", "retention_rules",
        "consent_texts", "consent_events", "erasures", "subject_requests", "audit_entries", "audit_checkpoints",
    ]
}
