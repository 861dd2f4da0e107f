import AsyncHTTPClient
import FeedbackWire
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import StrictJSON
import ThresholdAPI

/// The admin and engineer side of the API, over HTTPS with a bearer token. The server's
/// certificate is checked against the FaceLoop CA file, not the system roots.
///
/// ```swift
/// let client = OperatorClient(serverURL: "https://127.0.0.1:8443", token: token, caFile: "data/ca.crt")
/// let devices = try await client.devices()
/// ```
public struct OperatorClient: Sendable {
    public let serverURL: String
    public let token: String
    public let caFile: String

    public init(serverURL: String, token: String, caFile: String) {
        self.serverURL = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        self.token = token
        self.caFile = caFile
    }

    public enum Failure: Error, CustomStringConvertible {
        case problem(ProblemDetails)
        case unexpected(Int, String)
        case configuration(String)

        public var description: String {
            switch self {
            case let .problem(details): return details.description
            case let .unexpected(status, body): return "HTTP \(status): \(body.prefix(200))"
            case let .configuration(reason): return reason
            }
        }
    }

    public func createEnrollmentToken(deviceID: String, sites: [String], ttlSeconds: Int?) async throws -> EnrollmentToken {
        try await call(.POST, "/v1/admin/enrollment-tokens", body: EnrollmentTokenRequest(deviceID: deviceID, sites: sites, ttlSeconds: ttlSeconds))
    }

    /// Binds the kiosk to `sites` instead of the sites it had.
    public func move(deviceID: String, sites: [String]) async throws -> DeviceSummary {
        let escaped = deviceID.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? deviceID
        return try await call(.POST, "/v1/admin/devices/\(escaped)/move", body: DeviceMoveRequest(sites: sites))
    }

    public func devices() async throws -> DeviceList {
        try await call(.GET, "/v1/admin/devices", body: Optional<EnrollmentTokenRequest>.none)
    }

    public func revoke(deviceID: String) async throws -> DeviceSummary {
        let escaped = deviceID.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? deviceID
        return try await call(.POST, "/v1/admin/devices/\(escaped)/revoke", body: Optional<EnrollmentTokenRequest>.none)
    }

    public func outcomeStats() async throws -> OutcomeStats {
        try await call(.GET, "/v1/admin/outcomes/stats", body: Optional<EnrollmentTokenRequest>.none)
    }

    public func createToken(role: String, label: String) async throws -> APITokenGrant {
        try await call(.POST, "/v1/admin/tokens", body: APITokenRequest(role: role, label: label))
    }

    public func computeThresholds(_ request: ComputeThresholdsRequest) async throws -> ThresholdReleaseView {
        try await call(.POST, "/v1/thresholds/releases", body: request)
    }

    public func thresholdReleases() async throws -> ThresholdReleaseList {
        try await call(.GET, "/v1/thresholds/releases", body: Optional<EnrollmentTokenRequest>.none)
    }

    public func thresholdRelease(_ version: Int) async throws -> ThresholdReleaseView {
        try await call(.GET, "/v1/thresholds/releases/\(version)", body: Optional<EnrollmentTokenRequest>.none)
    }

    /// `approve`, `publish` or `rollback`.
    public func transitionThresholdRelease(_ version: Int, _ action: String) async throws -> ThresholdReleaseView {
        try await call(.POST, "/v1/thresholds/releases/\(version)/\(action)", body: Optional<EnrollmentTokenRequest>.none)
    }

    public func currentThresholdEnvelope() async throws -> SignedRelease {
        try await call(.GET, "/v1/thresholds/current", body: Optional<EnrollmentTokenRequest>.none)
    }

    public func thresholdDrift() async throws -> ThresholdDriftView {
        try await call(.GET, "/v1/thresholds/drift", body: Optional<EnrollmentTokenRequest>.none)
    }

    func call<Body: Encodable, Answer: Decodable & Sendable>(_ method: HTTPMethod, _ path: String, body: Body?) async throws -> Answer {
        let bytes = try await send(method, path, body: try body.map { [UInt8](try WireJSON.encoder().encode($0)) })
        return try WireJSON.decoder().decode(Answer.self, from: Data(bytes))
    }

    /// The answer's JSON bytes, for views the CLI prints as they come.
    public func json(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> [UInt8] {
        try await send(HTTPMethod(rawValue: method), path, body: body.map { $0.serialized() })
    }

    func send(_ method: HTTPMethod, _ path: String, body: [UInt8]?) async throws -> [UInt8] {
        let caPEM: [UInt8]
        do {
            caPEM = Array(try String(contentsOfFile: caFile, encoding: .utf8).utf8)
        } catch {
            throw Failure.configuration("cannot read the CA file \(caFile): \(error.localizedDescription)")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(caPEM))
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        var request = HTTPClientRequest(url: serverURL + path)
        request.method = method
        request.headers.add(name: "authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let (status, bytes): (Int, [UInt8])
        do {
            // Generous: opening a round runs both privacy accountants, and at a small noise
            // multiplier the PLD accountant alone takes seconds.
            let response = try await client.execute(request, timeout: .seconds(120))
            var buffer = try await response.body.collect(upTo: 16 << 20)
            (status, bytes) = (Int(response.status.code), buffer.readBytes(length: buffer.readableBytes) ?? [])
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw error
        }
        guard (200..<300).contains(status) else {
            if let problem = try? WireJSON.decoder().decode(ProblemDetails.self, from: Data(bytes)) { throw Failure.problem(problem) }
            throw Failure.unexpected(status, String(decoding: bytes, as: UTF8.self))
        }
        return bytes
    }
}
