import Foundation
@testable import Server
import Storage
import Testing

@Suite("PostgreSQL TLS in the server configuration")
struct PostgresTLSConfigurationTests {
    static func load(_ url: String) async throws -> ServerConfiguration {
        try await ServerConfiguration.load(file: nil, overrides: [:],
                                           environment: ["FACELOOP_STORE_KIND": "postgres", "FACELOOP_STORE_POSTGRES_URL": url])
    }

    @Test("the URL's TLS is resolved at load: verify-full with a CA file, require without, plain text only when the URL says disable",
          arguments: [
              ("postgres://faceloop:secret@db.example:5432/faceloop", PostgresTLSSettings(mode: .require)),
              ("postgres://faceloop:secret@db.example:5432/faceloop?sslrootcert=/etc/faceloop/pg-ca.crt",
               PostgresTLSSettings(mode: .verifyFull, caFile: "/etc/faceloop/pg-ca.crt")),
              ("postgres://faceloop:secret@db.example:5432/faceloop?sslmode=verify-ca&sslrootcert=/etc/faceloop/pg-ca.crt",
               PostgresTLSSettings(mode: .verifyCA, caFile: "/etc/faceloop/pg-ca.crt")),
              ("postgres://faceloop:secret@db.example:5432/faceloop?sslmode=require", PostgresTLSSettings(mode: .require)),
              ("postgres://faceloop@127.0.0.1:5432/faceloop?sslmode=disable", PostgresTLSSettings(mode: .disable)),
          ])
    func resolved(url: String, expected: PostgresTLSSettings) async throws {
        #expect(try await Self.load(url).postgresTLS == expected)
    }

    @Test("SQLite needs no PostgreSQL TLS")
    func sqlite() async throws {
        #expect(try await ServerConfiguration.load(file: nil, overrides: [:], environment: [:]).postgresTLS == nil)
    }

    @Test("a mode that could fall back to plain text, or contradicts the CA file, is refused without echoing the password",
          arguments: ["sslmode=prefer", "sslmode=allow", "sslmode=verify_full", "sslmode=disable&sslrootcert=/ca.pem",
                      "sslmode=require&sslrootcert=/ca.pem"])
    func refused(query: String) async {
        do {
            _ = try await Self.load("postgres://faceloop:secret@db.example:5432/faceloop?" + query)
            Issue.record("\(query) was accepted")
        } catch {
            let message = "\(error)"
            #expect(message.hasPrefix("invalid configuration: store.postgres-url: invalid PostgreSQL URL: "), "\(message)")
            #expect(!message.contains("secret"), "\(message)")
        }
    }
}
