import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

struct Measure: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Starts the server on a generated store and times threshold computation, approval and publication, drift and the calibration page.",
        discussion: """
        On a store whose recent days are still held back: computes, approves (a second engineer) and publishes a release, stops \
        the server, writes the recent days, and starts it again; then times drift, the calibration page and computation. \
        Prints median wall times and the server's peak RSS (VmHWM).
        """)

    @Option(name: .customLong("data-dir")) var dataDirectory: String
    @Option(name: .customLong("postgres-url")) var postgresURL: String?
    @Option(help: "The faceloop-server executable (a release build).") var server = ".build/release/faceloop-server"
    @Option(help: "Timed runs of each request.") var repeats = 5
    @Option(name: .customLong("target-fmr")) var targetFMR = 0.001

    func run() async throws {
        var fleet = try StatisticsBench.loadFleet(dataDirectory)
        print("store: \(fleet.outcomes) outcomes over \(fleet.cohorts) cohorts × \(fleet.days) days on \(postgresURL == nil ? "SQLite" : "PostgreSQL")")
        var timings: [(String, [Double])] = []
        var peaks: [Int] = []
        // The first start of an empty data directory makes the CA the client trusts.
        var running = try ServerUnderTest(executable: server, dataDirectory: dataDirectory, postgresURL: postgresURL)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: try Self.clientConfiguration(dataDirectory))
        try await running.waitUntilReady(client)

        if !fleet.recentWritten {
            let api = API(client: client, baseURL: running.baseURL, dataDirectory: dataDirectory)
            let (alice, bob) = try await api.engineers()
            var computeTimes: [Double] = []
            var version = 0
            for _ in 0..<repeats {
                let (seconds, view) = try await Self.time { try await api.compute(token: alice, targetFMR: targetFMR) }
                computeTimes.append(seconds)
                version = view.version
                print("  compute (before recent days): \(Self.ms(seconds)) — release \(view.version), \(view.cohorts) cohorts, \(view.refused) refused")
            }
            timings.append(("POST /v1/thresholds/releases, \(fleet.days(of: .base).count) days", computeTimes))
            let (publishSeconds, _) = try await Self.time { try await api.approveAndPublish(version: version, approver: bob, publisher: alice) }
            timings.append(("approve (2nd engineer) + publish", [publishSeconds]))
            peaks.append(try running.stop())
            print("writing the held-back days \(fleet.recentFirstDay)…\(fleet.lastDay)")
            let (written, seconds) = try await StatisticsBench.load(fleet, phase: .recent, dataDirectory: dataDirectory, postgresURL: postgresURL)
            fleet.recentWritten = true
            try StatisticsBench.saveFleet(fleet, dataDirectory)
            print("  \(written) outcomes in \(String(format: "%.1f", seconds)) s")
            running = try ServerUnderTest(executable: server, dataDirectory: dataDirectory, postgresURL: postgresURL)
            try await running.waitUntilReady(client)
        }

        let api = API(client: client, baseURL: running.baseURL, dataDirectory: dataDirectory)
        let (alice, bob) = try await api.engineers()
        var drift: [Double] = []
        for _ in 0..<repeats {
            let (seconds, summary) = try await Self.time { try await api.drift(token: alice) }
            drift.append(seconds)
            print("  drift: \(Self.ms(seconds)) — \(summary)")
        }
        timings.append(("GET /v1/thresholds/drift", drift))
        let cookie = try await api.signIn(token: alice)
        var page: [Double] = []
        for _ in 0..<repeats {
            let (seconds, bytes) = try await Self.time { try await api.calibrationPage(cookie: cookie) }
            page.append(seconds)
            print("  calibration page: \(Self.ms(seconds)) — \(bytes / 1_000) kB")
        }
        timings.append(("GET /ui/calibration", page))
        var compute: [Double] = []
        var version = 0
        for _ in 0..<repeats {
            let (seconds, view) = try await Self.time { try await api.compute(token: alice, targetFMR: targetFMR) }
            compute.append(seconds)
            version = view.version
            print("  compute: \(Self.ms(seconds)) — release \(view.version), \(view.cohorts) cohorts, \(view.refused) refused, \(view.approvals) approvals needed")
        }
        timings.append(("POST /v1/thresholds/releases, \(fleet.days) days", compute))
        let (publishSeconds, _) = try await Self.time { try await api.approveAndPublish(version: version, approver: bob, publisher: alice) }
        timings.append(("approve (2nd engineer) + publish", [publishSeconds]))
        peaks.append(try running.stop())
        try await client.shutdown()

        print("| request | median | min | max | runs |")
        print("|---|---|---|---|---|")
        for (name, values) in timings {
            let sorted = values.sorted()
            print("| \(name) | \(Self.ms(sorted[sorted.count / 2])) | \(Self.ms(sorted[0])) | \(Self.ms(sorted[sorted.count - 1])) | \(values.count) |")
        }
        print("server peak RSS (VmHWM): \(peaks.map { "\($0 / 1024) MB" }.joined(separator: " (first start), ")) (last start)")
    }

    static func time<T>(_ body: () async throws -> T) async throws -> (Double, T) {
        let start = ContinuousClock.now
        let value = try await body()
        return (StatisticsBench.seconds(ContinuousClock.now - start), value)
    }

    static func ms(_ seconds: Double) -> String { String(format: "%.0f ms", seconds * 1000) }

    static func clientConfiguration(_ dataDirectory: String) throws -> HTTPClient.Configuration {
        var tls = TLSConfiguration.makeClientConfiguration()
        let caPEM = try String(contentsOfFile: (dataDirectory as NSString).appendingPathComponent("ca.crt"), encoding: .utf8)
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        configuration.redirectConfiguration = .disallow
        return configuration
    }
}

