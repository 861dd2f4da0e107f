import AsyncHTTPClient
import Crypto
import FeedbackWire
import Foundation
import NIOCore
import NIOSSL

struct RawResponse {
    var status: Int
    var contentType: String?
    var body: [UInt8]
    /// Every header field as received, in order (`Set-Cookie` may come more than once).
    var headers: [(name: String, value: String)] = []

    /// The first value of a header field, by case-insensitive name.
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var problemSlug: String? {
        (try? WireJSON.decoder().decode(ProblemDetails.self, from: Data(body)))?.slug
    }
}

/// Talks to the server the way a kiosk (or an attacker) would, with full control over the
/// headers, so that each refusal can be provoked on purpose.
struct RawClient {
    let baseURL: String
    let caPEM: String
    let identity: (certificatePEM: String, keyPEM: String)?

    /// A kiosk's credentials, read from an enrolled agent's data directory.
    static func kiosk(baseURL: String, agentDirectory: String) throws -> (RawClient, Curve25519.Signing.PrivateKey) {
        func read(_ name: String) throws -> String {
            try String(contentsOfFile: (agentDirectory as NSString).appendingPathComponent(name), encoding: .utf8)
        }
        let raw = Data(base64Encoded: try read("signing.key").trimmingCharacters(in: .whitespacesAndNewlines)) ?? Data()
        return (RawClient(baseURL: baseURL, caPEM: try read("ca.crt"), identity: (try read("device.crt"), try read("tls.key"))),
                try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
    }

    func send(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8]? = nil) async throws -> RawResponse {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8)))
        if let identity {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(identity.certificatePEM.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.keyPEM.utf8), format: .pem))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        // Redirects (the pages send people to sign in) are answers to check, not to follow.
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            var request = HTTPClientRequest(url: baseURL + path)
            request.method = .init(rawValue: method)
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            // The upload that completes a quorum closes the round, privacy statement and all, before it answers.
            let response = try await client.execute(request, timeout: .seconds(120))
            var buffer = try await response.body.collect(upTo: 16 << 20)
            let result = RawResponse(status: Int(response.status.code), contentType: response.headers.first(name: "content-type"),
                                     body: buffer.readBytes(length: buffer.readableBytes) ?? [],
                                     headers: response.headers.map { (name: $0.name, value: $0.value) })
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Signs `body` as an upload the way the agent does, optionally with a chosen key, key id,
    /// nonce or clock.
    static func signedHeaders(body: [UInt8], keyID: String, key: Curve25519.Signing.PrivateKey, now: Date = Date(),
                              nonce: String = UploadSignaturePolicy.makeNonce()) throws -> [String: String] {
        try UploadSignaturePolicy.signUpload(method: "POST", path: "/v1/outcomes", authority: "", body: body, keyID: keyID,
                                             key: key, now: now, nonce: nonce)
    }
}
