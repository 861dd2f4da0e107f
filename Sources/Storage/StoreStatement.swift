import Foundation

/// The two SQL dialects the store speaks. The statements are written once (`StoreSQL`) and
/// differ only where the dialects do; each back end binds and runs them its own way.
enum StoreDialect: Sendable {
    case sqlite
    case postgres
}

/// A value bound to one `?` placeholder. Both back ends take the same list: SQLite through
/// GRDB, PostgreSQL numbered as `$n` by `PostgresSQL.query`.
enum SQLArgument: Sendable, Equatable {
    case text(String)
    case integer(Int)
    case real(Double)
    case bytes([UInt8])
    case boolean(Bool)
    /// A list of strings for `StoreSQL.inList`: a `text[]` in PostgreSQL, a JSON array that
    /// `json_each` unpacks in SQLite.
    case textList([String])
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
/// Times are stored as seconds since 1970 in both back ends.
extension Date: SQLArgumentConvertible { var sqlArgument: SQLArgument { .real(timeIntervalSince1970) } }
extension Optional: SQLArgumentConvertible where Wrapped: SQLArgumentConvertible {
    var sqlArgument: SQLArgument { self?.sqlArgument ?? .null }
}

/// Where a statement's arguments are spelled into: a list (`StoreStatement.arguments`), or
/// SQLite's packed form (`SQLitePackedArguments`).
protocol SQLArgumentSink {
    mutating func append(_ argument: SQLArgument)
}

extension Array: SQLArgumentSink where Element == SQLArgument {}

/// One statement and its arguments, ready for either back end to run.
struct StoreStatement: Sendable, Equatable {
    var sql: String
    var arguments: [SQLArgument]
    /// `arguments` packed for SQLite ahead of time, for the statements the writer runs most.
    var sqlitePacked: SQLitePackedArguments?

    init(_ sql: String, _ arguments: any SQLArgumentConvertible...) {
        self.init(sql, arguments: arguments)
    }

    init(_ sql: String, arguments: [any SQLArgumentConvertible]) {
        self.sql = sql
        self.arguments = arguments.map(\.sqlArgument)
    }
}

extension StoreStatement {
    /// PostgreSQL: data-modifying statements joined into as few statements as `argumentLimit`
    /// allows (`WITH s0 AS (…), s1 AS (…) SELECT 1`), in order, one round trip each. Every part
    /// runs once whether or not anything refers to it, and all see one snapshot: none may read
    /// or change what another part writes.
    static func combined(_ statements: [StoreStatement], argumentLimit: Int) -> [StoreStatement] {
        var groups: [[StoreStatement]] = []
        var argumentsInGroup = 0
        for statement in statements {
            if groups.isEmpty || argumentsInGroup + statement.arguments.count > argumentLimit {
                groups.append([])
                argumentsInGroup = 0
            }
            groups[groups.count - 1].append(statement)
            argumentsInGroup += statement.arguments.count
        }
        return groups.map { group in
            guard group.count > 1 else { return group[0] }
            let parts = group.enumerated().map { "s\($0.offset) AS (\($0.element.sql))" }
            var joined = StoreStatement("WITH " + parts.joined(separator: ", ") + " SELECT 1")
            joined.arguments = group.flatMap(\.arguments)
            return joined
        }
    }
}

/// One row of a result, read by column name: what the shared decoders (`StoreRows`) need
/// from GRDB's rows and from PostgresNIO's alike.
protocol StoreRow {
    func text(_ column: String) throws -> String
    func optionalText(_ column: String) throws -> String?
    func integer(_ column: String) throws -> Int
    func optionalInteger(_ column: String) throws -> Int?
    func real(_ column: String) throws -> Double
    func optionalReal(_ column: String) throws -> Double?
    func flag(_ column: String) throws -> Bool
    func bytes(_ column: String) throws -> [UInt8]
    func optionalBytes(_ column: String) throws -> [UInt8]?
}

extension StoreRow {
    func date(_ column: String) throws -> Date {
        Date(timeIntervalSince1970: try real(column))
    }

    func optionalDate(_ column: String) throws -> Date? {
        try optionalReal(column).map(Date.init(timeIntervalSince1970:))
    }
}