/// A faceloop-server on the generated store, on a free port of 127.0.0.1.
final class ServerUnderTest {
    let process = Process()
    let baseURL: String

    init(executable: String, dataDirectory: String, postgresURL: String?) throws {
        var environment = ProcessInfo.processInfo.environment
        if let postgresURL {
            environment["FACELOOP_STORE_KIND"] = "postgres"
            environment["FACELOOP_STORE_POSTGRES_URL"] = postgresURL
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--data-dir", dataDirectory, "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--log-level", "error"]
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        let start = ContinuousClock.now
        try process.run()
        var buffer = Data()
        while true {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { throw BenchError("the server exited before listening") }
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            if let range = text.range(of: #"https://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                baseURL = String(text[range])
                break
            }
        }
        print("server \(process.processIdentifier) listening on \(baseURL) after \(Measure.ms(StatisticsBench.seconds(ContinuousClock.now - start)))")
    }

    /// Polls `/readyz` as a load balancer would, so that the first request timed is the first
    /// one a balanced node gets; prints how long after listening the node became ready.
    func waitUntilReady(_ client: HTTPClient) async throws {
        let start = ContinuousClock.now
        while true {
            var request = HTTPClientRequest(url: baseURL + "/readyz")
            request.method = .GET
            let response = try await client.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 16)
            if response.status == .ok { break }
            guard ContinuousClock.now - start < .seconds(120) else { throw BenchError("/readyz still \(response.status.code) after 120 s") }
            try await Task.sleep(for: .milliseconds(50))
        }
        print("ready \(Measure.ms(StatisticsBench.seconds(ContinuousClock.now - start))) after listening")
    }

    /// Peak resident set in KiB, then SIGTERM and wait.
    func stop() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            .flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") } ?? 0
        process.terminate()
        process.waitUntilExit()
        return peak
    }
}

/// The few calls the bench makes, over HTTPS with bearer tokens (and a page session).
struct API {
    let client: HTTPClient
    let baseURL: String
    let dataDirectory: String

    struct ReleaseSummary {
        var version: Int
        var cohorts: Int
        var refused: Int
        var approvals: Int
    }

