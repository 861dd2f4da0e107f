import Calibration
import Foundation
import GRDB
import GRDBSQLite
import Storage

/// Writes a bulk load into the SQLite file the server uses, through SQLite's C API on
/// statements compiled once, in transactions of about a million outcomes, without a log or
/// syncs (nothing here has to survive a crash; the store puts the file back in WAL mode when it
/// opens it). The outcomes' secondary indexes are dropped for the base load and built after it
/// (a sort instead of a random insert per row).
final class SQLiteSink: BulkSink {
    static let outcomesPerTransaction = 1_000_000

    let db: Database
    private var droppedIndexes: [String] = []
    private var committedAt = 0
    /// A phase's batches all arrive at once, before their outcomes are written.
    private var batchReceivedAt = 0.0
    private lazy var deviceStatement = Raw(db, """
        INSERT INTO devices (device_id, status, signing_key, certificate_der, certificate_fingerprint, certificate_serial,
                             certificate_not_after, enrolled_at, revoked_at)
        VALUES (?1, 'revoked', X'', X'', 'bench-' || ?1, '0', ?2, ?2, ?2)
        """)
    private lazy var batchStatement = Raw(db, """
        INSERT INTO batches (batch_id, device_id, sequence, content_digest, body, signature_input, signature,
                             received_at, event_count, receipt, redacted_at)
        VALUES (?, ?, ?, '', X'', '', '', ?4, ?5, X'', ?4)
        """)
    private lazy var outcomeStatement = Raw(db, """
        INSERT INTO outcomes (event_id, batch_id, device_id, attempted_at, model_version, threshold_version, site,
                              camera_model, tags, score, decision, label, label_source, face_size_px, sharpness,
                              brightness, liveness_score, subject_pseudonym, consent_ref, shadow_model_version, shadow_score, key_version,
                              received_at)
        VALUES (?, ?, ?, ?, '\(Fleet.modelVersion)', 'initial', ?, ?, '[]', ?, ?, ?, ?, ?, ?, ?, ?, ?, 'consent-1', ?, ?, 1, ?)
        """)
    private lazy var statisticsStatement = Raw(db, """
        INSERT INTO score_statistics (model_version, camera_model, site, granularity, bucket, outcome_count, statistics)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """)
    private lazy var outcomeCountStatement = Raw(db, """
        INSERT INTO outcome_counts (device_id, site, camera_model, label, outcomes) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (device_id, site, camera_model, label) DO UPDATE SET outcomes = outcomes + excluded.outcomes
        """)
    private lazy var batchCountStatement = Raw(db, """
        INSERT INTO batch_counts (device_id, batches) VALUES (?, ?)
        ON CONFLICT (device_id) DO UPDATE SET batches = batches + excluded.batches
        """)

    init(_ db: Database) {
        self.db = db
    }

    func begin(phase: Fleet.Phase) throws {
        try db.execute(sql: "PRAGMA journal_mode = OFF")
        try db.execute(sql: "PRAGMA synchronous = OFF")
        try db.execute(sql: "PRAGMA cache_size = -2000000")
        if phase == .base {
            let indexes = try Row.fetchAll(db, sql: """
                SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outcomes' AND sql IS NOT NULL
                """)
            for index in indexes {
                let name: String = index["name"]
                droppedIndexes.append(index["sql"])
                try db.execute(sql: "DROP INDEX \(name)")
            }
        }
        try db.execute(sql: "BEGIN")
    }

    func device(id: String, at time: Double) throws {
        try deviceStatement.run { $0.text(1, id); $0.real(2, time) }
    }

    func batch(id: String, device: String, sequence: Int, receivedAt: Double, events: Int) throws {
        batchReceivedAt = receivedAt
        try batchStatement.run { $0.text(1, id); $0.text(2, device); $0.integer(3, sequence); $0.real(4, receivedAt); $0.integer(5, events) }
    }

    func outcome(_ row: OutcomeRow) throws {
        try outcomeStatement.run { s in
            s.text(1, row.eventID); s.text(2, row.batchID); s.text(3, row.device); s.real(4, row.attemptedAt)
            s.text(5, row.site); s.text(6, row.camera); s.real(7, row.score); s.text(8, row.decision); s.text(9, row.label)
            s.text(10, row.labelSource); s.integer(11, row.faceSize); s.real(12, row.sharpness); s.real(13, row.brightness)
            s.real(14, row.liveness); s.text(15, row.subject)
            if let shadow = row.shadowScore {
                s.text(16, Fleet.shadowModelVersion); s.real(17, shadow)
            } else {
                s.null(16); s.null(17)
            }
            s.real(18, batchReceivedAt)
        }
    }

    func statistics(key: CohortKey, granularity: String, bucket: Int, statistics: CohortStatistics) throws {
        let bytes = statistics.encoded()
        try statisticsStatement.run { s in
            s.text(1, key.modelVersion); s.text(2, key.cameraModel); s.text(3, key.cohort); s.text(4, granularity)
            s.integer(5, bucket); s.integer(6, statistics.outcomeCount); s.blob(7, bytes)
        }
    }

    func count(device: String, site: String, camera: String, outcomesByLabel: [String: Int], batches: Int) throws {
        for (label, outcomes) in outcomesByLabel.sorted(by: { $0.key < $1.key }) {
            try outcomeCountStatement.run { s in
                s.text(1, device); s.text(2, site); s.text(3, camera); s.text(4, label); s.integer(5, outcomes)
            }
        }
        try batchCountStatement.run { $0.text(1, device); $0.integer(2, batches) }
    }

    func endCohort(outcomesSoFar: Int) throws {
        guard outcomesSoFar - committedAt >= Self.outcomesPerTransaction else { return }
        try db.execute(sql: "COMMIT")
        try db.execute(sql: "BEGIN")
        committedAt = outcomesSoFar
    }

    func finish() throws {
        try db.execute(sql: "COMMIT")
        for index in droppedIndexes { try db.execute(sql: index) }
        try db.execute(sql: "ANALYZE")
    }

    /// A statement compiled once, bound through the C API and stepped to its end.
    final class Raw {
        let db: Database
        let statement: Statement
        var handle: SQLiteStatement { statement.sqliteStatement }
        private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

        init(_ db: Database, _ sql: String) {
            self.db = db
            do {
                statement = try db.makeStatement(sql: sql)
            } catch {
                fatalError("bench statement does not compile (\(error)): \(sql)")
            }
        }

        func run(_ bind: (Raw) -> Void) throws {
            bind(self)
            let code = sqlite3_step(handle)
            sqlite3_reset(handle)
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                    sql: statement.sql)
            }
        }

        func text(_ index: CInt, _ value: String) {
            var value = value
            value.withUTF8 { _ = sqlite3_bind_text(handle, index, $0.baseAddress, CInt($0.count), Self.transient) }
        }

        func real(_ index: CInt, _ value: Double) { sqlite3_bind_double(handle, index, value) }
        func integer(_ index: CInt, _ value: Int) { sqlite3_bind_int64(handle, index, Int64(value)) }
        func null(_ index: CInt) { sqlite3_bind_null(handle, index) }
        func blob(_ index: CInt, _ value: [UInt8]) {
            value.withUnsafeBytes { _ = sqlite3_bind_blob(handle, index, $0.baseAddress, CInt($0.count), Self.transient) }
        }
    }
}
