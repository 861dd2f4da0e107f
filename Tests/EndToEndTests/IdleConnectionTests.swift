import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Testing

extension EndToEnd {
    /// A client that opens a TLS connection, sends half a request and then nothing: the server
    /// closes it after its idle timeout instead of holding it open.
    @Suite("Idle and stalled connections")
    struct IdleConnectionTests {
        final class CloseWatcher: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = ByteBuffer
            let closed: EventLoopPromise<Void>
            init(closed: EventLoopPromise<Void>) { self.closed = closed }
            func channelInactive(context: ChannelHandlerContext) { closed.succeed(()) }
        }

        @Test("a half-sent request is cut off after the idle timeout")
        func halfSentRequest() async throws {
            let root = try temporaryDirectory("idle")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"),
                                       environment: ["FACELOOP_SERVER_IDLE_TIMEOUT_SECONDS": "2"])
            try server.start()
            defer { server.stop() }

            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(server.caFile))
            let context = try NIOSSLContext(configuration: tls)
            let group = MultiThreadedEventLoopGroup.singleton
            let closed = group.next().makePromise(of: Void.self)
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                        try channel.pipeline.syncOperations.addHandler(CloseWatcher(closed: closed))
                    }
                }
                .connect(host: "127.0.0.1", port: server.port).get()
            let start = ContinuousClock.now
            try await channel.writeAndFlush(ByteBuffer(string: "POST /v1/outcomes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Len")).get()
            let timeout = group.next().scheduleTask(in: .seconds(15)) { closed.fail(ChannelError.ioOnClosedChannel) }
            try await closed.futureResult.get()
            timeout.cancel()
            let waited = ContinuousClock.now - start
            #expect(waited >= .seconds(1) && waited < .seconds(10), "closed after \(waited)")
        }
    }
}
