import Configuration
import Foundation
import Storage

/// Everything an operator can set. Values come, highest priority first, from command-line
/// flags, `FACELOOP_*` environment variables (`server.port` → `FACELOOP_SERVER_PORT`) and a
/// JSON file (`config/server.example.json`).
public struct ServerConfiguration: Sendable, Equatable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8443
    /// Names and addresses written into the server's TLS certificate on first start.
    public var certificateHosts: [String] = ["localhost", "127.0.0.1"]
    public var dataDirectory: String = "data"
    public var maximumBodyBytes: Int = 1 << 20
    public var clockSkewSeconds: Int = 300
    /// A connection that sends nothing for this long is closed, so idle or stalled clients
    /// (a slow-loris holding a half-sent request) cannot pin connections forever.
    public var idleTimeoutSeconds: Int = 30
    /// A request (head and body) must have arrived this long after the server was ready for
    /// it, or the connection is closed: the bound on clients that trickle bytes.
    public var requestTimeoutSeconds: Int = 60
    public var enrollmentTokenTTLSeconds: Int = 86_400
    /// Where Prometheus scrapes `/metrics`: a plain-HTTP listener of its own, on loopback by
    /// default, so that nobody who reaches the kiosks' port reads the server's counters.
    public var metricsAddress: String = "127.0.0.1"
    /// 0 picks a free port.
    public var metricsPort: Int = 9464
    /// A page session ends after this long without a request…
    public var webSessionIdleSeconds: Int = 1800
    /// …and this long after sign-in in any case.
    public var webSessionAbsoluteSeconds: Int = 43_200
    public var sqlitePath: String?
    /// `sqlite` (one node, the file in the data directory) or `postgres` (one or more nodes on
    /// one database at `postgresURL`).
    public var storeKind: StoreKind = .sqlite
    public var postgresURL: String?
    /// The TLS `postgresURL` asks for, defaults applied: `verify-full` with a CA file
    /// (`sslrootcert`), else `require`; plain text only with an explicit `sslmode=disable`.
    public var postgresTLS: PostgresTLSSettings?
    /// Connections each node keeps open to PostgreSQL at most.
    public var postgresMaximumConnections: Int = 20
    public var logLevel: String = "info"
    /// The largest threshold move a release may make with one approval; above it, two.
    public var thresholdGuardrail: Double = 0.05
    /// The most privacy the model line may spend: ε at `federationDelta` under `federationAccountant`.
    public var federationEpsilonBudget: Double = 8
    public var federationDelta: Double = 1e-6
    /// `rdp` (looser, so the stricter check) or `pld`.
    public var federationAccountant: String = "rdp"
    /// Held-out labelled descriptor pairs the evaluation gate scores every candidate on; no
    /// round opens without them.
    public var federationEvaluationPairs: String?
    /// Create a new admin token although the store has one (`admin.token` was lost). Set by
    /// the `--mint-admin-token` flag only, never by a file or the environment, so that it
    /// cannot stay switched on and mint a token at every start that lacks the file.
    public var mintAdminToken = false
    /// Updates trained on fewer labelled pairs are refused: an adapter update lies in the span
    /// of the kiosk's training descriptors, so one from a handful of pairs gives them away.
    public var federationMinimumPairs: Int = 20
    /// The FMR at which a rollout compares current and candidate models, each at its own
    /// calibrated threshold, when a request names none.
    public var rolloutTargetFMR: Double = 1e-3
    /// Confidence of the paired test and of the subject-bootstrap bounds behind a promotion.
    public var rolloutConfidence: Double = 0.95
    /// How much higher the candidate's FNMR may be (upper bound) and still count as not worse.
    public var rolloutFNMRMargin: Double = 0.01
    public var rolloutBootstrapResamples: Int = 1000
    /// How often promoted models are checked against their FMR bounds, and rolled back on a breach.
    public var rolloutDriftCheckSeconds: Int = 300
    /// How often the node checks whether its TLS certificate is due for renewal (two thirds of its life).
    public var tlsRenewalCheckSeconds: Int = 3600

    public init() {}

    public enum StoreKind: String, Sendable, Equatable, CaseIterable {
        case sqlite, postgres
    }

    /// The SQLite file, by default inside the data directory.
    public var resolvedSQLitePath: String {
        sqlitePath ?? (dataDirectory as NSString).appendingPathComponent("faceloop.sqlite")
    }

    public enum LoadError: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self { case let .invalid(reason): return "invalid configuration: \(reason)" }
        }
    }

    /// Reads the layered configuration. `overrides` are flag values keyed like the file
    /// (`server.port`).
    public static func load(file: String?, overrides: [String: String],
                            environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> ServerConfiguration {
        var providers: [any ConfigProvider] = []
        var flagValues: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in overrides {
            flagValues[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = ConfigValue(.string(value), isSecret: false)
        }
        providers.append(InMemoryProvider(name: "flags", values: flagValues))
        providers.append(EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "faceloop"))
        if let file {
            guard FileManager.default.fileExists(atPath: file) else { throw LoadError.invalid("configuration file \(file) does not exist") }
            providers.append(try await FileProvider<JSONSnapshot>(filePath: .init(file)))
        }
        let reader = ConfigReader(providers: providers)
        var c = ServerConfiguration()
        c.host = reader.string(forKey: "server.host", default: c.host)
        c.port = try integer(reader, "server.port", default: c.port, range: 0...65_535)
        if let hosts = reader.stringArray(forKey: "server.certificate-hosts") ?? reader.string(forKey: "server.certificate-hosts").map({ $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }) {
            c.certificateHosts = hosts
        }
        c.dataDirectory = reader.string(forKey: "server.data-dir", default: c.dataDirectory)
        c.maximumBodyBytes = try integer(reader, "server.max-body-bytes", default: c.maximumBodyBytes, range: 1024...(64 << 20))
        c.clockSkewSeconds = try integer(reader, "server.clock-skew-seconds", default: c.clockSkewSeconds, range: 1...3600)
        c.idleTimeoutSeconds = try integer(reader, "server.idle-timeout-seconds", default: c.idleTimeoutSeconds, range: 1...3600)
        c.requestTimeoutSeconds = try integer(reader, "server.request-timeout-seconds", default: c.requestTimeoutSeconds, range: 1...3600)
        c.enrollmentTokenTTLSeconds = try integer(reader, "server.enrollment-token-ttl-seconds", default: c.enrollmentTokenTTLSeconds, range: 60...(30 * 86_400))
        c.metricsAddress = reader.string(forKey: "server.metrics-address", default: c.metricsAddress)
        c.metricsPort = try integer(reader, "server.metrics-port", default: c.metricsPort, range: 0...65_535)
        c.webSessionIdleSeconds = try integer(reader, "web.session-idle-seconds", default: c.webSessionIdleSeconds, range: 1...86_400)
        c.webSessionAbsoluteSeconds = try integer(reader, "web.session-absolute-seconds", default: c.webSessionAbsoluteSeconds,
                                                  range: 1...(30 * 86_400))
        guard c.webSessionIdleSeconds <= c.webSessionAbsoluteSeconds else {
            throw LoadError.invalid("web.session-idle-seconds (\(c.webSessionIdleSeconds)) must not exceed web.session-absolute-seconds "
                                    + "(\(c.webSessionAbsoluteSeconds))")
        }
        c.sqlitePath = reader.string(forKey: "store.sqlite-path")
        let kind = reader.string(forKey: "store.kind", default: c.storeKind.rawValue)
        guard let storeKind = StoreKind(rawValue: kind) else { throw LoadError.invalid("store.kind must be sqlite or postgres, got \(kind)") }
        c.storeKind = storeKind
        c.postgresURL = reader.string(forKey: "store.postgres-url", isSecret: true)
        c.postgresMaximumConnections = try integer(reader, "store.postgres-max-connections", default: c.postgresMaximumConnections,
                                                   range: 2...500)
        if storeKind == .postgres {
            guard let url = c.postgresURL, !url.isEmpty else {
                throw LoadError.invalid("store.kind postgres needs store.postgres-url (postgres://user:password@host:5432/database)")
            }
            do {
                c.postgresTLS = try PostgresURL.tls(url)
            } catch {
                // The error names the parameter, never the URL: it holds the password.
                throw LoadError.invalid("store.postgres-url: \(error)")
            }
        }
        c.logLevel = reader.string(forKey: "log.level", default: c.logLevel)
        let guardrailText = reader.string(forKey: "thresholds.guardrail") ?? reader.double(forKey: "thresholds.guardrail").map { "\($0)" }
        if let guardrailText {
            guard let value = Double(guardrailText), value >= 0, value <= 2 else {
                throw LoadError.invalid("thresholds.guardrail must be a number within 0…2, got \(guardrailText)")
            }
            c.thresholdGuardrail = value
        }
        c.federationEpsilonBudget = try number(reader, "federation.epsilon-budget", default: c.federationEpsilonBudget, range: 0...1e6)
        c.federationDelta = try number(reader, "federation.delta", default: c.federationDelta, range: 1e-15...0.1)
        c.federationAccountant = reader.string(forKey: "federation.accountant", default: c.federationAccountant)
        guard ["rdp", "pld"].contains(c.federationAccountant) else {
            throw LoadError.invalid("federation.accountant must be rdp or pld, got \(c.federationAccountant)")
        }
        c.federationEvaluationPairs = reader.string(forKey: "federation.evaluation-pairs")
        c.federationMinimumPairs = try integer(reader, "federation.minimum-pairs", default: c.federationMinimumPairs, range: 1...1_000_000)
        c.rolloutTargetFMR = try number(reader, "rollout.target-fmr", default: c.rolloutTargetFMR, range: 1e-9...0.5)
        c.rolloutConfidence = try number(reader, "rollout.confidence", default: c.rolloutConfidence, range: 0.5...0.9999)
        c.rolloutFNMRMargin = try number(reader, "rollout.fnmr-margin", default: c.rolloutFNMRMargin, range: 0...1)
        c.rolloutBootstrapResamples = try integer(reader, "rollout.bootstrap-resamples", default: c.rolloutBootstrapResamples, range: 100...100_000)
        c.rolloutDriftCheckSeconds = try integer(reader, "rollout.drift-check-seconds", default: c.rolloutDriftCheckSeconds, range: 1...86_400)
        c.tlsRenewalCheckSeconds = try integer(reader, "server.tls-renewal-check-seconds", default: c.tlsRenewalCheckSeconds, range: 1...86_400)
        guard !c.certificateHosts.isEmpty else { throw LoadError.invalid("server.certificate-hosts must name at least one host") }
        return c
    }

    private static func number(_ reader: ConfigReader, _ key: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        let text = reader.string(forKey: ConfigKey(key)) ?? reader.double(forKey: ConfigKey(key)).map { "\($0)" }
        guard let text else { return value }
        guard let parsed = Double(text), parsed.isFinite, range.contains(parsed) else {
            throw LoadError.invalid("\(key) must be a number within \(range.lowerBound)…\(range.upperBound), got \(text)")
        }
        return parsed
    }

    private static func integer(_ reader: ConfigReader, _ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        // Flags and environment variables arrive as strings, the JSON file as numbers.
        let parsed: Int
        if let n = reader.int(forKey: ConfigKey(key)) {
            parsed = n
        } else if let text = reader.string(forKey: ConfigKey(key)) {
            guard let n = Int(text) else { throw LoadError.invalid("\(key) must be an integer, got \"\(text)\"") }
            parsed = n
        } else {
            parsed = value
        }
        guard range.contains(parsed) else { throw LoadError.invalid("\(key) must be within \(range.lowerBound)…\(range.upperBound), got \(parsed)") }
        return parsed
    }
}
