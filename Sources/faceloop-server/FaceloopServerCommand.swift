import ArgumentParser
import Foundation
import Logging
import Server

@main
struct FaceloopServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faceloop-server",
        abstract: "The FaceLoop feedback server: receives signed outcome batches from kiosks over mutual TLS.",
        discussion: """
        Settings come from flags, then FACELOOP_* environment variables (server.port → FACELOOP_SERVER_PORT), \
        then the JSON file given with --config (see config/server.example.json). On first start in an empty data \
        directory the server creates its device CA, TLS certificate, release-signing key and an admin token there.
        """)

    @Option(help: "JSON configuration file.") var config: String?
    @Option(help: "Address to listen on (default 127.0.0.1).") var host: String?
    @Option(help: "Port to listen on; 0 picks a free one (default 8443).") var port: Int?
    @Option(name: .customLong("metrics-address"), help: "Address of the plain-HTTP /metrics listener (default 127.0.0.1).")
    var metricsAddress: String?
    @Option(name: .customLong("metrics-port"), help: "Port of the /metrics listener; 0 picks a free one (default 9464).") var metricsPort: Int?
    @Option(name: .customLong("data-dir"), help: "Directory for the store and the server's keys (default ./data).") var dataDirectory: String?
    @Option(name: .customLong("certificate-host"), help: "Host name or IPv4 address for the TLS certificate made on first start; repeat for several.")
    var certificateHosts: [String] = []
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.") var logLevel: String?
    @Flag(name: .customLong("mint-admin-token"),
          help: "Create a new admin token in <data-dir>/admin.token although the store has one (the file was lost); the file must not exist.")
    var mintAdminToken = false

    func run() async throws {
        var overrides: [String: String] = [:]
        if let host { overrides["server.host"] = host }
        if let port { overrides["server.port"] = String(port) }
        if let metricsAddress { overrides["server.metrics-address"] = metricsAddress }
        if let metricsPort { overrides["server.metrics-port"] = String(metricsPort) }
        if let dataDirectory { overrides["server.data-dir"] = dataDirectory }
        if !certificateHosts.isEmpty { overrides["server.certificate-hosts"] = certificateHosts.joined(separator: ",") }
        if let logLevel { overrides["log.level"] = logLevel }
        var configuration: ServerConfiguration
        do {
            configuration = try await ServerConfiguration.load(file: config, overrides: overrides)
        } catch {
            throw ValidationError("\(error)")
        }
        configuration.mintAdminToken = mintAdminToken
        guard let level = Logger.Level(rawValue: configuration.logLevel) else {
            throw ValidationError("log.level must be one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "faceloop-server")
        let metrics = ServerMetrics()
        metrics.bootstrapGlobally()
        let host = configuration.host
        let dataDirectory = configuration.dataDirectory
        let metricsAddress = configuration.metricsAddress.contains(":") ? "[\(configuration.metricsAddress)]" : configuration.metricsAddress
        // One line on stdout for each listener, which scripts and tests wait for.
        let server = try await FeedbackServer.make(configuration: configuration, logger: logger, metrics: metrics, onMetricsListening: { port in
            FileHandle.standardOutput.write(Data("faceloop-server metrics on http://\(metricsAddress):\(port)/metrics\n".utf8))
        }) { port in
            let line = "faceloop-server listening on https://\(host):\(port) (data in \(dataDirectory))\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
        try await server.run()
    }
}
