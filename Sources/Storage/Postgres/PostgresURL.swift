import Foundation
import PostgresNIO

/// `postgres://user:password@host:port/database?sslmode=…&sslrootcert=…`, with libpq's
/// names for the two TLS parameters.
///
/// Connections are encrypted unless the URL says `sslmode=disable`: without `sslmode` they
/// are `verify-full` when `sslrootcert` names a CA file and `require` otherwise. libpq's
/// `prefer` and `allow` are refused, since they fall back to plain text without a word.
public enum PostgresURL {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case invalid(String)
        public var description: String {
            switch self { case let .invalid(reason): "invalid PostgreSQL URL: \(reason)" }
        }
    }

    /// The TLS a URL asks for, with the defaults applied.
    public static func tls(_ text: String) throws -> PostgresTLSSettings {
        try tls(try components(text))
    }

    static func configuration(_ text: String) throws -> PostgresClient.Configuration {
        let url = try components(text)
        guard let host = url.host, !host.isEmpty else { throw Error.invalid("no host") }
        guard let user = url.user, !user.isEmpty else { throw Error.invalid("no user name") }
        let database = String(url.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else { throw Error.invalid("no database name") }
        return PostgresClient.Configuration(host: host, port: url.port ?? 5432, username: user,
                                            password: url.password?.removingPercentEncoding ?? url.password,
                                            database: database, tls: try tls(url).clientTLS())
    }

    private static func components(_ text: String) throws -> URLComponents {
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            throw Error.invalid("expected postgres://user@host:port/database")
        }
        return url
    }

    private static func tls(_ url: URLComponents) throws -> PostgresTLSSettings {
        func parameter(_ name: String) -> String? { url.queryItems?.first { $0.name == name }?.value }
        let caFile = parameter("sslrootcert").flatMap { $0.isEmpty ? nil : $0 }
        guard let text = parameter("sslmode") else { return PostgresTLSSettings(mode: caFile == nil ? .require : .verifyFull, caFile: caFile) }
        guard let mode = PostgresTLSSettings.Mode(rawValue: text) else {
            let fallsBack = text == "prefer" || text == "allow"
            throw Error.invalid("sslmode \(text) " + (fallsBack ? "would fall back to an unencrypted connection; " : "is unknown; ")
                                + "use require, verify-ca or verify-full, or disable to turn encryption off")
        }
        switch (mode, caFile) {
        case (.disable, .some):
            throw Error.invalid("sslrootcert is given but sslmode=disable turns encryption off; drop one of them")
        case (.require, .some):
            throw Error.invalid("sslmode=require does not check the server's certificate, so sslrootcert would be ignored; "
                                + "use verify-full (or verify-ca)")
        default:
            return PostgresTLSSettings(mode: mode, caFile: caFile)
        }
    }
}

/// How a node's connections to PostgreSQL are protected.
public struct PostgresTLSSettings: Sendable, Equatable, CustomStringConvertible {
    public enum Mode: String, Sendable, CaseIterable {
        /// Plain text; only when the URL says so.
        case disable
        /// Encrypted, but any certificate is accepted: protects against listeners, not against
        /// someone who can redirect the connection.
        case require
        /// Encrypted, and the certificate must chain to the CA file (or the system's roots).
        case verifyCA = "verify-ca"
        /// As `verify-ca`, and the certificate must name the host of the URL.
        case verifyFull = "verify-full"
    }

    public var mode: Mode
    /// PEM file of the CA(s) the server's certificate must chain to; the system's roots without it.
    public var caFile: String?

    public init(mode: Mode, caFile: String? = nil) {
        self.mode = mode
        self.caFile = caFile
    }

    public var description: String {
        mode.rawValue + (caFile.map { " (CA \($0))" } ?? "")
    }

    func clientTLS() throws -> PostgresClient.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch mode {
        case .disable: return .disable
        case .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        if let caFile {
            // Read now, so a wrong path stops start-up here instead of failing every connection.
            let certificates = (try? NIOSSLCertificate.fromPEMFile(caFile)) ?? []
            guard !certificates.isEmpty else {
                throw PostgresURL.Error.invalid("sslrootcert \(caFile) is not a readable PEM file of CA certificates")
            }
            tls.trustRoots = .certificates(certificates)
        }
        return .require(tls)
    }
}
