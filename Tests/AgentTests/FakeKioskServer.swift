import Crypto
import DeviceIdentity
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import X509

/// A stand-in for the FaceLoop server's kiosk endpoints over mutual TLS: GETs are answered
/// from a table of request targets (path and query), and every target asked is recorded.
/// Unknown targets get a 404 problem.
final class FakeKioskServer: Sendable {
    struct Answer: Sendable {
        var status: Int
        var body: [UInt8]
    }

    private let answers = Mutex<[String: Answer]>([:])
    private let asked = Mutex<[String]>([])
    private let channel = Mutex<(any Channel)?>(nil)

    /// A CA, a server certificate for 127.0.0.1 from it, and a device identity the agent presents.
    struct Identity {
        var caPEM: String
        var serverCertificatePEM: String
        var serverKeyPEM: String
        var deviceCertificatePEM: String
        var deviceKeyPEM: String
        var deviceSigningKey: String

        static func make(deviceID: String) throws -> Identity {
            let ca = try CertificateAuthority.create(commonName: "Fake server CA")
            let serverKey = P256.Signing.PrivateKey()
            let server = try ca.issueServerCertificate(hosts: ["127.0.0.1"], publicKey: serverKey.publicKey)
            let device = DeviceKeys()
            let certificate = try ca.issueDeviceCertificate(csrPEM: try device.certificateSigningRequestPEM(deviceID: deviceID), deviceID: deviceID)
            return Identity(caPEM: try ca.certificatePEM, serverCertificatePEM: try server.serializeAsPEM().pemString,
                            serverKeyPEM: serverKey.pemRepresentation, deviceCertificatePEM: try certificate.serializeAsPEM().pemString,
                            deviceKeyPEM: device.tlsKey.pemRepresentation,
                            deviceSigningKey: device.signingKey.rawRepresentation.base64EncodedString())
        }
    }

    func answer(_ target: String, status: Int = 200, body: [UInt8]) {
        answers.withLock { $0[target] = Answer(status: status, body: body) }
    }

    func problem(_ target: String, status: Int, slug: String, detail: String) {
        let body = #"{"type":"/problems/\#(slug)","title":"\#(slug)","status":\#(status),"detail":"\#(detail)"}"#
        answer(target, status: status, body: Array(body.utf8))
    }

    var requests: [String] { asked.withLock { $0 } }

    fileprivate func respond(to target: String) -> Answer {
        asked.withLock { $0.append(target) }
        return answers.withLock { $0[target] }
            ?? Answer(status: 404, body: Array(#"{"type":"/problems/not-found","title":"No such resource","status":404}"#.utf8))
    }

    /// Starts listening on a free port of 127.0.0.1; the answer is the base URL. Without
    /// `requiringClientCertificate` it also takes connections that present none (enrollment).
    func start(identity: Identity, requiringClientCertificate: Bool = true) async throws -> String {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(identity.serverCertificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.serverKeyPEM.utf8), format: .pem)))
        tls.certificateVerification = requiringClientCertificate ? .noHostnameVerification : .none
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(identity.caPEM.utf8)))
        let context = try NIOSSLContext(configuration: tls)
        let bound = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        channel.withLock { $0 = bound }
        return "https://127.0.0.1:\(bound.localAddress?.port ?? 0)"
    }

    func stop() async throws {
        try await channel.withLock { $0 }?.close()
    }
}

private final class Responder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: FakeKioskServer
    var target = ""

    init(server: FakeKioskServer) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            target = head.uri
        case .body:
            break
        case .end:
            let answer = server.respond(to: target)
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: answer.status == 200 ? "application/json" : "application/problem+json")
            headers.add(name: "content-length", value: "\(answer.body.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: answer.status), headers: headers))),
                          promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
