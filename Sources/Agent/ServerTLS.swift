import AsyncHTTPClient
import FeedbackWire
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// HTTPS to the FaceLoop server: the server certificate is verified against the pinned
/// FaceLoop CA only (not the system roots), and the kiosk presents its client certificate.
enum ServerTLS {
    /// How long a request may take, and wait for a byte of its answer, unless its caller says.
    static let requestTimeout: Duration = .seconds(60)

    static func clientConfiguration(caPEM: String, identity: (certificatePEM: String, keyPEM: String)?,
                                    connectTimeout: Duration, readTimeout: Duration = requestTimeout) throws -> HTTPClient.Configuration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        if let identity {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.keyPEM.utf8), format: .pem))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        configuration.timeout = .init(connect: timeAmount(connectTimeout), read: timeAmount(readTimeout))
        return configuration
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .milliseconds(max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000))
    }

    /// Runs `body` with a client and always shuts the client down afterwards.
    static func withClient<T: Sendable>(_ configuration: HTTPClient.Configuration,
                                        _ body: (HTTPClient) async throws -> T) async throws -> T {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func post(client: HTTPClient, url: String, headers: [String: String], body: [UInt8],
                     timeout: Duration = requestTimeout) async throws -> (Int, [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: timeAmount(timeout))
        var buffer = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    static func get(client: HTTPClient, url: String) async throws -> (Int, [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await client.execute(request, timeout: timeAmount(requestTimeout))
        var buffer = try await response.body.collect(upTo: 16 << 20)
        return (Int(response.status.code), buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    static func refusal(status: Int, body: [UInt8]) -> AgentError {
        if let problem = try? WireJSON.decoder().decode(ProblemDetails.self, from: Data(body)) {
            return .refused(slug: problem.slug, message: problem.detail ?? problem.title)
        }
        return .server("HTTP \(status)")
    }
}
