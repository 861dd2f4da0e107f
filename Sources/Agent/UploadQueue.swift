import Compliance
import FeedbackWire
import Foundation
import GRDB
import StrictJSON

/// The kiosk's durable upload queue. Outcomes are recorded, then sealed into batches with
/// the next sequence number in one transaction, and a sealed batch keeps its exact bytes
/// until a receipt acknowledges it. A crash at any point leaves every outcome either
/// pending, sealed or acknowledged — never lost, never in two batches.
public final class UploadQueue: Sendable {
    let pool: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        // WAL with FULL syncs the log on every commit, so a recorded outcome survives a power
        // cut. Set on the writer after the pool is open: DatabasePool turns WAL on after
        // `prepareDatabase` and sets `synchronous = NORMAL` as it does so.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-queue") { db in
            try db.execute(sql: """
                CREATE TABLE pending_outcomes (
                    position INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id TEXT NOT NULL UNIQUE,
                    outcome TEXT NOT NULL,
                    recorded_at REAL NOT NULL
                );
                CREATE TABLE sealed_batches (
                    sequence INTEGER PRIMARY KEY,
                    body BLOB NOT NULL,
                    event_count INTEGER NOT NULL,
                    sealed_at REAL NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT
                );
                CREATE TABLE rejected_batches (
                    sequence INTEGER PRIMARY KEY,
                    body BLOB NOT NULL,
                    event_count INTEGER NOT NULL,
                    problem TEXT NOT NULL,
                    rejected_at REAL NOT NULL
                );
                CREATE TABLE acknowledged_batches (
                    sequence INTEGER PRIMARY KEY,
                    batch_id TEXT NOT NULL,
                    event_count INTEGER NOT NULL,
                    stored_at REAL NOT NULL,
                    acknowledged_at REAL NOT NULL
                );
                CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT INTO counters (name, value) VALUES ('next_sequence', 1);
                """)
        }
        migrator.registerMigration("v2-consent") { db in
            try db.execute(sql: """
                CREATE TABLE pending_consent (
                    position INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id TEXT NOT NULL UNIQUE,
                    event TEXT NOT NULL,
                    recorded_at REAL NOT NULL
                );
                CREATE TABLE consent_ledger (
                    event_id TEXT PRIMARY KEY,
                    subject_pseudonym TEXT NOT NULL,
                    purpose TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    occurred_at REAL NOT NULL,
                    text_version TEXT NOT NULL,
                    arrival INTEGER NOT NULL
                );
                ALTER TABLE sealed_batches ADD COLUMN consent_count INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE acknowledged_batches ADD COLUMN refused_count INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v3-withdrawal-times") { db in
            // The withdrawals a sealed batch carries, with when each was recorded here: the
            // upload reports how long the kiosk held them (an offline kiosk holds them).
            try db.execute(sql: """
                CREATE TABLE sealed_withdrawals (
                    event_id TEXT PRIMARY KEY,
                    sequence INTEGER NOT NULL,
                    recorded_at REAL NOT NULL
                );
                CREATE INDEX sealed_withdrawals_by_sequence ON sealed_withdrawals (sequence);
                """)
        }
        try migrator.migrate(pool)
    }

    /// Queues consent events (they go out before any outcome recorded after them) and keeps
    /// them in the kiosk's own ledger, which decides what local training may use.
    public func recordConsent(_ events: [ConsentEvent], at time: Date) throws {
        try pool.write { db in
            for event in events {
                let id = event.eventID.uuidString.lowercased()
                do {
                    try db.execute(sql: "INSERT INTO pending_consent (event_id, event, recorded_at) VALUES (?, ?, ?)",
                                   arguments: [id, event.json.serializedString, time.timeIntervalSince1970])
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    throw AgentError.invalidOutcome("consent event \(id) is already queued")
                }
                try db.execute(sql: """
                    INSERT INTO consent_ledger (event_id, subject_pseudonym, purpose, kind, occurred_at, text_version, arrival)
                    VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(arrival), 0) + 1 FROM consent_ledger))
                    """, arguments: [id, event.pseudonym, event.purpose, event.kind.rawValue, event.occurredAt.timeIntervalSince1970,
                                     event.textVersion])
            }
        }
    }

    /// The kiosk's own consent events for a subject and purpose.
    public func consentRecords(pseudonym: String, purpose: String) throws -> [ConsentRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT kind, occurred_at, text_version, arrival FROM consent_ledger WHERE subject_pseudonym = ? AND purpose = ?
                """, arguments: [pseudonym, purpose]).compactMap { row in
                ConsentRecord.Kind(rawValue: row["kind"]).map {
                    ConsentRecord(kind: $0, occurredAt: Date(timeIntervalSince1970: row["occurred_at"]), textVersion: row["text_version"],
                                  arrival: row["arrival"])
                }
            }
        }
    }

    /// Queues outcomes; each must already conform to the outcome schema.
    public func record(_ outcomes: [MatchOutcome], at time: Date) throws {
        try pool.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO pending_outcomes (event_id, outcome, recorded_at) VALUES (?, ?, ?)
                """)
            for outcome in outcomes {
                do {
                    try insert.execute(arguments: [outcome.eventID.uuidString.lowercased(), outcome.json.serializedString,
                                                    time.timeIntervalSince1970])
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    throw AgentError.invalidOutcome("event \(outcome.eventID.uuidString.lowercased()) is already queued")
                }
            }
        }
    }

    /// Moves pending outcomes into sealed batches of at most `batchSize`. Returns how many
    /// batches were sealed.
    @discardableResult
    public func seal(deviceID: String, batchSize: Int, at time: Date) throws -> Int {
        var sealed = 0
        while true {
            let done = try pool.write { db -> Bool in
                // Consent events ride along with the first batch sealed after them (up to the
                // schema's 1,000); the server applies them before the outcomes of that batch.
                let consentRows = try Row.fetchAll(db, sql: """
                    SELECT position, event, recorded_at FROM pending_consent ORDER BY position LIMIT 1000
                    """)
                let rows = try Row.fetchAll(db, sql: "SELECT position, outcome FROM pending_outcomes ORDER BY position LIMIT ?",
                                            arguments: [batchSize])
                guard !rows.isEmpty || !consentRows.isEmpty else { return true }
                var outcomes: [MatchOutcome] = []
                for row in rows {
                    let text: String = row["outcome"]
                    outcomes.append(try MatchOutcome(validated: try JSONValue.parse(text)))
                }
                var consentEvents: [ConsentEvent] = []
                var withdrawals: [QueuedWithdrawal] = []
                for row in consentRows {
                    let text: String = row["event"]
                    let event = try ConsentEvent(validated: try JSONValue.parse(text))
                    consentEvents.append(event)
                    if event.kind == .withdraw {
                        withdrawals.append(QueuedWithdrawal(eventID: event.eventID.uuidString.lowercased(),
                                                            recordedAt: Date(timeIntervalSince1970: row["recorded_at"])))
                    }
                }
                let sequence = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'next_sequence'") ?? 1
                // Reported with the batch: what waits behind it. Earlier sealed batches are sent
                // before it, so once it arrives only these outcomes are still on the kiosk.
                let waiting = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pending_outcomes") ?? 0
                let batch = OutcomeBatch(deviceID: deviceID, sequence: sequence, createdAt: time, outcomes: outcomes,
                                         consentEvents: consentEvents, queueBacklog: max(0, waiting - outcomes.count))
                try db.execute(sql: """
                    INSERT INTO sealed_batches (sequence, body, event_count, consent_count, sealed_at) VALUES (?, ?, ?, ?, ?)
                    """, arguments: [sequence, Data(batch.encoded()), outcomes.count, consentEvents.count, time.timeIntervalSince1970])
                for withdrawal in withdrawals {
                    try db.execute(sql: "INSERT INTO sealed_withdrawals (event_id, sequence, recorded_at) VALUES (?, ?, ?)",
                                   arguments: [withdrawal.eventID, sequence, withdrawal.recordedAt.timeIntervalSince1970])
                }
                if let last = rows.last?["position"] as Int64? {
                    try db.execute(sql: "DELETE FROM pending_outcomes WHERE position <= ?", arguments: [last])
                }
                if let last = consentRows.last?["position"] as Int64? {
                    try db.execute(sql: "DELETE FROM pending_consent WHERE position <= ?", arguments: [last])
                }
                try db.execute(sql: "UPDATE counters SET value = ? WHERE name = 'next_sequence'", arguments: [sequence + 1])
                return false
            }
            if done { return sealed }
            sealed += 1
        }
    }

    /// A consent withdrawal in a sealed batch, and when it was recorded on this kiosk.
    public struct QueuedWithdrawal: Sendable, Equatable {
        public let eventID: String
        public let recordedAt: Date
    }

    public struct SealedBatch: Sendable, Equatable {
        public let sequence: Int64
        public let body: [UInt8]
        public let eventCount: Int
        public let withdrawals: [QueuedWithdrawal]
    }

    public func sealedBatches(limit: Int = 1000) throws -> [SealedBatch] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT sequence, body, event_count FROM sealed_batches ORDER BY sequence LIMIT ?",
                             arguments: [limit]).map { row in
                let sequence: Int64 = row["sequence"]
                let withdrawals = try Row.fetchAll(db, sql: """
                    SELECT event_id, recorded_at FROM sealed_withdrawals WHERE sequence = ? ORDER BY recorded_at, event_id
                    """, arguments: [sequence]).map {
                    QueuedWithdrawal(eventID: $0["event_id"], recordedAt: Date(timeIntervalSince1970: $0["recorded_at"]))
                }
                return SealedBatch(sequence: sequence, body: [UInt8](row["body"] as Data), eventCount: row["event_count"],
                                   withdrawals: withdrawals)
            }
        }
    }

    /// Deletes a sealed batch that a receipt acknowledged.
    public func acknowledge(sequence: Int64, receipt: BatchReceipt, at time: Date) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM sealed_batches WHERE sequence = ?", arguments: [sequence])
            try db.execute(sql: "DELETE FROM sealed_withdrawals WHERE sequence = ?", arguments: [sequence])
            try db.execute(sql: """
                INSERT OR REPLACE INTO acknowledged_batches (sequence, batch_id, event_count, refused_count, stored_at, acknowledged_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [sequence, receipt.batchID.uuidString.lowercased(), receipt.acceptedEvents, receipt.refusedEvents.count,
                                 receipt.storedAt.timeIntervalSince1970, time.timeIntervalSince1970])
        }
    }

    /// Sets aside a batch the server will never accept (e.g. a schema violation), so that it
    /// does not block the ones behind it; it stays on the kiosk for inspection.
    public func setAside(sequence: Int64, problem: String, at time: Date) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO rejected_batches (sequence, body, event_count, problem, rejected_at)
                SELECT sequence, body, event_count, ?, ? FROM sealed_batches WHERE sequence = ?
                """, arguments: [problem, time.timeIntervalSince1970, sequence])
            try db.execute(sql: "DELETE FROM sealed_batches WHERE sequence = ?", arguments: [sequence])
            try db.execute(sql: "DELETE FROM sealed_withdrawals WHERE sequence = ?", arguments: [sequence])
        }
    }

    public func noteAttempt(sequence: Int64, error: String?) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE sealed_batches SET attempts = attempts + 1, last_error = ? WHERE sequence = ?",
                           arguments: [error, sequence])
        }
    }

    public struct Status: Sendable, Codable, Equatable {
        public var pendingOutcomes: Int
        public var sealedBatches: Int
        public var sealedOutcomes: Int
        public var rejectedBatches: Int
        public var acknowledgedBatches: Int
        public var acknowledgedOutcomes: Int
        /// Events the server refused in acknowledged batches (e.g. outcomes without consent).
        public var refusedEvents: Int
        public var pendingConsentEvents: Int
        public var nextSequence: Int64
        public var lastAcknowledgedAt: Date?
        public var lastError: String?

        enum CodingKeys: String, CodingKey {
            case pendingOutcomes = "pending_outcomes", sealedBatches = "sealed_batches", sealedOutcomes = "sealed_outcomes"
            case rejectedBatches = "rejected_batches", acknowledgedBatches = "acknowledged_batches"
            case acknowledgedOutcomes = "acknowledged_outcomes", refusedEvents = "refused_events"
            case pendingConsentEvents = "pending_consent_events", nextSequence = "next_sequence"
            case lastAcknowledgedAt = "last_acknowledged_at", lastError = "last_error"
        }
    }

    public func status() throws -> Status {
        try pool.read { db in
            Status(
                pendingOutcomes: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pending_outcomes") ?? 0,
                sealedBatches: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sealed_batches") ?? 0,
                sealedOutcomes: try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(event_count), 0) FROM sealed_batches") ?? 0,
                rejectedBatches: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rejected_batches") ?? 0,
                acknowledgedBatches: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM acknowledged_batches") ?? 0,
                acknowledgedOutcomes: try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(event_count), 0) FROM acknowledged_batches") ?? 0,
                refusedEvents: try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(refused_count), 0) FROM acknowledged_batches") ?? 0,
                pendingConsentEvents: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pending_consent") ?? 0,
                nextSequence: try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'next_sequence'") ?? 1,
                lastAcknowledgedAt: try Double.fetchOne(db, sql: "SELECT MAX(acknowledged_at) FROM acknowledged_batches")
                    .map(Date.init(timeIntervalSince1970:)),
                lastError: try String.fetchOne(db, sql: "SELECT last_error FROM sealed_batches WHERE last_error IS NOT NULL ORDER BY sequence LIMIT 1"))
        }
    }
}
