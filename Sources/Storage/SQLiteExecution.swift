import Compliance
import FeedbackWire
import Foundation
import GRDB
import StrictJSON

/// How the SQLite back end runs the shared statements: synchronously, inside GRDB's
/// transaction closures.
extension Database {
    func execute(_ statement: StoreStatement) throws {
        try bound(statement).execute()
    }

    /// Runs an INSERT, UPDATE or DELETE and returns how many rows it changed.
    func changes(_ statement: StoreStatement) throws -> Int {
        try execute(statement)
        return changesCount
    }

    func fetchAll(_ statement: StoreStatement) throws -> [Row] {
        try Row.fetchAll(bound(statement))
    }

    func fetchOne(_ statement: StoreStatement) throws -> Row? {
        try Row.fetchOne(bound(statement))
    }

    /// The first column of the first row.
    func scalar<Value: DatabaseValueConvertible & StatementColumnConvertible>(_ type: Value.Type,
                                                                             _ statement: StoreStatement) throws -> Value? {
        try Value.fetchOne(bound(statement))
    }

    /// The first column of every row.
    func column<Value: DatabaseValueConvertible & StatementColumnConvertible>(_ type: Value.Type,
                                                                             _ statement: StoreStatement) throws -> [Value] {
        try Value.fetchAll(bound(statement))
    }

    func exists(_ statement: StoreStatement) throws -> Bool {
        try fetchOne(statement) != nil
    }

    /// Runs the change and appends its audit entries in this transaction. The single writer
    /// makes the next index safe to read here.
    func apply(_ change: StoreChange) throws {
        for statement in change.statements { try execute(statement) }
        try appendAudit(change.audit)
    }

    func appendAudit(_ entries: [PendingAuditEntry]) throws {
        guard !entries.isEmpty else { return }
        let sql = SQLiteStore.sql
        let first = try scalar(Int.self, sql.nextAuditIndex) ?? 0
        for statement in try sql.insertAuditEntries(entries, firstIndex: first) { try execute(statement) }
    }

    /// Loads what the cache lacks to decide for these subjects.
    func prepare(_ consent: inout ConsentCache, for pseudonyms: [String], purpose: Purpose) throws {
        guard let load = consent.load(for: pseudonyms, purpose: purpose, sql: SQLiteStore.sql) else { return }
        try consent.add(load, records: fetchAll(load.records), requestedErasures: fetchAll(load.requestedErasures),
                        texts: try load.texts.map { try fetchAll($0) } ?? [Row]())
    }
}

extension StoreStatement {
    var sqliteArguments: StatementArguments {
        StatementArguments(arguments.map { argument -> DatabaseValue in
            switch argument {
            case let .text(value): value.databaseValue
            case let .integer(value): value.databaseValue
            case let .real(value): value.databaseValue
            case let .bytes(value): Data(value).databaseValue
            case let .boolean(value): value.databaseValue
            // What `json_each` unpacks in `StoreSQL.inList`.
            case let .textList(values): SQLArgument.jsonArray(values).databaseValue
            case .null: .null
            }
        })
    }
}

extension Row: StoreRow {
    func text(_ column: String) throws -> String { try decode(String.self, forColumn: column) }
    func optionalText(_ column: String) throws -> String? { try decode(String?.self, forColumn: column) }
    func integer(_ column: String) throws -> Int { try decode(Int.self, forColumn: column) }
    func optionalInteger(_ column: String) throws -> Int? { try decode(Int?.self, forColumn: column) }
    func real(_ column: String) throws -> Double { try decode(Double.self, forColumn: column) }
    func optionalReal(_ column: String) throws -> Double? { try decode(Double?.self, forColumn: column) }
    func flag(_ column: String) throws -> Bool { try decode(Bool.self, forColumn: column) }
    func bytes(_ column: String) throws -> [UInt8] { [UInt8](try decode(Data.self, forColumn: column)) }
    func optionalBytes(_ column: String) throws -> [UInt8]? { try decode(Data?.self, forColumn: column).map { [UInt8]($0) } }
}
