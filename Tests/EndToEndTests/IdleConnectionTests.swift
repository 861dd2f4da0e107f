import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport
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

        /// Opens a TLS connection to the server with a watcher that fulfils `closed` when the
        /// server hangs up.
        static func connect(_ server: ServerProcess, closed: EventLoopPromise<Void>) async throws -> any Channel {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(server.caFile))
            let context = try NIOSSLContext(configuration: tls)
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                        try channel.pipeline.syncOperations.addHandler(CloseWatcher(closed: closed))
                    }
                }
                .connect(host: "127.0.0.1", port: server.port).get()
        }

        @Test("a client trickling one byte at a time is cut off at the request deadline, though never idle")
        func byteTrickle() async throws {
            let root = try temporaryDirectory("trickle")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"),
                                       environment: ["FACELOOP_SERVER_IDLE_TIMEOUT_SECONDS": "2",
                                                     "FACELOOP_SERVER_REQUEST_TIMEOUT_SECONDS": "4"])
            try server.start()
            defer { server.stop() }
            let group = MultiThreadedEventLoopGroup.singleton
            let closed = group.next().makePromise(of: Void.self)
            let channel = try await Self.connect(server, closed: closed)
            let start = ContinuousClock.now
            // The head at once, then the body one byte every 0.5 s: each byte is a body part, so the
            // idle timer (2 s) never fires; only the request deadline (4 s) can stop it.
            try await channel.writeAndFlush(ByteBuffer(string: "POST /v1/outcomes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")).get()
            var sent = 0
            for byte in [UInt8](repeating: UInt8(ascii: " "), count: 1000) {
                if !channel.isActive { break }
                do {
                    try await channel.writeAndFlush(ByteBuffer(bytes: [byte])).get()
                } catch {
                    break
                }
                sent += 1
                if ContinuousClock.now - start > .seconds(20) { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            let timeout = group.next().scheduleTask(in: .seconds(5)) { closed.fail(ChannelError.ioOnClosedChannel) }
            try await closed.futureResult.get()
            timeout.cancel()
            let waited = ContinuousClock.now - start
            #expect(waited >= .milliseconds(3500) && waited < .seconds(9), "closed after \(waited), \(sent) body bytes sent")
            #expect(sent >= 5, "the body kept flowing past the idle timeout")
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
