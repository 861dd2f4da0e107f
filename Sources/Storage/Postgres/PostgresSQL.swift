import Compliance
import Foundation
import Logging
import NIOCore
import PostgresNIO

enum PostgresSQL {
    /// Numbers the `?` placeholders (the store's SQL has no `?` inside literals) and binds the arguments.
    static func query(_ statement: StoreStatement) -> PostgresQuery {
        let sql = statement.sql, arguments = statement.arguments
        var text = ""
        text.reserveCapacity(sql.utf8.count + 16)
        var number = 0
        for character in sql {
            if character == "?" {
                number += 1
                text += "$\(number)"
            } else {
                text.append(character)
            }
        }
        precondition(number == arguments.count, "\(number) placeholders for \(arguments.count) arguments in: \(sql)")
        var bindings = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument {
            case let .text(value): bindings.append(value)
            case let .integer(value): bindings.append(value)
            case let .real(value): bindings.append(value)
            case let .bytes(value): bindings.append(ByteBuffer(bytes: value))
            case let .boolean(value): bindings.append(value)
            case let .textList(value): bindings.append(value)
            case .null: bindings.appendNull()
            }
        }
        return PostgresQuery(unsafeSQL: text, binds: bindings)
    }

    /// The SQLSTATE of a server error (`23505` unique violation, `40001` serialization failure…).
    static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }
}

/// One row, read by column name.
struct SQLRow: StoreRow {
    let columns: PostgresRandomAccessRow

    init(_ row: PostgresRow) {
        columns = row.makeRandomAccess()
    }

    func callAsFunction<Value: PostgresDecodable>(_ column: String, as type: Value.Type = Value.self) throws -> Value {
        try columns[column].decode(Value.self, context: .default)
    }

    func text(_ column: String) throws -> String { try self(column) }
    func optionalText(_ column: String) throws -> String? { try self(column) }
    func integer(_ column: String) throws -> Int { try self(column) }
    func optionalInteger(_ column: String) throws -> Int? { try self(column) }
    func real(_ column: String) throws -> Double { try self(column) }
    func optionalReal(_ column: String) throws -> Double? { try self(column) }
    func flag(_ column: String) throws -> Bool { try self(column) }

    func bytes(_ column: String) throws -> [UInt8] {
        Array(try self(column, as: ByteBuffer.self).readableBytesView)
    }

    func optionalBytes(_ column: String) throws -> [UInt8]? {
        try self(column, as: ByteBuffer?.self).map { Array($0.readableBytesView) }
    }
}

/// What one transaction has learned so far and need not ask the database again.
final class TransactionMemo {
    /// Audit entries to append just before this transaction commits.
    var pendingAudit: [PendingAuditEntry] = []
    /// SHA-256s of the registered consent texts, by purpose and version.
    var consentTextHashes: [String: [String]] = [:]
    /// Whether this transaction holds the consent lock alone (`AdvisoryLock.consent`), or
    /// must take it so: only then may it change which subjects are restricted.
    var consentLockExclusive = false
}

/// One connection inside a transaction (or outside one, for reads).
struct SQLConnection {
    let connection: PostgresConnection
    let logger: Logger
    let memo = TransactionMemo()

    func execute(_ sql: String, _ arguments: any SQLArgumentConvertible...) async throws {
        try await execute(StoreStatement(sql, arguments: arguments))
    }

    func execute(_ statement: StoreStatement) async throws {
        for try await _ in try await connection.query(PostgresSQL.query(statement), logger: logger) {}
    }

    /// Runs an INSERT, UPDATE or DELETE and returns how many rows it changed.
    func changes(_ statement: StoreStatement) async throws -> Int {
        try await scalar(Int.self, StoreStatement("WITH changed AS (\(statement.sql) RETURNING 1) SELECT COUNT(*) FROM changed",
                                                  arguments: statement.arguments)) ?? 0
    }

    func fetchAll(_ sql: String, _ arguments: any SQLArgumentConvertible...) async throws -> [SQLRow] {
        try await fetchAll(StoreStatement(sql, arguments: arguments))
    }

    func fetchAll(_ statement: StoreStatement) async throws -> [SQLRow] {
        var result: [SQLRow] = []
        for try await row in try await connection.query(PostgresSQL.query(statement), logger: logger) {
            result.append(SQLRow(row))
        }
        return result
    }

    /// Each row as it arrives, none kept: for reads whose rows are folded into something smaller
    /// (a window of statistics is 80 MB of rows on 100 M outcomes).
    func forEachRow(_ statement: StoreStatement, _ body: (SQLRow) throws -> Void) async throws {
        for try await row in try await connection.query(PostgresSQL.query(statement), logger: logger) {
            try body(SQLRow(row))
        }
    }

    func fetchOne(_ statement: StoreStatement) async throws -> SQLRow? {
        try await fetchAll(statement).first
    }

    /// The first column of the first row.
    func scalar<Value: PostgresDecodable>(_ type: Value.Type, _ sql: String, _ arguments: any SQLArgumentConvertible...) async throws -> Value? {
        try await scalar(type, StoreStatement(sql, arguments: arguments))
    }

    func scalar<Value: PostgresDecodable>(_ type: Value.Type, _ statement: StoreStatement) async throws -> Value? {
        for try await row in try await connection.query(PostgresSQL.query(statement), logger: logger) {
            let cell = row.makeRandomAccess()[0]
            return cell.bytes == nil ? nil : try cell.decode(Value.self, context: .default)
        }
        return nil
    }

    /// The first column of every row.
    func column<Value: PostgresDecodable>(_ type: Value.Type, _ statement: StoreStatement) async throws -> [Value] {
        var values: [Value] = []
        for try await row in try await connection.query(PostgresSQL.query(statement), logger: logger) {
            values.append(try row.makeRandomAccess()[0].decode(Value.self, context: .default))
        }
        return values
    }

    func exists(_ statement: StoreStatement) async throws -> Bool {
        try await !fetchAll(statement).isEmpty
    }

    /// Runs the change; its audit entries are appended when the transaction is about to
    /// commit (`PostgresStore.flushAudit`), so the audit log's lock is held for the
    /// last moments only.
    func apply(_ change: StoreChange) async throws {
        for statement in change.statements { try await execute(statement) }
        memo.pendingAudit += change.audit
    }

    /// Loads what the cache lacks to decide for these subjects, in one query per table.
    func prepare(_ consent: inout ConsentCache, for pseudonyms: [String], purpose: Purpose) async throws {
        guard let load = consent.load(for: pseudonyms, purpose: purpose, sql: PostgresStore.sql) else { return }
        let texts = if let statement = load.texts { try await fetchAll(statement) } else { [SQLRow]() }
        try consent.add(load, records: await fetchAll(load.records), requestedErasures: await fetchAll(load.requestedErasures),
                        texts: texts)
    }
}
