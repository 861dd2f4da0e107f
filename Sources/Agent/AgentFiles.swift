import DeviceIdentity
import Foundation

/// Where a kiosk agent keeps its state: one directory (mode 0700) with its keys (0600),
/// certificates, settings and the SQLite upload queue. Every file is written through
/// ``PrivateFile``: created with its mode, never through a file or link planted beforehand.
public struct AgentFiles: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// `--data-dir`, else `FACELOOP_AGENT_DIR`, else `~/.faceloop-agent`.
    public static func resolve(_ explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> AgentFiles {
        if let explicit { return AgentFiles(directory: explicit) }
        if let fromEnvironment = environment["FACELOOP_AGENT_DIR"], !fromEnvironment.isEmpty {
            return AgentFiles(directory: fromEnvironment)
        }
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        return AgentFiles(directory: (home as NSString).appendingPathComponent(".faceloop-agent"))
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    public var settings: String { path("agent.json") }
    public var tlsKey: String { path("tls.key") }
    public var signingKey: String { path("signing.key") }
    public var certificate: String { path("device.crt") }
    public var caCertificate: String { path("ca.crt") }
    public var queue: String { path("queue.sqlite") }
    public var releaseSigningKey: String { path("release-signing.pub") }
    /// The endorsements that chain newer release keys to the pinned one (`ReleaseKeys.swift`).
    public var releaseSigningKeyHistory: String { path("release-signing-keys.json") }
    public var thresholds: String { path("thresholds.json") }
    /// The newest model release, pulled for federated training only.
    public var model: String { path("model.json") }
    /// The models this kiosk decides and scores with (`model-state.json`), and the verified
    /// envelopes of the releases they name, one file per version under `models/`.
    public var modelState: String { path("model-state.json") }
    public var modelReleases: String { path("models") }
    /// Where the next verification starts in the rotation of shadow candidates.
    public var shadowRotation: String { path("shadow-rotation.json") }

    public func modelRelease(version: Int) -> String {
        (modelReleases as NSString).appendingPathComponent("\(version).json")
    }

    func ensureDirectory() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    func ensureModelReleasesDirectory() throws {
        try ensureDirectory()
        try FileManager.default.createDirectory(atPath: modelReleases, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    /// Writes atomically: a crash leaves either the old file or the new one.
    func write(_ data: Data, to path: String, mode: mode_t) throws {
        try PrivateFile.replace(data, at: path, mode: mode)
    }
}

/// What the agent remembers about its enrollment.
public struct AgentSettings: Sendable, Codable, Equatable {
    public var serverURL: String
    public var deviceID: String
    public var enrolledAt: Date

    public init(serverURL: String, deviceID: String, enrolledAt: Date) {
        self.serverURL = serverURL
        self.deviceID = deviceID
        self.enrolledAt = enrolledAt
    }

    enum CodingKeys: String, CodingKey { case serverURL = "server_url", deviceID = "device_id", enrolledAt = "enrolled_at" }
}

/// Errors an operator at the kiosk can act on.
public enum AgentError: Error, CustomStringConvertible, Equatable {
    case notEnrolled(String)
    case alreadyEnrolled(String)
    case unreadable(String, String)
    case invalidOutcome(String)
    case server(String)
    case transport(String)
    case refused(slug: String, message: String)
    case releaseRefused(String)

    public var description: String {
        switch self {
        case let .notEnrolled(dir): return "this agent is not enrolled (no settings in \(dir)); run `faceloop-agent enroll` first"
        case let .alreadyEnrolled(id): return "this agent is already enrolled as \(id); use another --data-dir to enroll again"
        case let .unreadable(path, reason): return "cannot read \(path): \(reason)"
        case let .invalidOutcome(reason): return "invalid outcome: \(reason)"
        case let .server(reason): return "the server answered unexpectedly: \(reason)"
        case let .transport(reason): return "cannot reach the server: \(reason)"
        case let .refused(slug, message): return "the server refused (\(slug)): \(message)"
        case let .releaseRefused(reason): return "release refused: \(reason)"
        }
    }
}
