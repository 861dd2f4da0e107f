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

/// Child processes are started one at a time: Foundation's `Process` passes file descriptors by
/// number, and a descriptor closed and reused by another thread during a concurrent launch can
/// end up as the wrong child's standard output.
let processLaunch = NSLock()

/// Runs one of the package's command-line tools (or a system tool by absolute path) to completion.
func runTool(_ name: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: name.hasPrefix("/") ? name : Binaries.path(name))
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    process.environment = env
    let out = Pipe(), input = Pipe()
    let errPath = (NSTemporaryDirectory() as NSString).appendingPathComponent("faceloop-stderr-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    process.standardOutput = out
    process.standardError = errHandle
    process.standardInput = input
    try processLaunch.withLock { try process.run() }
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try errHandle.close()
    let errData = FileManager.default.contents(atPath: errPath) ?? Data()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("faceloop-server"))
        process.arguments = ["--data-dir", dataDirectory, "--host", "127.0.0.1", "--port", String(port), "--log-level", "warning"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        process.standardOutput = out
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        process.standardError = FileHandle.standardError
        try processLaunch.withLock { try process.run() }
        self.process = process
        // The server prints one line once it listens; wait for it.
        var buffer = Data()
        while true {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            if let range = text.range(of: #"listening on https://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last ?? "") ?? 0
                return
            }
        }
        process.terminate()
        throw ServerProcessError.didNotStart(String(decoding: buffer, as: UTF8.self))
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
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Binaries.path(name))
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
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
