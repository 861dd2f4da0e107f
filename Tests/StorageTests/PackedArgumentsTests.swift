import Foundation
import GRDB
import GRDBSQLite
@testable import Storage
import Testing

@Suite("Arguments packed for SQLite")
struct PackedArgumentsTests {
    @Test("every kind of argument reads back as bound one by one would store it, and nothing stays bound")
    func roundTrip() throws {
        let queue = try DatabaseQueue()
        let arguments: [SQLArgument] = [
            .text(""), .text("a\u{0}b"), .text("zoë 😀"), .bytes([]), .bytes([0, 1, 255]), .integer(-42), .real(0.125),
            .boolean(true), .textList(["x", "y\""]), .null,
        ]
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (a, b, c, d, e, f, g, h, i, j)")
            let statement = try db.makeStatement(sql: "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            #expect(SQLitePackedArguments(arguments).step(statement.sqliteStatement) == SQLITE_DONE)
            #expect(sqlite3_bind_parameter_count(statement.sqliteStatement) == 10)
            // Unbound again: stepping once more stores only NULLs.
            sqlite3_reset(statement.sqliteStatement)
            #expect(sqlite3_step(statement.sqliteStatement) == SQLITE_DONE)
            let rows = try Row.fetchAll(db, sql: """
                SELECT a, b, c, d, e, f, g, h, i, j, typeof(a) AS ta, typeof(d) AS td, length(CAST(b AS BLOB)) AS lb FROM t ORDER BY rowid
                """)
            #expect(rows.count == 2)
            let row = rows[0]
            #expect(row["a"] as String? == "")
            #expect(row["ta"] as String? == "text")
            #expect(row["lb"] as Int? == 3, "the string holding U+0000 is stored whole")
            #expect(row["c"] as String? == "zoë 😀")
            #expect(row["td"] as String? == "blob")
            #expect((row["e"] as Data?).map { [UInt8]($0) } == [0, 1, 255])
            #expect(row["f"] as Int? == -42)
            #expect(row["g"] as Double? == 0.125)
            #expect(row["h"] as Int? == 1)
            #expect(row["i"] as String? == SQLArgument.jsonArray(["x", "y\""]))
            #expect(row["j"] as String? == nil)
            #expect(rows[1]["a"] as String? == nil && rows[1]["e"] as Data? == nil)
        }
    }

    @Test("a statement with another number of placeholders is refused before it runs")
    func placeholderCount() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (a, b)")
            let statement = try db.makeStatement(sql: "INSERT INTO t VALUES (?, ?)")
            #expect(SQLitePackedArguments([.integer(1)]).step(statement.sqliteStatement) == SQLITE_RANGE)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") == 0)
        }
    }
}
