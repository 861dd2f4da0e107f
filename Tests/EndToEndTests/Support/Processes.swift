import Foundation
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

/// Child processes are started one at a time, and their standard streams are opened by a
/// shell from file paths rather than handed over as descriptors: Foundation passes descriptors
/// by number, and under load a child's output was seen to land somewhere else.
let processLaunch = NSLock()

/// A process that runs `executable` with its standard streams redirected to files by `/bin/sh`
/// (which then `exec`s, so the PID is the tool's own).
func redirectedProcess(_ executable: String, _ arguments: [String], input: String, output: String, error: String,
                       environment: [String: String] = [:]) -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", #"exec "$0" "$@" <"$FACELOOP_TEST_IN" >"$FACELOOP_TEST_OUT" 2>"$FACELOOP_TEST_ERR""#,
                         executable] + arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    env["FACELOOP_TEST_IN"] = input
    env["FACELOOP_TEST_OUT"] = output
    env["FACELOOP_TEST_ERR"] = error
    process.environment = env
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    return process
}

/// Runs one of the package's command-line tools (or a system tool by absolute path) to completion.
func runTool(_ name: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) throws -> CommandResult {
    let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("faceloop-run-\(UUID().uuidString)")
    let paths = (input: base + ".in", output: base + ".out", error: base + ".err")
    defer { for path in [paths.input, paths.output, paths.error] { try? FileManager.default.removeItem(atPath: path) } }
    _ = FileManager.default.createFile(atPath: paths.input, contents: stdin ?? Data())
    let process = redirectedProcess(name.hasPrefix("/") ? name : Binaries.path(name), arguments,
                                    input: paths.input, output: paths.output, error: paths.error, environment: environment)
    try processLaunch.withLock { try process.run() }
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus,
                         stdout: String(decoding: FileManager.default.contents(atPath: paths.output) ?? Data(), as: UTF8.self),
                         stderr: String(decoding: FileManager.default.contents(atPath: paths.error) ?? Data(), as: UTF8.self))
}

/// A `faceloop-server` process on 127.0.0.1 with a free port, stopped by SIGTERM.
final class ServerProcess: @unchecked Sendable {
    let dataDirectory: String
    /// Extra environment, e.g. `FACELOOP_FEDERATION_EPSILON_BUDGET`, kept across restarts.
    let environment: [String: String]
    private(set) var port = 0
    private var process: Process?

    init(dataDirectory: String, environment: [String: String] = [:]) {
        self.dataDirectory = dataDirectory
        self.environment = environment
    }

    var baseURL: String { "https://127.0.0.1:\(port)" }
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
        let process = redirectedProcess(
            Binaries.path("faceloop-server"),
            ["--data-dir", dataDirectory, "--host", "127.0.0.1", "--port", String(port), "--log-level", "warning"],
            input: "/dev/null", output: output, error: errors, environment: environment)
        try processLaunch.withLock { try process.run() }
        self.process = process
        // The server prints one line once it listens; wait for it.
        let deadline = Date().addingTimeInterval(120)
        var text = ""
        while Date() < deadline, process.isRunning {
            text = String(decoding: FileManager.default.contents(atPath: output) ?? Data(), as: UTF8.self)
            if let range = text.range(of: #"listening on https://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last ?? "") ?? 0
                return
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        process.terminate()
        let log = String(decoding: FileManager.default.contents(atPath: errors) ?? Data(), as: UTF8.self)
        throw ServerProcessError.didNotStart(text + log)
    }

    /// SIGKILL, as in a power cut: no graceful shutdown at all.
    func kill() {
        guard let process else { return }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
    }

    /// SIGTERM, then wait for the graceful exit; returns the exit status.
    @discardableResult
    func stop() -> Int32? {
        guard let process else { return nil }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        self.process = nil
        return process.terminationStatus
    }

    deinit { stop() }
}

enum ServerProcessError: Error {
    case didNotStart(String)
}

func temporaryDirectory(_ label: String) throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("faceloop-\(label)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Starts a tool without waiting for it, for tests that kill it midway.
func launchTool(_ name: String, _ arguments: [String]) throws -> Process {
    let process = redirectedProcess(Binaries.path(name), arguments, input: "/dev/null", output: "/dev/null", error: "/dev/null")
    try processLaunch.withLock { try process.run() }
    return process
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
