import Foundation
import Logging
import PostgresNIO

/// Fresh databases in the throwaway cluster that `scripts/test.sh` starts
/// (`FACELOOP_TEST_POSTGRES_URL`), one per test, so tests never see each other's rows.
public enum PostgresTestDatabase {
    public enum Unavailable: Error, CustomStringConvertible {
        case noCluster
        public var description: String {
            "FACELOOP_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh, which starts a throwaway PostgreSQL cluster"
        }
    }

    public static var adminURL: String? { ProcessInfo.processInfo.environment["FACELOOP_TEST_POSTGRES_URL"] }

    /// PostgreSQL runs in CI always, and locally when a cluster was started.
    public static var isAvailable: Bool {
        adminURL != nil || ProcessInfo.processInfo.environment["CI"] != nil
    }

    /// Creates an empty database and returns its URL.
    public static func create() async throws -> String {
        guard let adminURL, var components = URLComponents(string: adminURL) else { throw Unavailable.noCluster }
        let name = "faceloop_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await execute(["CREATE DATABASE \(name)"], on: adminURL)
        components.path = "/" + name
        guard let url = components.string else { throw Unavailable.noCluster }
        return url
    }

    /// Runs statements on a test database directly, e.g. to put it back to an older schema.
    public static func execute(_ statements: [String], on url: String) async throws {
        guard let components = URLComponents(string: url), let host = components.host, let user = components.user else {
            throw Unavailable.noCluster
        }
        let logger = Logger(label: "faceloop.tests.postgres")
        let configuration = PostgresConnection.Configuration(host: host, port: components.port ?? 5432, username: user,
                                                             password: components.password,
                                                             database: String(components.path.dropFirst()), tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}
