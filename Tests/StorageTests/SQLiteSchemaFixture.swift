// Recorded by StoreSchemaTests (FACELOOP_RECORD_STORE_SCHEMA=1): the schema of a fresh store. Do not edit.

extension StoreSchemaFixture {
    static let sqlite: [String] = [
        #"""
        table grdb_migrations ON grdb_migrations
        CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)
        """#,
        #"""
        index sqlite_autoindex_grdb_migrations_1 ON grdb_migrations
        (no sql)
        """#,
        #"""
        table devices ON devices
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
        , reported_backlog INTEGER, backlog_reported_at REAL)
        """#,
        #"""
        index sqlite_autoindex_devices_1 ON devices
        (no sql)
        """#,
        #"""
        index sqlite_autoindex_devices_2 ON devices
        (no sql)
        """#,
        #"""
        table enrollment_tokens ON enrollment_tokens
        CREATE TABLE enrollment_tokens (
            token_sha256 TEXT PRIMARY KEY,
            device_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            redeemed_at REAL
        , sites TEXT)
        """#,
        #"""
        index sqlite_autoindex_enrollment_tokens_1 ON enrollment_tokens
        (no sql)
        """#,
        #"""
        table api_tokens ON api_tokens
        CREATE TABLE api_tokens (
            token_sha256 TEXT PRIMARY KEY,
            role TEXT NOT NULL,
            label TEXT NOT NULL,
            created_at REAL NOT NULL
        , revoked_at REAL)
        """#,
        #"""
        index sqlite_autoindex_api_tokens_1 ON api_tokens
        (no sql)
        """#,
        #"""
        table batches ON batches
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
            receipt BLOB NOT NULL, redacted_at REAL,
            UNIQUE (device_id, sequence)
        )
        """#,
        #"""
        index sqlite_autoindex_batches_1 ON batches
        (no sql)
        """#,
        #"""
        index sqlite_autoindex_batches_2 ON batches
        (no sql)
        """#,
        #"""
        table nonces ON nonces
        CREATE TABLE nonces (
            device_id TEXT NOT NULL,
            nonce TEXT NOT NULL,
            seen_at REAL NOT NULL,
            PRIMARY KEY (device_id, nonce)
        ) WITHOUT ROWID
        """#,
        #"""
        index nonces_by_time ON nonces
        CREATE INDEX nonces_by_time ON nonces (seen_at)
        """#,
        #"""
        table threshold_releases ON threshold_releases
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
        , computed_by_token TEXT)
        """#,
        #"""
        table federation_rounds ON federation_rounds
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
        )
        """#,
        #"""
        table federation_updates ON federation_updates
        CREATE TABLE federation_updates (
            round_id INTEGER NOT NULL REFERENCES federation_rounds(round_id),
            device_id TEXT NOT NULL REFERENCES devices(device_id),
            content_digest TEXT NOT NULL,
            body BLOB NOT NULL,
            signature_input TEXT NOT NULL,
            signature TEXT NOT NULL,
            received_at REAL NOT NULL,
            receipt BLOB NOT NULL, verdict TEXT,
            PRIMARY KEY (round_id, device_id)
        )
        """#,
        #"""
        index sqlite_autoindex_federation_updates_1 ON federation_updates
        (no sql)
        """#,
        #"""
        table jurisdictions ON jurisdictions
        CREATE TABLE jurisdictions (
            name TEXT PRIMARY KEY,
            data_region TEXT NOT NULL,
            biometric_law TEXT,
            request_days INTEGER NOT NULL CHECK (request_days > 0),
            pseudonym_key BLOB NOT NULL
        )
        """#,
        #"""
        index sqlite_autoindex_jurisdictions_1 ON jurisdictions
        (no sql)
        """#,
        #"""
        table sites ON sites
        CREATE TABLE sites (
            site TEXT PRIMARY KEY,
            jurisdiction TEXT NOT NULL REFERENCES jurisdictions(name),
            public_place INTEGER NOT NULL
        )
        """#,
        #"""
        index sqlite_autoindex_sites_1 ON sites
        (no sql)
        """#,
        #"""
        table retention_rules ON retention_rules
        CREATE TABLE retention_rules (
            jurisdiction TEXT NOT NULL REFERENCES jurisdictions(name),
            purpose TEXT NOT NULL,
            days INTEGER NOT NULL CHECK (days > 0),
            PRIMARY KEY (jurisdiction, purpose)
        )
        """#,
        #"""
        index sqlite_autoindex_retention_rules_1 ON retention_rules
        (no sql)
        """#,
        #"""
        table consent_texts ON consent_texts
        CREATE TABLE consent_texts (
            purpose TEXT NOT NULL,
            version TEXT NOT NULL,
            language TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            effective_at REAL NOT NULL,
            material INTEGER NOT NULL,
            PRIMARY KEY (purpose, version, language)
        )
        """#,
        #"""
        index sqlite_autoindex_consent_texts_1 ON consent_texts
        (no sql)
        """#,
        #"""
        table consent_events ON consent_events
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
        , blocked_at REAL, key_version INTEGER)
        """#,
        #"""
        index sqlite_autoindex_consent_events_1 ON consent_events
        (no sql)
        """#,
        #"""
        table sqlite_sequence ON sqlite_sequence
        CREATE TABLE sqlite_sequence(name,seq)
        """#,
        #"""
        index consent_by_subject ON consent_events
        CREATE INDEX consent_by_subject ON consent_events (subject_pseudonym, purpose)
        """#,
        #"""
        table erasures ON erasures
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
        )
        """#,
        #"""
        index sqlite_autoindex_erasures_1 ON erasures
        (no sql)
        """#,
        #"""
        index erasures_by_subject ON erasures
        CREATE INDEX erasures_by_subject ON erasures (subject_pseudonym)
        """#,
        #"""
        table subject_requests ON subject_requests
        CREATE TABLE subject_requests (
            request_id TEXT PRIMARY KEY,
            subject_pseudonym TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('access', 'erasure')),
            jurisdiction TEXT NOT NULL,
            received_at REAL NOT NULL,
            due_at REAL NOT NULL,
            completed_at REAL,
            result BLOB
        )
        """#,
        #"""
        index sqlite_autoindex_subject_requests_1 ON subject_requests
        (no sql)
        """#,
        #"""
        table audit_entries ON audit_entries
        CREATE TABLE audit_entries (
            idx INTEGER PRIMARY KEY,
            entry BLOB NOT NULL,
            leaf_hash BLOB NOT NULL
        )
        """#,
        #"""
        table audit_checkpoints ON audit_checkpoints
        CREATE TABLE audit_checkpoints (
            tree_size INTEGER PRIMARY KEY,
            checkpoint BLOB NOT NULL
        )
        """#,
        #"""
        table refused_event_counts ON refused_event_counts
        CREATE TABLE refused_event_counts (
            device_id TEXT NOT NULL REFERENCES devices(device_id),
            reason TEXT NOT NULL,
            events INTEGER NOT NULL,
            PRIMARY KEY (device_id, reason)
        ) WITHOUT ROWID
        """#,
        #"""
        index consent_by_device ON consent_events
        CREATE INDEX consent_by_device ON consent_events (device_id, site)
        """#,
        #"""
        table model_rollouts ON model_rollouts
        CREATE TABLE model_rollouts (
            version INTEGER PRIMARY KEY REFERENCES model_releases(version),
            state TEXT NOT NULL CHECK (state IN ('candidate', 'shadow', 'canary', 'fleet', 'rolled_back')),
            cohorts TEXT NOT NULL,
            canary_devices TEXT NOT NULL,
            canary_percent REAL,
            approvals TEXT NOT NULL,
            comparison BLOB NOT NULL,
            reason TEXT,
            updated_at REAL NOT NULL
        )
        """#,
        #"""
        table device_sites ON device_sites
        CREATE TABLE device_sites (
            device_id TEXT NOT NULL REFERENCES devices(device_id),
            site TEXT NOT NULL,
            PRIMARY KEY (device_id, site)
        ) WITHOUT ROWID
        """#,
        #"""
        table web_sessions ON web_sessions
        CREATE TABLE web_sessions (
            session_sha256 TEXT PRIMARY KEY,
            token_sha256 TEXT NOT NULL REFERENCES api_tokens(token_sha256),
            opened_at REAL NOT NULL,
            last_seen_at REAL NOT NULL
        )
        """#,
        #"""
        index sqlite_autoindex_web_sessions_1 ON web_sessions
        (no sql)
        """#,
        #"""
        index web_sessions_by_token ON web_sessions
        CREATE INDEX web_sessions_by_token ON web_sessions (token_sha256)
        """#,
        #"""
        table device_certificates ON device_certificates
        CREATE TABLE device_certificates (
            fingerprint TEXT PRIMARY KEY,
            device_id TEXT NOT NULL REFERENCES devices(device_id),
            certificate_der BLOB NOT NULL,
            serial TEXT NOT NULL,
            not_after REAL NOT NULL,
            issued_at REAL NOT NULL
        )
        """#,
        #"""
        index sqlite_autoindex_device_certificates_1 ON device_certificates
        (no sql)
        """#,
        #"""
        index device_certificates_by_device ON device_certificates
        CREATE INDEX device_certificates_by_device ON device_certificates (device_id)
        """#,
        #"""
        table jurisdiction_keys ON jurisdiction_keys
        CREATE TABLE jurisdiction_keys (
            jurisdiction TEXT NOT NULL REFERENCES jurisdictions(name),
            version INTEGER NOT NULL CHECK (version > 0),
            pseudonym_key BLOB NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (jurisdiction, version)
        )
        """#,
        #"""
        index sqlite_autoindex_jurisdiction_keys_1 ON jurisdiction_keys
        (no sql)
        """#,
        #"""
        table server_keys ON server_keys
        CREATE TABLE server_keys (
            purpose TEXT NOT NULL CHECK (purpose IN ('device-ca', 'tls-certificate', 'release-signing', 'audit-signing')),
            generation INTEGER NOT NULL CHECK (generation > 0),
            key_id TEXT NOT NULL,
            public_material TEXT NOT NULL,
            endorsement TEXT,
            activated_at REAL NOT NULL,
            PRIMARY KEY (purpose, generation)
        )
        """#,
        #"""
        index sqlite_autoindex_server_keys_1 ON server_keys
        (no sql)
        """#,
        #"""
        table score_statistics ON score_statistics
        CREATE TABLE score_statistics (
            model_version TEXT NOT NULL,
            camera_model TEXT NOT NULL,
            site TEXT NOT NULL,
            granularity TEXT NOT NULL CHECK (granularity IN ('day', 'month')),
            bucket INTEGER NOT NULL,
            outcome_count INTEGER NOT NULL,
            statistics BLOB NOT NULL,
            PRIMARY KEY (model_version, camera_model, site, granularity, bucket)
        )
        """#,
        #"""
        index sqlite_autoindex_score_statistics_1 ON score_statistics
        (no sql)
        """#,
        #"""
        index score_statistics_by_bucket ON score_statistics
        CREATE INDEX score_statistics_by_bucket ON score_statistics (granularity, bucket)
        """#,
        #"""
        table outcome_counts ON outcome_counts
        CREATE TABLE outcome_counts (
            device_id TEXT NOT NULL,
            site TEXT NOT NULL,
            camera_model TEXT NOT NULL,
            label TEXT NOT NULL,
            outcomes INTEGER NOT NULL,
            PRIMARY KEY (device_id, site, camera_model, label)
        ) WITHOUT ROWID
        """#,
        #"""
        table batch_counts ON batch_counts
        CREATE TABLE batch_counts (
            device_id TEXT PRIMARY KEY,
            batches INTEGER NOT NULL
        )
        """#,
        #"""
        index sqlite_autoindex_batch_counts_1 ON batch_counts
        (no sql)
        """#,
        #"""
        table policy_searches ON policy_searches
        CREATE TABLE policy_searches (
            search_id INTEGER PRIMARY KEY,
            camera_model TEXT NOT NULL,
            site TEXT NOT NULL,
            base_version INTEGER NOT NULL,
            target_fmr REAL NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('searching', 'proposed')),
            step INTEGER NOT NULL,
            candidates TEXT NOT NULL,
            proposed_version INTEGER,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )
        """#,
        #"""
        table model_releases ON model_releases
        CREATE TABLE "model_releases" (
            version INTEGER PRIMARY KEY,
            round_id INTEGER UNIQUE REFERENCES federation_rounds(round_id),
            payload BLOB NOT NULL,
            envelope BLOB NOT NULL,
            published_at REAL NOT NULL
        )
        """#,
        #"""
        index sqlite_autoindex_model_releases_1 ON model_releases
        (no sql)
        """#,
        #"""
        index batches_by_arrival ON batches
        CREATE INDEX batches_by_arrival ON batches (received_at)
        """#,
        #"""
        table statistics_revision ON statistics_revision
        CREATE TABLE statistics_revision (
            id INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            PRIMARY KEY (id)
        )
        """#,
        #"""
        table outcomes ON outcomes
        CREATE TABLE "outcomes" (
            event_id TEXT PRIMARY KEY,
            batch_id TEXT NOT NULL,
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
            consent_ref TEXT NOT NULL,
            shadow_model_version TEXT,
            shadow_score REAL,
            key_version INTEGER,
            shadow_scores TEXT,
            received_at REAL NOT NULL
        )
        """#,
        #"""
        index sqlite_autoindex_outcomes_1 ON outcomes
        (no sql)
        """#,
        #"""
        index outcomes_by_subject ON outcomes
        CREATE INDEX outcomes_by_subject ON outcomes (subject_pseudonym)
        """#,
        #"""
        index outcomes_by_time ON outcomes
        CREATE INDEX outcomes_by_time ON outcomes (attempted_at)
        """#,
        #"""
        index outcomes_dated_after_arrival ON outcomes
        CREATE INDEX outcomes_dated_after_arrival ON outcomes (received_at) WHERE received_at < attempted_at
        """#,
        #"""
        index consent_limits ON consent_events
        CREATE INDEX consent_limits ON consent_events (subject_pseudonym, purpose)
        WHERE kind = 'limit' AND refusal IS NULL
        """#,
    ]
}
