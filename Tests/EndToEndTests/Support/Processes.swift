import ChildProcess
import Foundation
import TestSupport
import Testing

/// The package's built executables sit next to the test bundle.
enum Binaries {
    static var directory: URL {
        let candidates = [Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        for candidate in candidates {
            var url = candidate
            for _ in 0..<3 {
                if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("faceloop-server").path) { return url }
                url = url.deletingLastPathComponent()
            }
        }
        return candidates[0]
    }

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs one of the package's command-line tools (or a system tool by absolute path) to completion.
func runTool(_ name: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) throws -> CommandResult {
    let base = temporaryPath("run")
    let paths = (input: base + ".in", output: base + ".out", error: base + ".err")
    defer { for path in [paths.input, paths.output, paths.error] { try? FileManager.default.removeItem(atPath: path) } }
    _ = FileManager.default.createFile(atPath: paths.input, contents: stdin ?? Data())
    let process = try ChildProcess(executable: name.hasPrefix("/") ? name : Binaries.path(name), arguments: arguments,
                                   environment: environment,
                                   standardInput: paths.input, standardOutput: paths.output, standardError: paths.error)
    let status = process.wait()
    return CommandResult(status: status,
                         stdout: String(decoding: FileManager.default.contents(atPath: paths.output) ?? Data(), as: UTF8.self),
                         stderr: String(decoding: FileManager.default.contents(atPath: paths.error) ?? Data(), as: UTF8.self))
}

/// A `faceloop-server` process on 127.0.0.1 with a free port, stopped by SIGTERM.
final class ServerProcess: @unchecked Sendable {
    let dataDirectory: String
    /// Extra environment, e.g. `FACELOOP_FEDERATION_EPSILON_BUDGET`, kept across restarts.
    let environment: [String: String]
    private(set) var port = 0
    /// The plain-HTTP listener that serves `/metrics` (its own free port, so servers of
    /// tests running side by side do not collide on the default).
    private(set) var metricsPort = 0
    private var process: ChildProcess?

    init(dataDirectory: String, environment: [String: String] = [:]) {
        self.dataDirectory = dataDirectory
        self.environment = environment
    }

    var baseURL: String { "https://127.0.0.1:\(port)" }
    var metricsURL: String { "http://127.0.0.1:\(metricsPort)/metrics" }
    var caFile: String { (dataDirectory as NSString).appendingPathComponent("ca.crt") }
    var adminTokenFile: String { (dataDirectory as NSString).appendingPathComponent("admin.token") }
    var adminToken: String {
        ((try? String(contentsOfFile: adminTokenFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The first start picks a free port; restarts keep it, as enrolled agents remember it.
    func start() throws {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let output = (dataDirectory as NSString).appendingPathComponent("server-\(UUID().uuidString).out")
        let errors = (dataDirectory as NSString).appendingPathComponent("server.err")
        let process = try ChildProcess(
            executable: Binaries.path("faceloop-server"),
            arguments: ["--data-dir", dataDirectory, "--host", "127.0.0.1", "--port", String(port),
                        "--metrics-address", "127.0.0.1", "--metrics-port", String(metricsPort), "--log-level", "warning"],
            environment: environment, standardOutput: output, standardError: errors)
        self.process = process
        // The server prints one line for each listener once it listens; wait for both.
        let deadline = Date().addingTimeInterval(120)
        var text = ""
        while Date() < deadline, process.isRunning {
            text = String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self)
            // Up to the character after the port, so that a line caught half-written is not misread.
            if let api = text.range(of: #"listening on https://127\.0\.0\.1:[0-9]+ "#, options: .regularExpression),
               let metrics = text.range(of: #"metrics on http://127\.0\.0\.1:[0-9]+/"#, options: .regularExpression) {
                port = Int(text[api].dropLast().split(separator: ":").last ?? "") ?? 0
                metricsPort = Int(text[metrics].dropLast().split(separator: ":").last ?? "") ?? 0
                return
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.send(SIGTERM)
        process.wait()
        let log = String(decoding: FileManager.default.contents(atPath: errors) ?? Data(), as: UTF8.self)
        throw ServerProcessError.didNotStart(text + log)
    }

    /// SIGKILL, as in a power cut: no graceful shutdown at all.
    func kill() {
        guard let process else { return }
        process.send(SIGKILL)
        process.wait()
        self.process = nil
    }

    /// SIGTERM, then wait for the graceful exit; returns the exit status.
    @discardableResult
    func stop() -> Int32? {
        guard let process else { return nil }
        process.send(SIGTERM)
        self.process = nil
        return process.wait()
    }

    deinit { stop() }
}

enum ServerProcessError: Error {
    case didNotStart(String)
}

/// Starts a tool without waiting for it, for tests that kill it midway.
func launchTool(_ name: String, _ arguments: [String]) throws -> ChildProcess {
    try ChildProcess(executable: Binaries.path(name), arguments: arguments)
}

/// Runs blocking work (waiting for a child process) on a dispatch thread, so that it does not
/// occupy one of the few cooperative threads the test's own tasks need.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}