    func request(_ method: HTTPMethod, _ path: String, headers: [String: String], body: [UInt8]? = nil) async throws -> (Int, [UInt8], HTTPHeaders) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: .seconds(600))
        var buffer = try await response.body.collect(upTo: 1 << 30)
        return (Int(response.status.code), buffer.readBytes(length: buffer.readableBytes) ?? [], response.headers)
    }

    func json(_ method: HTTPMethod, _ path: String, token: String, body: String? = nil, expect: Int = 200) async throws -> [String: Any] {
        var headers = ["authorization": "Bearer \(token)"]
        if body != nil { headers["content-type"] = "application/json" }
        let (status, bytes, _) = try await request(method, path, headers: headers, body: body.map { Array($0.utf8) })
        guard status == expect, let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw BenchError("\(method) \(path): HTTP \(status) \(String(decoding: bytes.prefix(600), as: UTF8.self))")
        }
        return object
    }

    /// Two engineers' tokens, made with the admin token the server wrote on its first start.
    func engineers() async throws -> (String, String) {
        let admin = try String(contentsOfFile: (dataDirectory as NSString).appendingPathComponent("admin.token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var tokens: [String] = []
        for label in ["bench-alice", "bench-bob"] {
            let grant = try await json(.POST, "/v1/admin/tokens", token: admin, body: #"{"role":"engineer","label":"\#(label)"}"#, expect: 201)
            guard let token = grant["token"] as? String else { throw BenchError("no token in the grant") }
            tokens.append(token)
        }
        return (tokens[0], tokens[1])
    }

    func compute(token: String, targetFMR: Double) async throws -> ReleaseSummary {
        let view = try await json(.POST, "/v1/thresholds/releases", token: token, body: #"{"target_fmr":\#(targetFMR)}"#, expect: 201)
        let entries = ((view["release"] as? [String: Any])?["entries"] as? [Any])?.count ?? 0
        return ReleaseSummary(version: view["version"] as? Int ?? 0, cohorts: entries, refused: (view["refused"] as? [Any])?.count ?? 0,
                              approvals: view["required_approvals"] as? Int ?? 0)
    }

    /// Approved by another engineer (and by the admin when the change needs two), published by the first.
    func approveAndPublish(version: Int, approver: String, publisher: String) async throws {
        var view = try await json(.POST, "/v1/thresholds/releases/\(version)/approve", token: approver)
        if view["state"] as? String == "computed" {
            let admin = try String(contentsOfFile: (dataDirectory as NSString).appendingPathComponent("admin.token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            view = try await json(.POST, "/v1/thresholds/releases/\(version)/approve", token: admin)
        }
        _ = try await json(.POST, "/v1/thresholds/releases/\(version)/publish", token: publisher)
    }

    func drift(token: String) async throws -> String {
        let view = try await json(.GET, "/v1/thresholds/drift", token: token)
        let cohorts = view["cohorts"] as? [[String: Any]] ?? []
        let compared = cohorts.filter { $0["report"] != nil && !($0["report"] is NSNull) }.count
        return "\(cohorts.count) cohorts, \(compared) compared"
    }

    /// The page session's cookie, from signing in with the token.
    func signIn(token: String) async throws -> String {
        let (status, bytes, headers) = try await request(.POST, "/ui/sign-in", headers: ["content-type": "application/x-www-form-urlencoded"],
                                                         body: Array("token=\(token)".utf8))
        guard (300..<400).contains(status), let cookie = headers["set-cookie"].first?.split(separator: ";").first else {
            throw BenchError("sign-in: HTTP \(status) \(String(decoding: bytes.prefix(300), as: UTF8.self))")
        }
        return String(cookie)
    }

    func calibrationPage(cookie: String) async throws -> Int {
        let (status, bytes, _) = try await request(.GET, "/ui/calibration", headers: ["cookie": cookie])
        guard status == 200 else { throw BenchError("calibration page: HTTP \(status) \(String(decoding: bytes.prefix(300), as: UTF8.self))") }
        return bytes.count
    }
}
