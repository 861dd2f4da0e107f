import Calibration
import Foundation
import Storage

/// Writes a bulk load into a PostgreSQL store with `COPY … FROM STDIN` through one `psql`
/// process (text format, one COPY per table per cohort), the counters with upserts. The
/// outcomes' secondary indexes are dropped for the base load and built after it.
final class PostgresSink: BulkSink {
    let url: String
    private let process = Process()
    private let input = Pipe()
    private var droppedIndexes: [String] = []
    private var batches = ""
    private var outcomes = ""
    private var statistics = ""
    private var counters = ""

    init(url: String) {
        self.url = url
    }

    func begin(phase: Fleet.Phase) throws {
        if phase == .base {
            let definitions = try Psql.query(url, """
                SELECT indexname || chr(9) || indexdef FROM pg_indexes
                WHERE tablename = 'outcomes' AND indexdef NOT LIKE 'CREATE UNIQUE INDEX%'
                """)
            for line in definitions.split(separator: "\n") {
                let parts = line.split(separator: "\t", maxSplits: 1)
                guard parts.count == 2 else { continue }
                // A partitioned table's index reads `ON ONLY`: recreated so, it would cover no partition.
                droppedIndexes.append(parts[1].replacingOccurrences(of: " ON ONLY ", with: " ON "))
                _ = try Psql.query(url, "DROP INDEX \(parts[0])")
            }
        }
        process.executableURL = URL(fileURLWithPath: try Psql.executable())
        process.arguments = [url, "-q", "-v", "ON_ERROR_STOP=1"]
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Only this load writes; nothing here has to survive a crash of the database.
        send("SET synchronous_commit = off;\n")
    }

    func device(id: String, at time: Double) throws {
        counters += """
            INSERT INTO devices (device_id, status, signing_key, certificate_der, certificate_fingerprint, certificate_serial,
                                 certificate_not_after, enrolled_at, revoked_at)
            VALUES ('\(id)', 'revoked', '', '', 'bench-\(id)', '0', \(time), \(time), \(time));

            """
    }

    func batch(id: String, device: String, sequence: Int, receivedAt: Double, events: Int) throws {
        batches += "\(id)\t\(device)\t\(sequence)\t\t\\\\x\t\t\t\(receivedAt)\t\(events)\t\\\\x\t\(receivedAt)\n"
    }

    func outcome(_ row: OutcomeRow) throws {
        let shadow = row.shadowScore.map { "\(Fleet.shadowModelVersion)\t\($0)" } ?? "\\N\t\\N"
        outcomes += "\(row.eventID)\t\(row.batchID)\t\(row.device)\t\(row.attemptedAt)\t\(Fleet.modelVersion)\tinitial\t\(row.site)\t"
            + "\(row.camera)\t[]\t\(row.score)\t\(row.decision)\t\(row.label)\t\(row.labelSource)\t\(row.faceSize)\t\(row.sharpness)\t"
            + "\(row.brightness)\t\(row.liveness)\t\(row.subject)\tconsent-1\t\(shadow)\t1\n"
    }

    func statistics(key: CohortKey, granularity: String, bucket: Int, statistics: CohortStatistics) throws {
        self.statistics += "\(key.modelVersion)\t\(key.cameraModel)\t\(key.cohort)\t\(granularity)\t\(bucket)\t\(statistics.outcomeCount)\t\\\\x"
            + Self.hex(statistics.encoded()) + "\n"
    }

    func count(device: String, site: String, camera: String, outcomesByLabel: [String: Int], batches: Int) throws {
        for (label, outcomes) in outcomesByLabel.sorted(by: { $0.key < $1.key }) {
            counters += """
                INSERT INTO outcome_counts (device_id, site, camera_model, label, outcomes) VALUES ('\(device)', '\(site)', '\(camera)', '\(label)', \(outcomes))
                ON CONFLICT (device_id, site, camera_model, label) DO UPDATE SET outcomes = outcome_counts.outcomes + excluded.outcomes;

                """
        }
        counters += """
            INSERT INTO batch_counts (device_id, batches) VALUES ('\(device)', \(batches))
            ON CONFLICT (device_id) DO UPDATE SET batches = batch_counts.batches + excluded.batches;

            """
    }

    func endCohort(outcomesSoFar: Int) throws {
        // Devices first: batches reference them, outcomes reference batches.
        send("BEGIN;\n")
        send(counters)
        copy("batches (batch_id, device_id, sequence, content_digest, body, signature_input, signature, received_at, event_count, receipt, redacted_at)",
             batches)
        copy("""
            outcomes (event_id, batch_id, device_id, attempted_at, model_version, threshold_version, site, camera_model, tags, score,
                      decision, label, label_source, face_size_px, sharpness, brightness, liveness_score, subject_pseudonym, consent_ref,
                      shadow_model_version, shadow_score, key_version)
            """, outcomes)
        copy("score_statistics (model_version, camera_model, site, granularity, bucket, outcome_count, statistics)", statistics)
        send("COMMIT;\n")
        counters = ""
        batches = ""
        outcomes = ""
        statistics = ""
    }

    func finish() throws {
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("psql failed loading the store (status \(process.terminationStatus))") }
        for index in droppedIndexes { _ = try Psql.query(url, index) }
        _ = try Psql.query(url, "ANALYZE")
    }

    private func copy(_ table: String, _ rows: String) {
        guard !rows.isEmpty else { return }
        send("COPY \(table) FROM STDIN;\n")
        send(rows)
        send("\\.\n")
    }

    private func send(_ text: String) {
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            for (index, byte) in bytes.enumerated() {
                buffer[2 * index] = digits[Int(byte >> 4)]
                buffer[2 * index + 1] = digits[Int(byte & 0xF)]
            }
            return bytes.count * 2
        }
    }
}

/// `psql`, for the load and for the few queries the bench makes itself.
enum Psql {
    static func executable() throws -> String {
        let candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/psql" }
            + ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).sorted().reversed()
            .map { "/usr/lib/postgresql/\($0)/bin/psql" }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw BenchError("psql is not installed")
        }
        return found
    }

    /// Runs one statement and returns its rows, unaligned, one a line.
    static func query(_ url: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = [url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("psql failed: \(sql.prefix(80))") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
