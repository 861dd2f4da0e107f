import Foundation
import GRDB
import Storage

/// Fills a SQLite store with outcomes written straight into its tables, so that ingest can be
/// measured on a store that has run for a while rather than on an empty one. The rows are
/// what a year of uploads leaves in the tables ingest writes to (outcomes and their indexes,
/// batches), generated inside SQLite: time-ordered (version 7) event ids as the agent makes
/// them, attempts spread over the past 365 days in arrival order, 100,000 subjects (pseudonyms
/// of 64 random hex digits, as keyed hashes are), 7 sites × 3 cameras. The batches' bodies are
/// left empty (as redacted ones are): they add file size but no index work to an insert.
/// Only for benchmarks: the live statistics and counters are not updated.
enum Prefill {
    static let outcomesPerBatch = 1_000
    static let rowsPerTransaction = 1_000_000
    static let subjects = 100_000

    /// Creates the store's schema (through `SQLiteStore`) and adds `outcomes` rows.
    static func sqlite(path: String, outcomes: Int) throws -> Duration {
        _ = try SQLiteStore(path: path)
        let start = ContinuousClock.now
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // The random event ids make every index insert land on a random page: keep the
            // indexes in memory while filling (the server's own cache is SQLite's default).
            try db.execute(sql: "PRAGMA cache_size = -4000000")
        }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        // Written once, without a log or syncs (nothing here has to survive a crash); the
        // store puts the file back in WAL mode when it opens it.
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = OFF")
            try db.execute(sql: "PRAGMA synchronous = OFF")
        }
        let now = Date().timeIntervalSince1970
        let year = 365.0 * 86_400
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO devices (device_id, status, signing_key, certificate_der, certificate_fingerprint, certificate_serial,
                                     certificate_not_after, enrolled_at, revoked_at)
                VALUES ('prefill-kiosk', 'revoked', X'', X'', 'prefill', '0', ?, ?, ?)
                """, arguments: [now, now - year, now])
        }
        // Secondary indexes are built after the rows (a sort) instead of row by row. The event
        // ids begin with their attempt's millisecond, so they are generated in key order and
        // the outcomes' key is filled in order too.
        let indexes = try queue.read { db in
            try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outcomes' AND sql IS NOT NULL")
        }
        let names = try queue.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outcomes' AND sql IS NOT NULL")
        }
        try queue.write { db in for name in names { try db.execute(sql: "DROP INDEX \(name)") } }
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: """
                CREATE TEMP TABLE prefill_subjects (k INTEGER PRIMARY KEY, pseudonym TEXT NOT NULL);
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < \(subjects - 1))
                INSERT INTO prefill_subjects SELECT i, lower(hex(randomblob(32))) FROM n;
                """)
        }
        var done = 0
        while done < outcomes {
            let count = min(rowsPerTransaction, outcomes - done)
            let first = done
            try queue.write { db in
                let firstBatch = first / outcomesPerBatch, lastBatch = (first + count - 1) / outcomesPerBatch
                try db.execute(sql: """
                    WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                    INSERT OR IGNORE INTO batches (batch_id, device_id, sequence, content_digest, body, signature_input, signature,
                                                   received_at, event_count, receipt, redacted_at)
                    SELECT 'prefill-' || i, 'prefill-kiosk', i + 1, '', X'', '', '', ?, \(outcomesPerBatch), X'', ? FROM n
                    """, arguments: [firstBatch, lastBatch, now, now])
                try db.execute(sql: """
                    WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
                    INSERT INTO outcomes (event_id, batch_id, device_id, attempted_at, model_version, threshold_version, site,
                                          camera_model, tags, score, decision, label, label_source, face_size_px, sharpness,
                                          brightness, liveness_score, subject_pseudonym, consent_ref, key_version, received_at)
                    SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || lower(substr(hex(randomblob(2)), 2)) || '-8'
                             || lower(substr(hex(randomblob(2)), 2)) || '-' || lower(hex(randomblob(6))),
                           'prefill-' || (i / \(outcomesPerBatch)), 'prefill-kiosk', t, 'dlib-resnet-v1', 'initial',
                           'branch-' || (i % 7), 'cam-x' || (i % 3), '["lobby"]', (abs(random()) % 2000) / 1000.0 - 1.0,
                           CASE WHEN i % 2 = 0 THEN 'accept' ELSE 'reject' END,
                           CASE WHEN i % 3 = 0 THEN 'impostor' ELSE 'genuine' END, 'fallback_id_check', 100 + i % 100,
                           120.5, 0.5, 0.9, (SELECT pseudonym FROM prefill_subjects WHERE k = (i + abs(random())) % \(subjects)),
                           'consent-' || (i % 9), 1, ?
                    FROM (SELECT i, t, printf('%012x', CAST(t * 1000 AS INTEGER)) AS h FROM (SELECT i, ? - ? + i * ? AS t FROM n))
                    """, arguments: [first, first + count - 1, now, now, year, year / Double(max(outcomes, 1))])
            }
            done += count
            print("prefill: \(done) of \(outcomes) outcomes")
        }
        try queue.write { db in for index in indexes { try db.execute(sql: index) } }
        try queue.close()
        // Written back now, not while ingest is measured on copies of it.
        if let handle = FileHandle(forUpdatingAtPath: path) {
            try handle.synchronize()
            try handle.close()
        }
        return ContinuousClock.now - start
    }
}
