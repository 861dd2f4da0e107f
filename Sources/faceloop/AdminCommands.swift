import ArgumentParser
import FeedbackWire
import Foundation
import Storage
import StrictJSON

/// Key rotation through the API, and work on the server's store itself (`migrate-store`, with
/// the server stopped).
struct AdminCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "admin",
                                                    abstract: "Rotate the server's keys; move a stopped server's store.",
                                                    subcommands: [Rotate.self, MigrateStore.self])

    struct MigrateStore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate-store",
            abstract: "Copy a SQLite pilot's store into an empty PostgreSQL database, verified by row counts and the audit log's root hash.",
            discussion: """
                Stop the server first. Everything is copied in one PostgreSQL transaction: if any table's row count or \
                the audit log's Merkle root differs afterwards, nothing is committed. Then start the nodes with \
                store.kind postgres (docs/operations.md). The live score statistics and outcome counters are copied as \
                rows, like every table (their encoding is the same on both back ends), so the copy computes thresholds \
                at once. The URL may come from $FACELOOP_STORE_POSTGRES_URL instead of --to, which keeps a password out \
                of the shell history.
                """)
        @Option(help: "The SQLite store (default data/faceloop.sqlite).") var from = "data/faceloop.sqlite"
        @Option(help: "postgres://user:password@host:5432/database (default $FACELOOP_STORE_POSTGRES_URL).") var to: String?
        @Flag var json = false

        func run() async throws {
            guard let url = to ?? ProcessInfo.processInfo.environment["FACELOOP_STORE_POSTGRES_URL"], !url.isEmpty else {
                throw ValidationError("give the target database with --to or $FACELOOP_STORE_POSTGRES_URL")
            }
            let quiet = json
            let report: StoreMigration.Report
            do {
                report = try await StoreMigration.copy(sqlitePath: from, to: url) { line in
                    if !quiet { FileHandle.standardError.write(Data(("copied " + line + "\n").utf8)) }
                }
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode.failure
            }
            if json {
                let tables = JSONValue.array(report.tables.map { table in
                    .object([("table", .string(table.name)), ("source_rows", .number(Double(table.sourceRows))),
                             ("copied_rows", .number(Double(table.copiedRows)))])
                })
                print(JSONValue.object([("tables", tables), ("audit_entries", .number(Double(report.auditEntries))),
                                        ("audit_root_hash", .string(report.auditRootHash))]).serializedString)
                return
            }
            let rows = report.tables.reduce(0) { $0 + $1.copiedRows }
            print("OK: \(rows) rows in \(report.tables.count) tables copied; every count matches; "
                  + "audit log \(report.auditEntries) entries, root \(report.auditRootHash) on both sides")
        }
    }
}
