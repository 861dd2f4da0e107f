import Compliance
import Foundation
import GRDB

/// Append-only migrations of the server's SQLite file. Never edit a registered step; add one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-feedback-path") { db in
            try db.execute(sql: """
                CREATE TABLE devices (
                    device_id TEXT PRIMARY KEY,
                    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
                    signing_key BLOB NOT NULL,
                    certificate_der BLOB NOT NULL,
                    certificate_fingerprint TEXT NOT NULL UNIQUE,
                    certificate_serial TEXT NOT NULL,
                    certificate_not_after REAL NOT NULL,
                    enrolled_at REAL NOT NULL,
                    revoked_at REAL
                );
                CREATE TABLE enrollment_tokens (
                    token_sha256 TEXT PRIMARY KEY,
                    device_id TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    expires_at REAL NOT NULL,
                    redeemed_at REAL
                );
                CREATE TABLE api_tokens (
                    token_sha256 TEXT PRIMARY KEY,
                    role TEXT NOT NULL,
                    label TEXT NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE TABLE batches (
                    batch_id TEXT PRIMARY KEY,
                    device_id TEXT NOT NULL REFERENCES devices(device_id),
                    sequence INTEGER NOT NULL,
                    content_digest TEXT NOT NULL,
                    body BLOB NOT NULL,
                    signature_input TEXT NOT NULL,
                    signature TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    event_count INTEGER NOT NULL,
                    receipt BLOB NOT NULL,
                    UNIQUE (device_id, sequence)
                );
                CREATE TABLE outcomes (
                    event_id TEXT PRIMARY KEY,
                    batch_id TEXT NOT NULL REFERENCES batches(batch_id),
                    device_id TEXT NOT NULL,
                    attempted_at REAL NOT NULL,
                    model_version TEXT NOT NULL,
                    threshold_version TEXT NOT NULL,
                    site TEXT NOT NULL,
                    camera_model TEXT NOT NULL,
                    tags TEXT NOT NULL,
                    score REAL NOT NULL,
                    decision TEXT NOT NULL,
                    label TEXT NOT NULL,
                    label_source TEXT NOT NULL,
                    face_size_px INTEGER NOT NULL,
                    sharpness REAL NOT NULL,
                    brightness REAL NOT NULL,
                    liveness_score REAL,
                    subject_pseudonym TEXT NOT NULL,
                    consent_ref TEXT NOT NULL
                );
                CREATE INDEX outcomes_by_cohort ON outcomes (model_version, site, camera_model);
                CREATE INDEX outcomes_by_subject ON outcomes (subject_pseudonym);
                CREATE INDEX outcomes_by_batch ON outcomes (batch_id);
                CREATE TABLE nonces (
                    device_id TEXT NOT NULL,
                    nonce TEXT NOT NULL,
                    seen_at REAL NOT NULL,
                    PRIMARY KEY (device_id, nonce)
                ) WITHOUT ROWID;
                CREATE INDEX nonces_by_time ON nonces (seen_at);
                """)
        }
        migrator.registerMigration("v2-threshold-releases") { db in
            try db.execute(sql: """
                CREATE TABLE threshold_releases (
                    version INTEGER PRIMARY KEY,
                    state TEXT NOT NULL CHECK (state IN ('computed', 'approved', 'published', 'superseded', 'rolled_back')),
                    payload BLOB NOT NULL,
                    refused BLOB NOT NULL,
                    largest_change REAL,
                    required_approvals INTEGER NOT NULL,
                    approvals TEXT NOT NULL,
                    computed_at REAL NOT NULL,
                    computed_by TEXT NOT NULL,
                    published_at REAL,
                    envelope BLOB
                );
                CREATE INDEX outcomes_by_time ON outcomes (attempted_at);
                """)
        }
        migrator.registerMigration("v3-federation") { db in
            try db.execute(sql: """
                CREATE TABLE federation_rounds (
                    round_id INTEGER PRIMARY KEY,
                    state TEXT NOT NULL CHECK (state IN ('open', 'published', 'rejected', 'failed', 'cancelled')),
                    base_version INTEGER NOT NULL,
                    sampling_rate REAL NOT NULL,
                    noise_multiplier REAL NOT NULL,
                    deadline REAL NOT NULL,
                    specification BLOB NOT NULL,
                    opened_at REAL NOT NULL,
                    opened_by TEXT NOT NULL,
                    closed_at REAL,
                    outcome BLOB
                );
                CREATE TABLE federation_updates (
                    round_id INTEGER NOT NULL REFERENCES federation_rounds(round_id),
                    device_id TEXT NOT NULL REFERENCES devices(device_id),
                    content_digest TEXT NOT NULL,
                    body BLOB NOT NULL,
                    signature_input TEXT NOT NULL,
                    signature TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    receipt BLOB NOT NULL,
                    PRIMARY KEY (round_id, device_id)
                );
                CREATE TABLE model_releases (
                    version INTEGER PRIMARY KEY,
                    round_id INTEGER NOT NULL UNIQUE REFERENCES federation_rounds(round_id),
                    payload BLOB NOT NULL,
                    envelope BLOB NOT NULL,
                    published_at REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4-compliance") { db in
            try db.execute(sql: """
                CREATE TABLE jurisdictions (
                    name TEXT PRIMARY KEY,
                    data_region TEXT NOT NULL,
                    biometric_law TEXT,
                    request_days INTEGER NOT NULL CHECK (request_days > 0),
                    pseudonym_key BLOB NOT NULL
                );
                CREATE TABLE sites (
                    site TEXT PRIMARY KEY,
                    jurisdiction TEXT NOT NULL REFERENCES jurisdictions(name),
                    public_place INTEGER NOT NULL
                );
                CREATE TABLE retention_rules (
                    jurisdiction TEXT NOT NULL REFERENCES jurisdictions(name),
                    purpose TEXT NOT NULL,
                    days INTEGER NOT NULL CHECK (days > 0),
                    PRIMARY KEY (jurisdiction, purpose)
                );
                CREATE TABLE consent_texts (
                    purpose TEXT NOT NULL,
                    version TEXT NOT NULL,
                    language TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    effective_at REAL NOT NULL,
                    material INTEGER NOT NULL,
                    PRIMARY KEY (purpose, version, language)
                );
                CREATE TABLE consent_events (
                    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id TEXT NOT NULL UNIQUE,
                    device_id TEXT NOT NULL,
                    batch_id TEXT NOT NULL,
                    site TEXT NOT NULL,
                    subject_pseudonym TEXT NOT NULL,
                    purpose TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    method TEXT NOT NULL,
                    occurred_at REAL NOT NULL,
                    received_at REAL NOT NULL,
                    text_version TEXT NOT NULL,
                    text_sha256 TEXT NOT NULL,
                    refusal TEXT
                );
                CREATE INDEX consent_by_subject ON consent_events (subject_pseudonym, purpose);
                CREATE TABLE erasures (
                    erasure_id TEXT PRIMARY KEY,
                    subject_pseudonym TEXT NOT NULL,
                    purpose TEXT NOT NULL,
                    cause TEXT NOT NULL CHECK (cause IN ('withdrawal', 'request', 'retention')),
                    trigger_ref TEXT,
                    requested_at REAL NOT NULL,
                    erased_at REAL NOT NULL,
                    outcomes_erased INTEGER NOT NULL,
                    batches_redacted INTEGER NOT NULL,
                    locations TEXT NOT NULL
                );
                CREATE INDEX erasures_by_subject ON erasures (subject_pseudonym);
                CREATE TABLE subject_requests (
                    request_id TEXT PRIMARY KEY,
                    subject_pseudonym TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('access', 'erasure')),
                    jurisdiction TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    due_at REAL NOT NULL,
                    completed_at REAL,
                    result BLOB
                );
                CREATE TABLE audit_entries (
                    idx INTEGER PRIMARY KEY,
                    entry BLOB NOT NULL,
                    leaf_hash BLOB NOT NULL
                );
                CREATE TABLE audit_checkpoints (
                    tree_size INTEGER PRIMARY KEY,
                    checkpoint BLOB NOT NULL
                );
                ALTER TABLE batches ADD COLUMN redacted_at REAL;
                ALTER TABLE api_tokens ADD COLUMN revoked_at REAL;
                """)
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
            try db.execute(sql: """
                ALTER TABLE devices ADD COLUMN reported_backlog INTEGER;
                ALTER TABLE devices ADD COLUMN backlog_reported_at REAL;
                CREATE TABLE refused_event_counts (
                    device_id TEXT NOT NULL REFERENCES devices(device_id),
                    reason TEXT NOT NULL,
                    events INTEGER NOT NULL,
                    PRIMARY KEY (device_id, reason)
                ) WITHOUT ROWID;
                """)
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
            try db.execute(sql: """
                CREATE INDEX consent_by_device ON consent_events (device_id, site);
                ALTER TABLE federation_updates ADD COLUMN verdict TEXT;
                ALTER TABLE threshold_releases ADD COLUMN computed_by_token TEXT;
                UPDATE federation_updates SET body = X''
                WHERE round_id IN (SELECT round_id FROM federation_rounds WHERE state <> 'open');
                """)
        }
        return migrator
    }
}
