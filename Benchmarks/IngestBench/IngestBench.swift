import ArgumentParser
import AsyncHTTPClient
import Compliance
import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import HTTPSignatures
import NIOCore
import NIOSSL
import Storage

/// Measures accepted events per second: straight into the store, and through the real server
/// over mutual TLS with signed batches from several concurrent kiosks — on SQLite, or on
/// PostgreSQL with one or more server nodes (kiosks spread evenly over the nodes, as a TCP
/// load balancer would).
@main
struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest-bench",
                                                    abstract: "Ingest throughput and latency of the feedback server.")

    @Option(help: "faceloop-server binary to start.") var server = ".build/release/faceloop-server"
    @Option(help: "Concurrent kiosks.") var kiosks = 8
    @Option(name: .customLong("batches"), help: "Batches per kiosk.") var batchesPerKiosk = 50
    @Option(name: .customLong("batch-size"), help: "Outcomes per batch.") var batchSize = 100
    @Option(name: .customLong("connections-per-kiosk"), help: "Requests in flight per kiosk.") var inFlight = 1
    @Option(name: .customLong("postgres-url"), help: "An empty PostgreSQL database; without it the store is SQLite.") var postgresURL: String?
    @Option(name: .customLong("postgres-direct-url"), help: "Another empty database, for the store-only run on PostgreSQL.")
    var postgresDirectURL: String?
    @Option(help: "Server nodes (PostgreSQL only).") var nodes = 1
    @Flag(name: .customLong("store-only"), help: "Measure the store alone and stop (for profiling it).") var storeOnly = false
    @Option(help: "Outcomes written straight into each SQLite store before it is measured (a store that has run for a while).")
    var prefill = 0
    @Option(help: "Write each upload's start and latency (ms since the first upload) to this CSV file.") var timeline: String?
    @Flag(name: .customLong("consent-every-batch"),
          help: "Every batch carries a grant for each of its subjects, not only each kiosk's first (kiosks that record consent at every visit).")
    var consentEveryBatch = false
    @Option(help: "Subjects the outcomes come from. A kiosk's batch carries a grant for each subject the kiosk names for the first time; from a pool larger than a batch, nearly every outcome's subject is new to the store.")
    var subjects = 64

    func validate() throws {
        guard nodes >= 1, nodes == 1 || postgresURL != nil else { throw ValidationError("several nodes need --postgres-url") }
        guard (postgresURL == nil) == (postgresDirectURL == nil) else {
            throw ValidationError("give --postgres-url and --postgres-direct-url together: both runs start from an empty database")
        }
        guard prefill >= 0, prefill == 0 || postgresURL == nil else { throw ValidationError("--prefill fills SQLite stores only") }
        guard subjects >= 1 else { throw ValidationError("--subjects must be at least 1") }
    }

    func run() async throws {
        let root = (NSTemporaryDirectory() as NSString).appendingPathComponent("faceloop-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let total = kiosks * batchesPerKiosk
        let batchSize = self.batchSize, batchesPerKiosk = self.batchesPerKiosk, inFlight = self.inFlight

        // Filled once; both stores start from a copy.
        var prefilled: String?
        if prefill > 0 {
            let path = (root as NSString).appendingPathComponent("prefilled.sqlite")
            let took = try Prefill.sqlite(path: path, outcomes: prefill)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            print("prefilled \(prefill) outcomes in \(String(format: "%.0f", Self.seconds(took))) s (\(size / 1_000_000) MB)")
            prefilled = path
        }

        // 1. The store alone: the same rows, no HTTP, TLS, signature or schema work.
        let store: any FeedbackStore & ComplianceStore
        var closeStore: () async -> Void = {}
        if let postgresDirectURL {
            let postgres = try await PostgresStore(url: postgresDirectURL)
            store = postgres
            closeStore = { await postgres.shutdown() }
        } else {
            let path = (root as NSString).appendingPathComponent("direct.sqlite")
            if let prefilled { try Self.copySynced(prefilled, to: path) }
            store = try SQLiteStore(path: path)
        }
        try await store.addEnrollmentToken(.init(sha256: "t", deviceID: "kiosk-0", createdAt: Date(), expiresAt: Date().addingTimeInterval(60)))
        _ = try await store.redeemEnrollmentToken(sha256: "t", device: NewDevice(
            deviceID: "kiosk-0", signingKey: Data(count: 32), certificateDER: Data([0x30, 0]), certificateFingerprint: "f",
            certificateSerial: "1", certificateNotAfter: Date().addingTimeInterval(86_400)), now: Date())
        _ = try await store.addConsentText(Self.consentText, actor: "bench", at: Date())
        let pool = BenchSubjects(count: subjects)
        let directBatches = pool.kioskBatches(first: 0, count: total, size: batchSize, everyBatch: consentEveryBatch).enumerated().map {
            Self.incoming(device: "kiosk-0", sequence: Int64($0.offset + 1), pool: pool, subjects: $0.element.subjects, grants: $0.element.grants)
        }
        // As many batches in flight as the server run below has, so that the store is measured
        // under the same concurrency (SQLite commits the batches that wait together).
        let concurrency = kiosks * inFlight
        let directStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<concurrency {
                let lanes = stride(from: lane, to: directBatches.count, by: concurrency).map { directBatches[$0] }
                group.addTask { for batch in lanes { _ = try await store.storeBatch(batch) } }
            }
            try await group.waitForAll()
        }
        let directSeconds = Self.seconds(ContinuousClock.now - directStart)
        let directRate = Double(total * batchSize) / directSeconds
        await closeStore()
        let backEnd = postgresURL == nil ? "SQLite, WAL, log synced before each answer" + (prefill > 0 ? ", \(prefill) outcomes stored before" : "")
                                         : "PostgreSQL"
        if storeOnly {
            print("| store only (\(backEnd)), \(concurrency) in flight | \(total) × \(batchSize) | \(Int(directRate)) events/s | — | — |")
            return
        }

        // 2. The real server over mutual TLS; node 1 makes the keys, the others run with copies.
        let dataDirectory = (root as NSString).appendingPathComponent("server-1")
        var environment = ProcessInfo.processInfo.environment
        if let postgresURL {
            environment["FACELOOP_STORE_KIND"] = "postgres"
            environment["FACELOOP_STORE_POSTGRES_URL"] = postgresURL
        }
        var processes: [Process] = []
        defer { for process in processes { process.terminate(); process.waitUntilExit() } }
        var nodeURLs: [String] = []
        if let prefilled {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            try Self.copySynced(prefilled, to: (dataDirectory as NSString).appendingPathComponent("faceloop.sqlite"))
        }
        for node in 1...nodes {
            let directory = (root as NSString).appendingPathComponent("server-\(node)")
            if node > 1 { try FileManager.default.copyItem(atPath: dataDirectory, toPath: directory) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: server)
            process.arguments = ["--data-dir", directory, "--port", "0", "--metrics-port", "0", "--log-level", "error"]
            process.environment = environment
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            processes.append(process)
            nodeURLs.append("https://127.0.0.1:\(try Self.waitForPort(out))")
        }
        let baseURL = nodeURLs[0]
        let caPEM = try String(contentsOfFile: (dataDirectory as NSString).appendingPathComponent("ca.crt"), encoding: .utf8)
        let adminToken = try String(contentsOfFile: (dataDirectory as NSString).appendingPathComponent("admin.token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let adminClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: try Self.tls(caPEM: caPEM, identity: nil))
        // Every kiosk uploads outcomes of every site, so each is enrolled for all of them.
        for site in Self.sites {
            let (status, answer) = try await Self.post(adminClient, baseURL + "/v1/compliance/sites",
                                                       headers: ["authorization": "Bearer \(adminToken)", "content-type": "application/json"],
                                                       body: Array(#"{"site":"\#(site)","jurisdiction":"default","public_place":false}"#.utf8))
            guard status == 200 else { throw ValidationError("site \(site): HTTP \(status) \(String(decoding: answer, as: UTF8.self))") }
        }
        var enrolled: [(String, DeviceKeys, String)] = []
        for index in 0..<kiosks {
            let id = String(format: "kiosk-%03d", index + 1)
            let token = try await Self.enrollmentToken(client: adminClient, baseURL: baseURL, adminToken: adminToken, deviceID: id)
            let keys = DeviceKeys()
            let certificate = try await Self.redeem(client: adminClient, baseURL: baseURL, deviceID: id, token: token, keys: keys)
            enrolled.append((id, keys, certificate))
        }
        let (textStatus, textAnswer) = try await Self.post(adminClient, baseURL + "/v1/compliance/consent-texts",
                                                      headers: ["authorization": "Bearer \(adminToken)", "content-type": "application/json"],
                                                      body: Array(#"{"purpose":"threshold-calibration","version":"bench","language":"en","text":"\#(Self.consentWording)","effective_at":"2020-01-01T00:00:00Z","material":false}"#.utf8))
        guard textStatus == 201 else { throw ValidationError("consent text: HTTP \(textStatus) \(String(decoding: textAnswer, as: UTF8.self))") }
        try await adminClient.shutdown()

        let bodies = enrolled.enumerated().map { index, kiosk in
            pool.kioskBatches(first: index * batchesPerKiosk, count: batchesPerKiosk, size: batchSize, everyBatch: consentEveryBatch)
                .enumerated().map {
                    Self.batch(device: kiosk.0, sequence: Int64($0.offset + 1), pool: pool, subjects: $0.element.subjects, grants: $0.element.grants)
                        .encoded()
                }
        }
        // The schema check alone, as the server runs it on each body (parse, validate, decode).
        let validationStart = ContinuousClock.now
        for kioskBodies in bodies {
            for body in kioskBodies {
                guard case .success = OutcomeBatchValidator.shared.decode(body) else { throw ValidationError("a bench body fails the schema") }
            }
        }
        let validationRate = Double(total * batchSize) / Self.seconds(ContinuousClock.now - validationStart)

        let serverCPUBefore = processes.map { Self.cpuSeconds(of: $0.processIdentifier) }
        let benchCPUBefore = Self.ownCPUSeconds()
        let start = ContinuousClock.now
        let timed = try await withThrowingTaskGroup(of: [(Double, Double, Int64)].self) { group in
            for (index, kiosk) in enrolled.enumerated() {
                let kioskBodies = bodies[index]
                let baseURL = nodeURLs[index % nodeURLs.count]
                group.addTask {
                    let client = HTTPClient(eventLoopGroupProvider: .singleton,
                                            configuration: try Self.tls(caPEM: caPEM, identity: (kiosk.2, kiosk.1.tlsKey.pemRepresentation)))
                    // A window of `inFlight` requests: the next upload starts as soon as any
                    // one is answered, as an agent with that many connections would send them.
                    let measured = try await withThrowingTaskGroup(of: (Double, Double, Int64).self) { inner in
                        var pending = kioskBodies.enumerated().makeIterator()
                        func startNext() -> Bool {
                            guard let (index, body) = pending.next() else { return false }
                            inner.addTask {
                                let offset = Self.seconds(ContinuousClock.now - start)
                                let latency = try await Self.upload(client: client, baseURL: baseURL, deviceID: kiosk.0, key: kiosk.1.signingKey, body: body)
                                return (offset, latency, Int64(index + 1))
                            }
                            return true
                        }
                        for _ in 0..<inFlight where !startNext() { break }
                        var measured: [(Double, Double, Int64)] = []
                        while let latency = try await inner.next() {
                            measured.append(latency)
                            _ = startNext()
                        }
                        return measured
                    }
                    try await client.shutdown()
                    return measured
                }
            }
            return try await group.reduce(into: [(Double, Double, Int64)]()) { $0 += $1 }
        }
        let seconds = Self.seconds(ContinuousClock.now - start)
        let serverCPU = zip(processes, serverCPUBefore).map { process, before in Self.cpuSeconds(of: process.processIdentifier) - before }
            .reduce(0, +)
        let benchCPU = Self.ownCPUSeconds() - benchCPUBefore
        if let timeline {
            let rows = timed.sorted { $0.0 < $1.0 }.map { String(format: "%.1f,%.1f,%d", $0.0 * 1000, $0.1 * 1000, $0.2) }
            try (["start_ms,latency_ms,sequence"] + rows).joined(separator: "\n").appending("\n").write(toFile: timeline, atomically: true, encoding: .utf8)
        }
        let sorted = timed.map(\.1).sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000 }
        let tlsRate = Double(total * batchSize) / seconds
        let servers = nodes == 1 ? "server" : "\(nodes) server nodes"
        print("| schema validation only (one thread) | \(total) × \(batchSize) | \(Int(validationRate)) events/s | — | — |")
        print("| store only (\(backEnd)), \(concurrency) in flight | \(total) × \(batchSize) | \(Int(directRate)) events/s | — | — |")
        print("| \(servers) on \(postgresURL == nil ? "SQLite" : "PostgreSQL") over mutual TLS, \(kiosks) kiosks × \(inFlight) in flight | \(total) × \(batchSize) | \(Int(tlsRate)) events/s (\(Int(Double(total) / seconds)) batches/s) | \(String(format: "%.1f", percentile(0.5))) ms | \(String(format: "%.1f", percentile(0.99))) ms |")
        // CPU time is steadier than throughput when the machine's speed changes between runs.
        print(String(format: "CPU per batch over mutual TLS: %@ %.2f ms, this client %.2f ms", servers, serverCPU * 1000 / Double(total),
                     benchCPU * 1000 / Double(total)))
    }

    /// User and system time of a process so far, from /proc (Linux; 0 elsewhere).
    static func cpuSeconds(of pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let afterName = stat.range(of: ")", options: .backwards) else { return 0 }
        // Fields after the command name start at the third; utime and stime are the 14th and 15th.
        let fields = stat[afterName.upperBound...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func ownCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// A copy of the prefilled store, on disk before the run starts: gigabytes still being
    /// written back would hold up the store's own syncs and be measured as ingest.
    static func copySynced(_ source: String, to destination: String) throws {
        try FileManager.default.copyItem(atPath: source, toPath: destination)
        guard let handle = FileHandle(forUpdatingAtPath: destination) else { throw ValidationError("cannot open \(destination)") }
        defer { try? handle.close() }
        try handle.synchronize()
    }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    static func waitForPort(_ pipe: Pipe) throws -> Int {
        var buffer = Data()
        while true {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { throw ValidationError("the server exited before listening") }
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            if let range = text.range(of: #"https://[0-9.]+:[0-9]+"#, options: .regularExpression),
               let port = Int(text[range].split(separator: ":").last ?? "") {
                return port
            }
        }
    }

    static func tls(caPEM: String, identity: (String, String)?) throws -> HTTPClient.Configuration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        if let identity {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(identity.0.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.1.utf8), format: .pem))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        return configuration
    }

    static func post(_ client: HTTPClient, _ url: String, headers: [String: String], body: [UInt8]) async throws -> (Int, [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(60))
        var buffer = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    static func enrollmentToken(client: HTTPClient, baseURL: String, adminToken: String, deviceID: String) async throws -> String {
        let (status, body) = try await post(client, baseURL + "/v1/admin/enrollment-tokens",
                                            headers: ["authorization": "Bearer \(adminToken)", "content-type": "application/json"],
                                            body: [UInt8](try WireJSON.encoder().encode(EnrollmentTokenRequest(deviceID: deviceID, sites: sites))))
        guard status == 201 else { throw ValidationError("token: HTTP \(status)") }
        return try WireJSON.decoder().decode(EnrollmentToken.self, from: Data(body)).token
    }

    static func redeem(client: HTTPClient, baseURL: String, deviceID: String, token: String, keys: DeviceKeys) async throws -> String {
        let csr = try keys.certificateSigningRequestPEM(deviceID: deviceID)
        let request = EnrollmentRequest(deviceID: deviceID, token: token, csrPEM: csr,
                                        signingKey: keys.signingKey.publicKey.rawRepresentation.base64EncodedString(),
                                        proof: try EnrollmentProof.sign(deviceID: deviceID, token: token, csrPEM: csr, key: keys.signingKey).base64EncodedString())
        let (status, body) = try await post(client, baseURL + "/v1/enrollments", headers: ["content-type": "application/json"],
                                            body: [UInt8](try WireJSON.encoder().encode(request)))
        guard status == 201 else { throw ValidationError("enroll: HTTP \(status) \(String(decoding: body, as: UTF8.self))") }
        return try WireJSON.decoder().decode(EnrollmentResponse.self, from: Data(body)).certificatePEM
    }

    static func upload(client: HTTPClient, baseURL: String, deviceID: String, key: Curve25519.Signing.PrivateKey, body: [UInt8]) async throws -> Double {
        let headers = try UploadSignaturePolicy.signUpload(method: "POST", path: "/v1/outcomes", authority: "", body: body,
                                                           keyID: deviceID, key: key, now: Date())
        let start = ContinuousClock.now
        let (status, answer) = try await post(client, baseURL + "/v1/outcomes", headers: headers, body: body)
        guard status == 202 else { throw ValidationError("upload: HTTP \(status) \(String(decoding: answer, as: UTF8.self))") }
        return seconds(ContinuousClock.now - start)
    }

    static func outcome(_ index: Int, pseudonym: String) -> MatchOutcome {
        MatchOutcome(eventID: TimeOrderedUUID.make(), attemptedAt: Date(), modelVersion: "dlib-resnet-v1", thresholdVersion: "initial",
                     cohort: .init(site: sites[index % sites.count], cameraModel: "cam-x\(index % 3)", tags: ["lobby"]),
                     score: Double(index % 200) / 100 - 1, decision: index % 2 == 0 ? .accept : .reject,
                     label: index % 3 == 0 ? .impostor : .genuine, labelSource: .fallbackIDCheck,
                     quality: .init(faceSizePx: 100 + index % 100, sharpness: 120.5, brightness: 0.5), livenessScore: 0.9,
                     subject: .init(pseudonym: pseudonym, consentRef: "consent-\(index % 9)"))
    }

    static let sites = (0..<7).map { "branch-\($0)" }

    static let consentWording = "I agree that my match outcomes are used to calibrate this kiosk."
    static let consentText = ConsentText(purpose: .thresholdCalibration, version: "bench", language: "en",
                                         sha256: SHA256.hash(data: Data(consentWording.utf8)).map { String(format: "%02x", $0) }.joined(),
                                         effectiveAt: Date(timeIntervalSince1970: 1_577_836_800), material: false)

    /// One outcome for each of `subjects` (places in `pool`), and a grant for each of `grants`.
    static func batch(device: String, sequence: Int64, pool: BenchSubjects, subjects: [Int], grants: [Int]) -> OutcomeBatch {
        let consentEvents = grants.map {
            ConsentEvent(eventID: TimeOrderedUUID.make(), occurredAt: Date().addingTimeInterval(-60), pseudonym: pool.pseudonym($0),
                         purpose: "threshold-calibration", kind: .grant, method: .touch, site: sites[0], textVersion: "bench",
                         textSHA256: consentText.sha256)
        }
        return OutcomeBatch(deviceID: device, sequence: sequence, createdAt: Date(),
                            outcomes: subjects.enumerated().map { outcome($0.offset, pseudonym: pool.pseudonym($0.element)) },
                            consentEvents: consentEvents)
    }

    static func incoming(device: String, sequence: Int64, pool: BenchSubjects, subjects: [Int], grants: [Int]) -> IncomingBatch {
        let batch = batch(device: device, sequence: sequence, pool: pool, subjects: subjects, grants: grants)
        let body = batch.encoded()
        return IncomingBatch(batch: batch, body: body, contentDigest: ContentDigest.sha256Field(for: body), signatureInput: "", signature: "",
                             nonce: UUID().uuidString, receivedAt: Date())
    }
}
