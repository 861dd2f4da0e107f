import Foundation
import GRDB
import GRDBSQLite

/// How the SQLite back end hands a `StoreStatement` to SQLite: compiled once per connection
/// and its arguments bound through SQLite's C API. Compiling every statement anew and
/// converting each argument through GRDB's generic `StatementArguments` (a key path per
/// value) cost the batch path about a quarter of its CPU; GRDB still steps the statement
/// and reports its errors.
extension Database {
    /// Statements with more arguments than this are the multi-row ones whose text changes with
    /// the number of rows (audit entries, a long IN list): compiled for the call only, so that
    /// the connection's cache stays bounded.
    static let cachedArgumentLimit = 64

    /// The statement, reset, with `statement`'s arguments bound; ready for GRDB to step.
    /// `compiled`, a statement compiled from the same text, is taken instead of a lookup in the
    /// connection's cache, which hashes the whole text.
    func bound(_ statement: StoreStatement, reusing compiled: Statement? = nil) throws -> Statement {
        let prepared = try compiled ?? (statement.arguments.count <= Self.cachedArgumentLimit
            ? cachedStatement(sql: statement.sql) : makeStatement(sql: statement.sql))
        // A statement whose last step failed answers its next reset with that error; clear it
        // here so that GRDB's own reset below starts clean.
        sqlite3_reset(prepared.sqliteStatement)
        // Resets and clears the bindings, and marks them set, so that GRDB steps the statement
        // without binding (or checking) arguments of its own.
        prepared.setUncheckedArguments(StatementArguments())
        try bindArguments(of: statement, to: prepared.sqliteStatement)
        return prepared
    }

    /// Binds every placeholder: none is left from an earlier binding.
    private func bindArguments(of statement: StoreStatement, to handle: SQLiteStatement) throws {
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard expected == statement.arguments.count else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE,
                                message: "\(statement.arguments.count) arguments for \(expected) placeholders", sql: statement.sql)
        }
        for (offset, argument) in statement.arguments.enumerated() {
            let index = CInt(offset + 1)
            let code: CInt
            switch argument {
            case let .text(value): code = Self.bindText(value, to: handle, at: index)
            case let .integer(value): code = sqlite3_bind_int64(handle, index, Int64(value))
            case let .real(value): code = sqlite3_bind_double(handle, index, value)
            case let .boolean(value): code = sqlite3_bind_int64(handle, index, value ? 1 : 0)
            case let .bytes(value):
                code = value.isEmpty
                    // An empty blob, not NULL (which a null base address would bind).
                    ? sqlite3_bind_zeroblob(handle, index, 0)
                    : value.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, CInt($0.count), Self.transient) }
            // What `json_each` unpacks in `StoreSQL.inList`.
            case let .textList(values): code = Self.bindText(SQLArgument.jsonArray(values), to: handle, at: index)
            case .null: code = sqlite3_bind_null(handle, index)
            }
            guard code == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: lastErrorMessage, sql: statement.sql)
            }
        }
    }

    /// Runs an outcome insert on SQLite's C API alone. GRDB's own run of a statement asks each
    /// transaction observer whether it watches the table and resets the statement twice, which
    /// cost as much as binding the rows; no observer watches `outcomes` (`SQLiteConsentMemo`,
    /// `SQLiteStatisticsWindows`), and the insert runs inside the group's transaction, so GRDB
    /// has no transaction state to follow.
    private func insertOutcomes(_ statement: StoreStatement, compiled: Statement) throws {
        let code = (statement.sqlitePacked ?? SQLitePackedArguments(statement.arguments)).step(compiled.sqliteStatement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: lastErrorMessage, sql: statement.sql)
        }
    }

    /// SQLite copies the value before the call returns.
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    private static func bindText(_ value: String, to handle: SQLiteStatement, at index: CInt) -> CInt {
        var value = value
        // With its byte count, so that a string holding U+0000 is bound whole.
        return value.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { text in
                text.isEmpty ? sqlite3_bind_text(handle, index, "", 0, transient)
                             : sqlite3_bind_text(handle, index, text.baseAddress, CInt(text.count), transient)
            }
        }
    }
}

extension Database {
    /// `apply` for a batch's change. An outcome whose id is stored already fails its insert on
    /// the outcomes' key: that refuses the whole batch (`StoreAbort`, whose savepoint drops
    /// the rows the batch wrote before it), as `BatchIntake` would have had the id been read.
    /// Consecutive statements of one text (a batch's outcomes) run on one compiled statement.
    func applyBatch(_ change: StoreChange) throws {
        var previous: (sql: String, compiled: Statement)?
        for statement in change.statements {
            let isOutcomeInsert = statement.sql == StoreSQL.insertOutcomeRun || statement.sql == StoreSQL.insertOneOutcome
            do {
                if isOutcomeInsert {
                    let compiled = try previous.flatMap { $0.sql == statement.sql ? $0.compiled : nil } ?? cachedStatement(sql: statement.sql)
                    try insertOutcomes(statement, compiled: compiled)
                    previous = (statement.sql, compiled)
                } else {
                    try bound(statement).execute()
                    previous = nil
                }
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY && isOutcomeInsert {
                throw StoreAbort.batch(.duplicateEvent(try storedEarlier(statement) ?? { throw error }()))
            }
        }
        try appendAudit(change.audit)
    }

    /// The first of an outcome insert's ids that another batch stored: the statement stopped
    /// at it (`OR FAIL`), leaving the rows before it, which carry this batch's id.
    private func storedEarlier(_ statement: StoreStatement) throws -> UUID? {
        // A prepared batch's statements carry their arguments packed only.
        let packed = statement.sqlitePacked ?? SQLitePackedArguments(statement.arguments)
        let columns = packed.count / (statement.sql == StoreSQL.insertOneOutcome ? 1 : StoreSQL.sqliteRowsPerStatement)
        guard columns > 1, let batchID = packed.text(at: 1) else { return nil }
        for id in stride(from: 0, to: packed.count, by: columns).compactMap({ packed.text(at: $0) }) {
            let stored = try String.fetchOne(self, sql: "SELECT batch_id FROM outcomes WHERE event_id = ?", arguments: [id])
            if let stored, stored != batchID { return UUID(uuidString: id) }
        }
        return nil
    }
}
