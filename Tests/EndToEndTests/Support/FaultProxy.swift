import Foundation
import NIOCore
import NIOPosix
import SeededRandom

/// A TCP proxy on 127.0.0.1 that mistreats connections on purpose: it delays data, cuts
/// connections after a random number of bytes, and resets others. Seeded, bounded, and it
/// stops with the test.
final class FaultProxy: @unchecked Sendable {
    struct Faults: Sendable {
        var delayMilliseconds: ClosedRange<Int> = 0...30
        /// Chance that a connection is cut (closed) after a random number of bytes.
        var cutProbability = 0.5
        /// Chance that a connection is reset (RST) after a random number of bytes.
        var resetProbability = 0.3
        var bytesBeforeFault: ClosedRange<Int> = 200...20_000
    }

    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: (any Channel)?
    private let lock = NSLock()
    private var generator: SeededGenerator
    private(set) var cuts = 0
    private(set) var resets = 0
    private(set) var connections = 0

    init(seed: UInt64) { generator = SeededGenerator(seed: seed) }

    var port: Int { channel?.localAddress?.port ?? 0 }

    func start(upstreamPort: Int, faults: Faults) throws {
        try start(upstreamPorts: [upstreamPort], faults: faults)
    }

    /// With several upstreams it is also a TCP load balancer: connections go round-robin to
    /// the upstreams, skipping any that refuse the connection (a node that died).
    func start(upstreamPorts: [Int], faults: Faults) throws {
        let group = self.group
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                let plan = self.plan(faults)
                let first = self.lock.withLock { self.connections }
                return Self.connect(group: group, ports: upstreamPorts, first: first, attempt: 0).flatMap { outbound in
                    let toServer = Relay(peer: outbound, plan: plan, delay: faults.delayMilliseconds, proxy: self)
                    let toClient = Relay(peer: inbound, plan: nil, delay: faults.delayMilliseconds, proxy: self)
                    return inbound.pipeline.addHandler(toServer).flatMap { outbound.pipeline.addHandler(toClient) }
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    private static func connect(group: MultiThreadedEventLoopGroup, ports: [Int], first: Int, attempt: Int) -> EventLoopFuture<any Channel> {
        let port = ports[(first + attempt) % ports.count]
        return ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).flatMapError { error in
            guard attempt + 1 < ports.count else { return group.next().makeFailedFuture(error) }
            return connect(group: group, ports: ports, first: first, attempt: attempt + 1)
        }
    }

    /// No faults: a plain relay (a load balancer in front of several nodes).
    static let faithful = Faults(delayMilliseconds: 0...0, cutProbability: 0, resetProbability: 0)

    func stop() {
        try? channel?.close().wait()
        try? group.syncShutdownGracefully()
    }

    enum Fault { case cut, reset }
    struct Plan { var fault: Fault; var afterBytes: Int }

    private func plan(_ faults: Faults) -> Plan? {
        lock.withLock {
            connections += 1
            let roll = generator.nextUnit()
            let after = faults.bytesBeforeFault.lowerBound
                + Int(generator.nextUnit() * Double(faults.bytesBeforeFault.count))
            if roll < faults.cutProbability { return Plan(fault: .cut, afterBytes: after) }
            if roll < faults.cutProbability + faults.resetProbability { return Plan(fault: .reset, afterBytes: after) }
            return nil
        }
    }

    func delay(_ range: ClosedRange<Int>) -> Int {
        lock.withLock { range.lowerBound + Int(generator.nextUnit() * Double(range.count)) }
    }

    func count(_ fault: Fault) {
        lock.withLock { if fault == .cut { cuts += 1 } else { resets += 1 } }
    }

    /// Forwards what one side reads to the other side, injecting the planned fault.
    final class Relay: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let peer: any Channel
        let plan: Plan?
        let delay: ClosedRange<Int>
        unowned let proxy: FaultProxy
        var forwarded = 0
        var lastDue = NIODeadline.uptimeNanoseconds(0)

        init(peer: any Channel, plan: Plan?, delay: ClosedRange<Int>, proxy: FaultProxy) {
            self.peer = peer
            self.plan = plan
            self.delay = delay
            self.proxy = proxy
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            forwarded += buffer.readableBytes
            if let plan, forwarded >= plan.afterBytes {
                proxy.count(plan.fault)
                let own = context.channel
                if plan.fault == .reset {
                    // SO_LINGER 0 makes close() send RST instead of FIN.
                    let abort = linger(l_onoff: 1, l_linger: 0)
                    _ = (own as? any SocketOptionProvider)?.setSoLinger(abort)
                    _ = (peer as? any SocketOptionProvider)?.setSoLinger(abort)
                }
                own.close(promise: nil)
                peer.close(promise: nil)
                return
            }
            // Delay, but never reorder: a chunk leaves no earlier than the one before it.
            let now = NIODeadline.now()
            let due = max(now + .milliseconds(Int64(proxy.delay(delay))), lastDue)
            lastDue = due
            let peer = self.peer
            context.eventLoop.scheduleTask(deadline: due) {
                peer.writeAndFlush(buffer, promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            peer.close(promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
            peer.close(promise: nil)
        }
    }
}

private extension SeededGenerator {
    /// A draw in [0, 1) from the top 53 bits, the way fault plans have always been drawn, so a
    /// seed keeps giving the plan it gave before.
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
