import AuditLog
import FeedbackWire
import Foundation
import GRDB
import Logging
import StrictJSON

/// Copies a SQLite pilot's store into an empty PostgreSQL database, table by table in one
/// PostgreSQL transaction (all or nothing), then proves the copy: the row count of every
/// table, and the audit log's Merkle root computed from the copied entries themselves,
/// must equal the original's. Run it with the server stopped. The live score statistics
/// (`score_statistics`, `outcome_counts`, `batch_counts`) are carried as rows: the target's
/// migration step built them empty from its empty outcome table, and the pilot's rows hold
/// the same encoded `CohortStatistics` PostgreSQL would have computed from the copied outcomes.
///
/// ```swift
/// let report = try await StoreMigration.copy(sqlitePath: "data/faceloop.sqlite", to: "postgres://…")
/// ```
public enum StoreMigration {
    public struct Report: Sendable, Equatable {
        public struct Table: Sendable, Equatable {
            public var name: String
            public var sourceRows: Int
            public var copiedRows: Int
        }

        public var tables: [Table]
        public var auditEntries: Int
        /// Lowercase hex of the RFC 9162 root, the same on both sides.
        public var auditRootHash: String
    }

    public enum Failure: Error, CustomStringConvertible {
        case noSource(String)
        case targetNotEmpty(table: String, rows: Int)
        case countMismatch(table: String, source: Int, copied: Int)
        case auditRootMismatch(source: String, copied: String)
        case unexpectedValue(table: String, column: String, type: String)

        public var description: String {
            switch self {
            case let .noSource(path): "\(path) does not exist or is not a FaceLoop SQLite store"
            case let .targetNotEmpty(table, rows):
                "the PostgreSQL database already holds data (\(rows) rows in \(table)); migrate into an empty database"
            case let .countMismatch(table, source, copied):
                "\(table): \(source) rows in SQLite but \(copied) copied; nothing was committed (was the server still running?)"
            case let .auditRootMismatch(source, copied):
                "the copied audit log hashes to \(copied), the original to \(source); nothing was committed"
            case let .unexpectedValue(table, column, type): "\(table).\(column) holds a value PostgreSQL's \(type) column cannot take"
            }
        }
    }

    static let pageSize = 2000
    /// The most a stored body's frame may claim to hold: far above any server's body limit,
    /// so that only a damaged frame is refused, before its size is allocated.
    static let largestBody = 64 << 20

    public static func copy(sqlitePath: String, to postgresURL: String, logger: Logger = Logger(label: "faceloop.migrate-store"),
                            progress: @Sendable (String) -> Void = { _ in }) async throws -> Report {
        guard FileManager.default.fileExists(atPath: sqlitePath) else { throw Failure.noSource(sqlitePath) }
        // Opening migrates an older pilot file to the current schema first, as its server would.
        let source = try SQLiteStore(path: sqlitePath)
        let target = try await PostgresStore(url: postgresURL, maximumConnections: 2, logger: logger)
        do {
            let report = try await target.write { sql in try await copy(from: source, into: sql, progress: progress) }
            // The copied outcomes landed in the default partition: each month gets its own.
            try await target.organizeOutcomeMonths(now: Date())
            await target.shutdown()
            return report
        } catch {
            await target.shutdown()
            throw error
        }
    }

