import AuditLog
import Feedback
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// A value for one `$n` placeholder. The store's SQL is written with `?` placeholders, like
/// the SQLite back end's, and numbered here, so both read alike.
enum SQLArgument: Sendable {
    case text(String)
    case integer(Int)
    case real(Double)
    case bytes([UInt8])
    case boolean(Bool)
    case textArray([String])
    case null
}

protocol SQLArgumentConvertible: Sendable {
    var sqlArgument: SQLArgument { get }
}

extension SQLArgument: SQLArgumentConvertible { var sqlArgument: SQLArgument { self } }
extension String: SQLArgumentConvertible { var sqlArgument: SQLArgument { .text(self) } }
extension Int: SQLArgumentConvertible { var sqlArgument: SQLArgument { .integer(self) } }
extension Int64: SQLArgumentConvertible { var sqlArgument: SQLArgument { .integer(Int(self)) } }
extension Double: SQLArgumentConvertible { var sqlArgument: SQLArgument { .real(self) } }
extension Bool: SQLArgumentConvertible { var sqlArgument: SQLArgument { .boolean(self) } }
extension Array: SQLArgumentConvertible where Element == UInt8 { var sqlArgument: SQLArgument { .bytes(self) } }
extension Data: SQLArgumentConvertible { var sqlArgument: SQLArgument { .bytes([UInt8](self)) } }
extension Date: SQLArgumentConvertible { var sqlArgument: SQLArgument { .real(timeIntervalSince1970) } }
extension Optional: SQLArgumentConvertible where Wrapped: SQLArgumentConvertible {
    var sqlArgument: SQLArgument { self?.sqlArgument ?? .null }
}

/// A list of strings bound as one `text[]` (for `= ANY(?)`).
struct TextArray: SQLArgumentConvertible {
    var values: [String]
    var sqlArgument: SQLArgument { .textArray(values) }
}

enum PostgresSQL {
    /// Numbers the `?` placeholders (the store's SQL has no `?` inside literals) and binds the arguments.
    static func query(_ sql: String, _ arguments: [any SQLArgumentConvertible]) throws -> PostgresQuery {
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
            switch argument.sqlArgument {
            case let .text(value): bindings.append(value)
            case let .integer(value): bindings.append(value)
            case let .real(value): bindings.append(value)
            case let .bytes(value): bindings.append(ByteBuffer(bytes: value))
            case let .boolean(value): bindings.append(value)
            case let .textArray(value): bindings.append(value)
            case .null: bindings.appendNull()
            }
        }
        return PostgresQuery(unsafeSQL: text, binds: bindings)
    }

    /// The SQLSTATE of a server error (`23505` unique violation, `40001` serialization failure…).
    static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    static let uniqueViolation = "23505"
}

/// One row, read by column name.
struct SQLRow {
    let columns: PostgresRandomAccessRow

    init(_ row: PostgresRow) {
        columns = row.makeRandomAccess()
    }

    func callAsFunction<Value: PostgresDecodable>(_ column: String, as type: Value.Type = Value.self) throws -> Value {
        try columns[column].decode(Value.self, context: .default)
    }

    func date(_ column: String) throws -> Date {
        Date(timeIntervalSince1970: try self(column, as: Double.self))
    }

    func optionalDate(_ column: String) throws -> Date? {
        try self(column, as: Double?.self).map(Date.init(timeIntervalSince1970:))
    }

    func bytes(_ column: String) throws -> [UInt8] {
        let buffer = try self(column, as: ByteBuffer.self)
        return Array(buffer.readableBytesView)
    }

    func optionalBytes(_ column: String) throws -> [UInt8]? {
        try self(column, as: ByteBuffer?.self).map { Array($0.readableBytesView) }
    }
}

/// What one transaction has learned so far and need not ask the database again.
final class TransactionMemo {
    struct AuditAppend {
        var kind: AuditEntry.Kind
        var actor: String
        var details: [(key: String, value: JSONValue)]
        var time: Date
    }

    /// Audit entries to append just before this transaction commits.
    var pendingAudit: [AuditAppend] = []
    /// SHA-256s of the registered consent texts, by purpose and version.
    var consentTextHashes: [String: [String]] = [:]
}

/// One connection inside a transaction (or outside one, for reads).
struct SQLConnection {
    let connection: PostgresConnection
    let logger: Logger
    let memo = TransactionMemo()

    func execute(_ sql: String, _ arguments: any SQLArgumentConvertible...) async throws {
        try await execute(sql, arguments: arguments)
    }

    func execute(_ sql: String, arguments: [any SQLArgumentConvertible]) async throws {
        for try await _ in try await connection.query(try PostgresSQL.query(sql, arguments), logger: logger) {}
    }

    /// Runs an INSERT, UPDATE or DELETE and returns how many rows it changed.
    func changes(_ sql: String, _ arguments: any SQLArgumentConvertible...) async throws -> Int {
        try await scalar(Int.self, "WITH changed AS (\(sql) RETURNING 1) SELECT COUNT(*) FROM changed", arguments: arguments) ?? 0
    }

    func fetchAll(_ sql: String, _ arguments: any SQLArgumentConvertible...) async throws -> [SQLRow] {
        try await fetchAll(sql, arguments: arguments)
    }

    func fetchAll(_ sql: String, arguments: [any SQLArgumentConvertible]) async throws -> [SQLRow] {
        var result: [SQLRow] = []
        for try await row in try await connection.query(try PostgresSQL.query(sql, arguments), logger: logger) {
            result.append(SQLRow(row))
        }
        return result
    }

    func fetchOne(_ sql: String, _ arguments: any SQLArgumentConvertible...) async throws -> SQLRow? {
        try await fetchAll(sql, arguments: arguments).first
    }

    /// The first column of the first row.
    func scalar<Value: PostgresDecodable>(_ type: Value.Type, _ sql: String, _ arguments: any SQLArgumentConvertible...) async throws -> Value? {
        try await scalar(type, sql, arguments: arguments)
    }

    func scalar<Value: PostgresDecodable>(_ type: Value.Type, _ sql: String, arguments: [any SQLArgumentConvertible]) async throws -> Value? {
        for try await row in try await connection.query(try PostgresSQL.query(sql, arguments), logger: logger) {
            let cell = row.makeRandomAccess()[0]
            return cell.bytes == nil ? nil : try cell.decode(Value.self, context: .default)
        }
        return nil
    }

    func exists(_ sql: String, _ arguments: any SQLArgumentConvertible...) async throws -> Bool {
        try await !fetchAll(sql, arguments: arguments).isEmpty
    }
}
