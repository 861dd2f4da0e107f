import Foundation
import GRDB
import PostgresTestSupport
@testable import Storage
import Testing

/// The schema a fresh database ends with after every registered migration step, recorded
/// in `SQLiteSchemaFixture.swift` and `PostgresSchemaFixture.swift`. Registered steps never
/// change their effect, so these fixtures change only when a step is added: then run this
/// suite once with `FACELOOP_RECORD_STORE_SCHEMA=1` (and a PostgreSQL cluster) to record
/// them again, and read the diff.
enum StoreSchemaFixture {}

@Suite("A fresh store's schema")
struct StoreSchemaTests {
    static var recording: Bool { ProcessInfo.processInfo.environment["FACELOOP_RECORD_STORE_SCHEMA"] == "1" }

    @Test("SQLite: sqlite_master after migrating a fresh file is the recorded one, to the letter")
    func sqlite() async throws {
        let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("faceloop-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
        // In creation order; an index SQLite makes for a constraint has no SQL.
        let entries = try await store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").map { row in
                let sql: String? = row["sql"]
                return "\(row["type"] as String) \(row["name"] as String) ON \(row["tbl_name"] as String)\n\(sql ?? "(no sql)")"
            }
        }
        if Self.recording { return try Self.record(entries, as: "sqlite", in: "SQLiteSchemaFixture.swift") }
        Self.compare(entries, StoreSchemaFixture.sqlite)
    }

    @Test("PostgreSQL: columns, constraints and indexes after migrating a fresh database are the recorded ones",
          .enabled(if: PostgresTestDatabase.isAvailable))
    func postgres() async throws {
        let store = try await PostgresStore(url: try await PostgresTestDatabase.create(), maximumConnections: 1)
        // Month partitions come and go with the date (`OutcomeMonth`); they are their parent's.
        let partitions = "SELECT relname FROM pg_class WHERE relispartition"
        let queries = [
            """
            SELECT format('column %s.%s #%s %s nullable=%s default=%s identity=%s %s', table_name, column_name,
                          ordinal_position, data_type, is_nullable, coalesce(column_default, '-'), is_identity,
                          coalesce(identity_generation, '-')) AS line
            FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT IN (\(partitions))
            ORDER BY table_name, ordinal_position
            """,
            """
            SELECT format('constraint %s.%s %s: %s', conrelid::regclass, conname, contype, pg_get_constraintdef(oid)) AS line
            FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT IN (\(partitions))
            ORDER BY conrelid::regclass::text, conname
            """,
            """
            SELECT format('index %s.%s: %s', tablename, indexname, indexdef) AS line
            FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT IN (\(partitions)) ORDER BY tablename, indexname
            """,
            """
            SELECT format('partitioned %s: %s', c.relname, pg_get_partkeydef(c.oid)) AS line
            FROM pg_class c WHERE c.relkind = 'p' AND c.relnamespace = 'public'::regnamespace ORDER BY c.relname
            """,
            """
            SELECT format('partition %s of %s: %s', c.relname, i.inhparent::regclass, pg_get_expr(c.relpartbound, c.oid)) AS line
            FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
            WHERE c.relispartition AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' ORDER BY c.relname
            """,
            """
            SELECT format('sequence %s %s', sequencename, data_type) AS line
            FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename
            """,
        ]
        let lines: [String]
        do {
            lines = try await store.read { db in
                var lines: [String] = []
                for query in queries { lines += try await db.fetchAll(query).map { try $0.text("line") } }
                return lines
            }
        } catch {
            await store.shutdown()
            throw error
        }
        await store.shutdown()
        if Self.recording { return try Self.record(lines, as: "postgres", in: "PostgresSchemaFixture.swift") }
        Self.compare(lines, StoreSchemaFixture.postgres)
    }

    /// Entry by entry, so that a difference names the table.
    static func compare(_ actual: [String], _ recorded: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for entry in actual where !recorded.contains(entry) {
            Issue.record("not recorded:\n\(entry)", sourceLocation: sourceLocation)
        }
        for entry in recorded where !actual.contains(entry) {
            Issue.record("recorded but missing:\n\(entry)", sourceLocation: sourceLocation)
        }
        if Set(actual) == Set(recorded), actual != recorded {
            Issue.record("the recorded entries, in another order or repeated", sourceLocation: sourceLocation)
        }
    }

    /// Writes the fixture as Swift source beside this file: one raw string literal an entry,
    /// its lines as they are (SQLite keeps a table's SQL as written, and edits it in place for
    /// each added column).
    static func record(_ entries: [String], as name: String, in file: String, test: String = #filePath) throws {
        var source = """
            // Recorded by StoreSchemaTests (FACELOOP_RECORD_STORE_SCHEMA=1): the schema of a fresh store. Do not edit.

            extension StoreSchemaFixture {
                static let \(name): [String] = [

            """
        for entry in entries {
            precondition(!entry.contains("\"#"), "an entry closes a raw string literal")
            if !entry.contains("\n") {
                source += "        #\"\(entry)\"#,\n"
                continue
            }
            source += "        #\"\"\"\n"
            for line in entry.split(separator: "\n", omittingEmptySubsequences: false) {
                source += line.isEmpty ? "\n" : "        \(line)\n"
            }
            source += "        \"\"\"#,\n"
        }
        source += "    ]\n}\n"
        let url = URL(fileURLWithPath: test).deletingLastPathComponent().appendingPathComponent(file)
        try source.write(to: url, atomically: true, encoding: .utf8)
    }
}
