import Hummingbird
import Logging
import NIOCore

/// `/metrics` on a listener of its own (`server.metrics-address`, `server.metrics-port`): plain
/// HTTP, no credentials, on loopback unless the operator says otherwise. The kiosks' port does
/// not serve it: the counters name refusal reasons and routes, which is more than an anonymous
/// client needs to know.
enum MetricsListener {
    static let path = "/metrics"

    static func router(metrics: ServerMetrics) -> Router<BasicRequestContext> {
        let router = Router()
        router.get(RouterPath(stringLiteral: path)) { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
        }
        return router
    }

    /// Runs as one of the server's services: it starts and stops with the API's listener, and
    /// a port already taken stops the server, saying so.
    static func application(configuration: ServerConfiguration, metrics: ServerMetrics, logger: Logger,
                            onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        if !["127.0.0.1", "::1", "localhost"].contains(configuration.metricsAddress) {
            logger.warning("metrics are served without TLS or credentials on \(configuration.metricsAddress); keep that address off untrusted networks")
        }
        return Application(router: router(metrics: metrics),
                           configuration: .init(address: .hostname(configuration.metricsAddress, port: configuration.metricsPort),
                                                serverName: "faceloop-metrics"),
                           onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
                           logger: logger)
    }
}
