import Foundation
@testable import Storage
import TestSupport
import Testing

@Suite("PostgreSQL TLS settings")
struct PostgresTLSTests {
    /// A public certificate only (its key was thrown away): what `sslrootcert` names.
    static let caPEM = """
        -----BEGIN CERTIFICATE-----
        MIIBozCCAUmgAwIBAgIUBG8HIBeE5m0ujGRTDdXtIbADGjUwCgYIKoZIzj0EAwIw
        JjEkMCIGA1UEAwwbRmFjZUxvb3AgdGVzdCBQb3N0Z3JlU1FMIENBMCAXDTI2MTIw
        NDEzMzY0OVoYDzIxMjYxMTEwMTMzNjQ5WjAmMSQwIgYDVQQDDBtGYWNlTG9vcCB0
        ZXN0IFBvc3RncmVTUUwgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARH6WQm
        lM59QtHeMw5NC4n+xvRjWN6elY4UCerXhAarR9UgdIIirdB0I0dYVU7Cd/1Fju4A
        yiXLjytBdOgYNIEro1MwUTAdBgNVHQ4EFgQUZL8mY9BbE0PzhsUROv8M+B5X778w
        HwYDVR0jBBgwFoAUZL8mY9BbE0PzhsUROv8M+B5X778wDwYDVR0TAQH/BAUwAwEB
        /zAKBggqhkjOPQQDAgNIADBFAiB5Zi0cY5sgsfzlObIgg91/0zJw3+M27c9e6q7e
        Rug5cAIhAKxgO0iVvZaVZasi7y3cEIr03WWAOMmhRenHYK8Y7Jg/
        -----END CERTIFICATE-----

        """

    static func file(_ text: String) throws -> (path: String, cleanup: () -> Void) {
        let path = temporaryPath("ca", suffix: ".pem")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return (path, { try? FileManager.default.removeItem(atPath: path) })
    }

    @Test("without sslmode: verify-full against the CA file when one is named, else require; disable only when asked for")
    func defaults() throws {
        #expect(try PostgresURL.tls("postgres://u@db.example/db") == PostgresTLSSettings(mode: .require))
        #expect(try PostgresURL.tls("postgres://u@db.example/db?sslrootcert=/etc/ca.pem")
            == PostgresTLSSettings(mode: .verifyFull, caFile: "/etc/ca.pem"))
        #expect(try PostgresURL.tls("postgres://u@db.example/db?sslmode=verify-ca&sslrootcert=/etc/ca.pem")
            == PostgresTLSSettings(mode: .verifyCA, caFile: "/etc/ca.pem"))
        #expect(try PostgresURL.tls("postgres://u@db.example/db?sslmode=verify-full") == PostgresTLSSettings(mode: .verifyFull))
        #expect(try PostgresURL.tls("postgres://u@127.0.0.1/db?sslmode=disable") == PostgresTLSSettings(mode: .disable))
    }

    @Test("the CA file is read when the store is configured, so a wrong one stops start-up")
    func caFile() throws {
        let (ca, removeCA) = try Self.file(Self.caPEM)
        defer { removeCA() }
        _ = try PostgresURL.configuration("postgres://u@db.example/db?sslrootcert=\(ca)")
        let (garbage, removeGarbage) = try Self.file("not a certificate\n")
        defer { removeGarbage() }
        for path in [garbage, "/nonexistent/ca.pem"] {
            #expect(throws: PostgresURL.Error.invalid("sslrootcert \(path) is not a readable PEM file of CA certificates")) {
                _ = try PostgresURL.configuration("postgres://u@db.example/db?sslrootcert=\(path)")
            }
        }
    }
}
