import Foundation
import Testing
@testable import Server

@Suite("Server configuration layering")
struct ServerConfigurationTests {
    static let exampleFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/server.example.json").path

    @Test("defaults without any source")
    func defaults() async throws {
        let c = try await ServerConfiguration.load(file: nil, overrides: [:], environment: [:])
        #expect(c == ServerConfiguration())
        #expect(c.port == 8443 && c.maximumBodyBytes == 1 << 20 && c.clockSkewSeconds == 300)
        #expect(c.resolvedSQLitePath == "data/faceloop.sqlite")
    }

    @Test("the PostgreSQL back end is chosen with its URL")
    func postgres() async throws {
        let c = try await ServerConfiguration.load(file: Self.exampleFile, overrides: [:], environment: [
            "FACELOOP_STORE_KIND": "postgres", "FACELOOP_STORE_POSTGRES_URL": "postgres://faceloop@db.example:5432/faceloop",
            "FACELOOP_STORE_POSTGRES_MAX_CONNECTIONS": "40",
        ])
        #expect(c.storeKind == .postgres)
        #expect(c.postgresURL == "postgres://faceloop@db.example:5432/faceloop")
        #expect(c.postgresMaximumConnections == 40)
    }

    @Test("the example file loads; environment beats file; flags beat environment")
    func layering() async throws {
        let fromFile = try await ServerConfiguration.load(file: Self.exampleFile, overrides: [:], environment: [:])
        #expect(fromFile.certificateHosts == ["localhost", "127.0.0.1"])
        #expect(fromFile.port == 8443)
        let fromEnvironment = try await ServerConfiguration.load(
            file: Self.exampleFile, overrides: [:],
            environment: ["FACELOOP_SERVER_PORT": "9443", "FACELOOP_SERVER_CERTIFICATE_HOSTS": "a.example, 10.0.0.5"])
        #expect(fromEnvironment.port == 9443)
        #expect(fromEnvironment.certificateHosts == ["a.example", "10.0.0.5"])
        let fromFlags = try await ServerConfiguration.load(file: Self.exampleFile, overrides: ["server.port": "7443"],
                                                           environment: ["FACELOOP_SERVER_PORT": "9443"])
        #expect(fromFlags.port == 7443)
    }

    @Test("bad values are refused with the key named", arguments: [
        ["FACELOOP_SERVER_PORT": "eighty"], ["FACELOOP_SERVER_PORT": "70000"], ["FACELOOP_STORE_KIND": "oracle"],
        ["FACELOOP_SERVER_MAX_BODY_BYTES": "10"], ["FACELOOP_STORE_KIND": "postgres"],
        ["FACELOOP_STORE_KIND": "postgres", "FACELOOP_STORE_POSTGRES_URL": "postgres://f@db/f", "FACELOOP_STORE_POSTGRES_MAX_CONNECTIONS": "1"],
    ])
    func refusals(environment: [String: String]) async {
        await #expect(throws: ServerConfiguration.LoadError.self) {
            _ = try await ServerConfiguration.load(file: nil, overrides: [:], environment: environment)
        }
    }

    @Test("the metrics listener and the page sessions: defaults, the example file, the environment, and an idle time past the absolute one refused")
    func metricsAndSessions() async throws {
        let defaults = try await ServerConfiguration.load(file: nil, overrides: [:], environment: [:])
        #expect(defaults.metricsAddress == "127.0.0.1" && defaults.metricsPort == 9464)
        #expect(defaults.webSessionIdleSeconds == 1800 && defaults.webSessionAbsoluteSeconds == 43_200)
        let example = try await ServerConfiguration.load(file: Self.exampleFile, overrides: [:], environment: [:])
        #expect(example.metricsAddress == defaults.metricsAddress && example.metricsPort == defaults.metricsPort)
        #expect(WebSessionPolicy(configuration: example) == WebSessionPolicy(configuration: defaults))
        let set = try await ServerConfiguration.load(file: nil, overrides: ["server.metrics-port": "0"], environment: [
            "FACELOOP_SERVER_METRICS_ADDRESS": "10.0.0.7", "FACELOOP_WEB_SESSION_IDLE_SECONDS": "600",
            "FACELOOP_WEB_SESSION_ABSOLUTE_SECONDS": "3600",
        ])
        #expect(set.metricsAddress == "10.0.0.7" && set.metricsPort == 0)
        #expect(WebSessionPolicy(configuration: set) == WebSessionPolicy(idle: 600, absolute: 3600))
        await #expect(throws: ServerConfiguration.LoadError.self) {
            _ = try await ServerConfiguration.load(file: nil, overrides: [:], environment: [
                "FACELOOP_WEB_SESSION_IDLE_SECONDS": "7200", "FACELOOP_WEB_SESSION_ABSOLUTE_SECONDS": "3600",
            ])
        }
        await #expect(throws: ServerConfiguration.LoadError.self) {
            _ = try await ServerConfiguration.load(file: nil, overrides: [:], environment: ["FACELOOP_WEB_SESSION_IDLE_SECONDS": "0"])
        }
    }

    @Test("a missing file is refused")
    func missingFile() async {
        await #expect(throws: ServerConfiguration.LoadError.self) {
            _ = try await ServerConfiguration.load(file: "/nonexistent/faceloop.json", overrides: [:], environment: [:])
        }
    }
}
