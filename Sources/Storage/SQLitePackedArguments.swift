import GRDB
import GRDBSQLite

/// A statement's arguments laid out for SQLite to read in place: every string and blob in one
/// buffer, bound by pointer (`SQLITE_STATIC`). Bound one by one, each of the 16 strings of an
/// outcome was allocated and copied by SQLite and lent by Swift through a closure, about a
/// seventh of the writer's time; a batch's outcome inserts are packed on the uploading task
/// instead (`PreparedBatch`), and the writer only hands SQLite pointers.
struct SQLitePackedArguments: Sendable, Equatable, SQLArgumentSink {
    enum Value: Sendable, Equatable {
        case text(offset: Int, count: Int)
        case blob(offset: Int, count: Int)
        case integer(Int64)
        case real(Double)
        case null
    }

    /// Never empty, so that its base address is never nil (which SQLite would bind as NULL).
    private(set) var bytes: [UInt8] = [0]
    private(set) var values: [Value] = []

    init(_ arguments: [SQLArgument]) {
        values.reserveCapacity(arguments.count)
        for argument in arguments { append(argument) }
    }

    /// Empty, with room for `count` values; filled by `append` (`StoreSQL.packedOutcomeInserts`).
    init(reservingCapacity count: Int, bytes byteCount: Int) {
        values.reserveCapacity(count)
        bytes.reserveCapacity(byteCount + 1)
    }

    var count: Int { values.count }

    mutating func append(_ argument: SQLArgument) {
        switch argument {
        case let .text(text): values.append(append(text))
        case let .textList(texts): values.append(append(SQLArgument.jsonArray(texts)))
        case let .bytes(blob):
            values.append(.blob(offset: bytes.count, count: blob.count))
            bytes += blob
        case let .integer(value): values.append(.integer(Int64(value)))
        case let .boolean(value): values.append(.integer(value ? 1 : 0))
        case let .real(value): values.append(.real(value))
        case .null: values.append(.null)
        }
    }

    /// The text value at `index`, nil for any other kind of value.
    func text(at index: Int) -> String? {
        guard values.indices.contains(index), case let .text(start, count) = values[index] else { return nil }
        return String(decoding: bytes[start..<start + count], as: UTF8.self)
    }

    private mutating func append(_ text: String) -> Value {
        let offset = bytes.count
        bytes += text.utf8
        return .text(offset: offset, count: bytes.count - offset)
    }

    /// Binds every placeholder of `handle`, runs it to completion and unbinds it again, so that
    /// no pointer into `bytes` outlives the call. Returns SQLite's result code (`SQLITE_DONE`).
    func step(_ handle: SQLiteStatement) -> CInt {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return SQLITE_MISUSE }
            sqlite3_reset(handle)
            guard Int(sqlite3_bind_parameter_count(handle)) == values.count else { return SQLITE_RANGE }
            defer { sqlite3_clear_bindings(handle) }
            for (offset, value) in values.enumerated() {
                let index = CInt(offset + 1)
                let code: CInt = switch value {
                case let .text(start, count):
                    UnsafeRawPointer(base + start).withMemoryRebound(to: CChar.self, capacity: count) {
                        sqlite3_bind_text(handle, index, $0, CInt(count), nil)
                    }
                case let .blob(start, count): sqlite3_bind_blob(handle, index, base + start, CInt(count), nil)
                case let .integer(integer): sqlite3_bind_int64(handle, index, integer)
                case let .real(real): sqlite3_bind_double(handle, index, real)
                case .null: sqlite3_bind_null(handle, index)
                }
                guard code == SQLITE_OK else { return code }
            }
            return sqlite3_step(handle)
        }
    }
}