    private static func copy(from source: SQLiteStore, into sql: SQLConnection,
                             progress: @Sendable (String) -> Void) async throws -> Report {
        for table in ["devices", "batches", "outcomes", "consent_events", "audit_entries", "threshold_releases", "federation_rounds"] {
            let rows = try await sql.scalar(Int.self, "SELECT COUNT(*) FROM \(table)") ?? 0
            guard rows == 0 else { throw Failure.targetNotEmpty(table: table, rows: rows) }
        }
        // The new database seeded its own default jurisdiction and rules; the pilot's replace them.
        try await sql.execute("DELETE FROM retention_rules")
        try await sql.execute("DELETE FROM jurisdiction_keys")
        try await sql.execute("DELETE FROM jurisdictions")
        var tables: [Report.Table] = []
        for table in PostgresSchema.tables {
            let columns = try await sql.fetchAll("""
                SELECT column_name, data_type FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position
                """, table).map { (name: try $0("column_name", as: String.self), type: try $0("data_type", as: String.self)) }
            // The primary key orders every table, WITHOUT ROWID ones included.
            let keyColumns = try await source.pool.read { db in
                try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", arguments: [table])
            }
            let order = keyColumns.isEmpty ? "rowid" : keyColumns.joined(separator: ", ")
            let sourceRows = try await source.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
            var offset = 0
            while offset < sourceRows {
                let page = try source.pool.read { db in
                    try Row.fetchAll(db, sql: """
                        SELECT \(columns.map(\.name).joined(separator: ", ")) FROM \(table) ORDER BY \(order) LIMIT ? OFFSET ?
                        """, arguments: [pageSize, offset])
                }
                var arguments: [any SQLArgumentConvertible] = []
                arguments.reserveCapacity(page.count * columns.count)
                for row in page {
                    for (index, column) in columns.enumerated() {
                        let stored = row[index] as DatabaseValue
                        // PostgreSQL keeps signed bodies as they came, as its own intake does.
                        if table == "batches", column.name == "body", case let .blob(bytes) = stored.storage {
                            arguments.append(try StoredBatchBody.signedBytes([UInt8](bytes), limit: Self.largestBody))
                            continue
                        }
                        arguments.append(try value(stored, for: column.type, table: table, column: column.name))
                    }
                }
                let placeholders = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
                // Parameters per statement are capped at 65,535: insert a page in slices.
                let rowsPerStatement = max(1, 60_000 / columns.count)
                for start in stride(from: 0, to: page.count, by: rowsPerStatement) {
                    let count = min(rowsPerStatement, page.count - start)
                    try await sql.execute(StoreStatement("""
                        INSERT INTO \(table) (\(columns.map(\.name).joined(separator: ", ")))
                        VALUES \(Array(repeating: placeholders, count: count).joined(separator: ", "))
                        """, arguments: Array(arguments[(start * columns.count)..<((start + count) * columns.count)])))
                }
                offset += page.count
                if page.isEmpty { break }
            }
            let copied = try await sql.scalar(Int.self, "SELECT COUNT(*) FROM \(table)") ?? 0
            guard copied == sourceRows else { throw Failure.countMismatch(table: table, source: sourceRows, copied: copied) }
            tables.append(Report.Table(name: table, sourceRows: sourceRows, copiedRows: copied))
            progress("\(table): \(copied) rows")
        }
        // New consent events must be numbered after the copied ones.
        try await sql.execute("""
            SELECT setval(pg_get_serial_sequence('consent_events', 'arrival'), COALESCE((SELECT MAX(arrival) FROM consent_events), 0) + 1, false)
            """)

        let sourceLeaves = try await source.auditLeafHashes(count: Int.max)
        let sourceRoot = MerkleTree(leafHashes: sourceLeaves.compactMap { MerkleHash(bytes: $0) }).rootHash
        let copiedEntries = try await sql.fetchAll("SELECT entry FROM audit_entries ORDER BY idx").map { try $0.bytes("entry") }
        let copiedRoot = MerkleTree(leafHashes: copiedEntries.map { MerkleTree.leafHash($0) }).rootHash
        guard copiedRoot == sourceRoot, copiedEntries.count == sourceLeaves.count else {
            throw Failure.auditRootMismatch(source: sourceRoot.bytes.lowercaseHex, copied: copiedRoot.bytes.lowercaseHex)
        }
        return Report(tables: tables, auditEntries: copiedEntries.count, auditRootHash: sourceRoot.bytes.lowercaseHex)
    }

    /// A SQLite value as the PostgreSQL column of `type` takes it.
    private static func value(_ value: DatabaseValue, for type: String, table: String, column: String) throws -> any SQLArgumentConvertible {
        switch (value.storage, type) {
        case (.null, _): return SQLArgument.null
        case let (.int64(number), "boolean"): return number != 0
        case let (.int64(number), "bigint"): return Int(number)
        case let (.int64(number), "double precision"): return Double(number)
        case let (.double(number), "double precision"): return number
        case let (.string(text), "text"): return text
        case let (.blob(bytes), "bytea"): return bytes
        case let (.string(text), "bytea"): return [UInt8](text.utf8)
        default: throw Failure.unexpectedValue(table: table, column: column, type: type)
        }
    }
}
