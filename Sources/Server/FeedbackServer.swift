import DeviceIdentity
import FeedbackWire
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Storage
import WebPages

/// The feedback server: TLS (1.2 minimum, 1.3 preferred) with optional client certificates,
/// which the kiosk endpoints then require, over a ``FeedbackStore``.
///
/// ```swift
/// let server = try await FeedbackServer.make(configuration: config, logger: logger)
/// try await server.run()   // until SIGTERM or SIGINT, then drains in-flight requests
/// ```
public struct FeedbackServer: Sendable {
    public let configuration: ServerConfiguration
    public let store: any FeedbackStore
    public let federation: any FederationStore
    public let compliance: any ComplianceStore
    /// The searches for per-cohort capture-normalisation policies.
    public let policySearches: any PolicySearchStore
    /// The pages' sign-in sessions, in the same store.
    public let sessions: any WebSessionStore
    /// Which node runs the once-per-cluster jobs (threshold computation, round aggregation,
    /// retention sweeps, audit checkpoints).
    public let jobs: any ClusterJobLock
    /// Closes the store's connections when the server stops.
    let closeStore: @Sendable () async -> Void
    public let identity: ServerIdentity
    /// The keys as they are now, replaced by rotations (`KeyRotation`).
    let keys: ServerKeys
    /// One per process, so that two rotations on one node never interleave.
    let rotation: KeyRotation
    public let metrics: ServerMetrics
    /// Holds `/readyz` back until the usual windows of statistics are read after a start.
    let statisticsWarmup = StatisticsWarmup()
    let logger: Logger
    let onListening: @Sendable (Int) async -> Void
    let onMetricsListening: @Sendable (Int) async -> Void

    /// `onListening` gets the API's port once it listens, `onMetricsListening` the metrics
    /// listener's (`MetricsListener`).
    public static func make(configuration: ServerConfiguration, logger: Logger,
                            metrics: ServerMetrics = ServerMetrics(),
                            onMetricsListening: @escaping @Sendable (Int) async -> Void = { _ in },
                            onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws -> FeedbackServer {
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let store: any ServerStore
        let closeStore: @Sendable () async -> Void
        switch configuration.storeKind {
        case .sqlite:
            store = try SQLiteStore(path: configuration.resolvedSQLitePath)
            closeStore = {}
            if !SQLiteStore.raisesWriterPriority {
                logger.notice("SQLite's writer cannot run at a raised priority (it needs CAP_SYS_NICE or LimitNICE=-10); intake over TLS is about a tenth lower")
            }
        case .postgres:
            if let tls = configuration.postgresTLS {
                logger.log(level: tls.mode == .disable ? .warning : .notice, "PostgreSQL connections: sslmode \(tls)")
            }
            let postgres = try await PostgresStore(url: configuration.postgresURL ?? "",
                                                           maximumConnections: configuration.postgresMaximumConnections, logger: logger)
            store = postgres
            closeStore = { await postgres.shutdown() }
        }
        do {
            let identity = try await ServerIdentity.loadOrCreate(dataDirectory: configuration.dataDirectory,
                                                                 hosts: configuration.certificateHosts, store: store,
                                                                 mintAdminToken: configuration.mintAdminToken, logger: logger)
            let keys = try await ServerKeyFiles.load(dataDirectory: configuration.dataDirectory, store: store, logger: logger)
            let rotation = KeyRotation(keys: keys, store: store, dataDirectory: configuration.dataDirectory,
                                       certificateHosts: configuration.certificateHosts, logger: logger, now: { Date() })
            return FeedbackServer(configuration: configuration, store: store, federation: store, compliance: store, policySearches: store, sessions: store,
                                  jobs: store, closeStore: closeStore, identity: identity, keys: keys, rotation: rotation, metrics: metrics, logger: logger,
                                  onListening: onListening, onMetricsListening: onMetricsListening)
        } catch {
            await closeStore()
            throw error
        }
    }

    func tlsConfiguration() throws -> TLSConfiguration {
        let snapshot = keys.current
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: snapshot.tlsChain.map { .certificate($0) },
                                                           privateKey: .privateKey(snapshot.tlsKey))
        // Each handshake takes the certificate as it is then, so a renewal needs no restart.
        tls.sslContextCallback = keys.tlsContextCallback(contextServes: snapshot.tlsChain)
        tls.minimumTLSVersion = .tlsv12
        // Enrollment and admin calls come without a client certificate; the kiosk endpoints
        // refuse such connections themselves, with a problem type instead of a TLS alert.
        tls.certificateVerification = .optionalVerification
        // Only the CA names sent to clients: `ClientCertificateVerifier` decides, over the CAs trusted now.
        tls.trustRoots = .certificates(try snapshot.trustedAuthorities.map { try NIOSSLCertificate(bytes: try $0.derBytes, format: .der) })
        tls.sendCANameList = true
        return tls
    }

    /// The one closer of federated rounds in this process, shared by the routes and the deadline watcher.
    func roundCloser(clock: @escaping @Sendable () -> Date) -> RoundCloser {
        RoundCloser(store: federation, jobs: jobs, settings: FederationSettings(configuration: configuration), releaseKey: { [keys] in keys.current.releaseKey },
                    logger: logger, now: clock)
    }

    func rolloutService(clock: @escaping @Sendable () -> Date) -> ModelRolloutService {
        ModelRolloutService(store: store, federation: federation, settings: RolloutSettings(configuration: configuration), now: clock)
    }

    /// The API's routes and the pages; `clock` is what they take for now.
    func router(closer: RoundCloser, clock: @escaping @Sendable () -> Date = { Date() }) throws -> Router<FeedbackRequestContext> {
        let renderer = try PageRenderer()
        let router = Router(context: FeedbackRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
        router.add(middleware: ProblemMiddleware())
        let admin = AdminAuthenticator(store: store)
        let peers = PeerCertificates()
        let uploads = SignedUploadAuthentication(
            store: store, policy: UploadSignaturePolicy(maximumClockSkew: TimeInterval(configuration.clockSkewSeconds)),
            peers: peers, maximumBodyBytes: configuration.maximumBodyBytes, now: clock)
        let kiosks = KioskAuthentication(store: store, admin: admin, peers: peers, now: clock)
        let keys = self.keys
        let thresholds = thresholdService(clock: clock)
        // The log is named after its key, which never changes, rather than after a host name, which may.
        let audit = AuditService(compliance: compliance, jobs: jobs, signingKey: { keys.current.auditKey },
                                 keyHistory: { keys.current.auditEndorsements }, firstKey: keys.current.auditAnchor,
                                 origin: keys.current.auditOrigin, now: clock)
        let rounds = RoundService(store: store, federation: federation, closer: closer,
                                  settings: FederationSettings(configuration: configuration), now: clock)
        OutcomeRoutes(intake: OutcomeIntake(store: store, maximumClockSkew: uploads.policy.maximumClockSkew, metrics: metrics),
                      authentication: uploads).register(on: router)
        EnrollmentRoutes(enrollment: EnrollmentService(store: store, keys: keys,
                                                       tokenTTL: TimeInterval(configuration.enrollmentTokenTTLSeconds), now: clock),
                         admin: admin).register(on: router)
        CertificateRenewalRoutes(renewals: CertificateRenewalService(store: store, issuer: { keys.current.deviceCA },
                                                                     trustedAuthorities: { keys.current.trustedAuthorities },
                                                                     now: clock),
                                 authentication: uploads).register(on: router)
        ThresholdRoutes(thresholds: thresholds, admin: admin, kiosks: kiosks).register(on: router)
        FederationRoutes(rounds: rounds, admin: admin, kiosks: kiosks, authentication: uploads).register(on: router)
        ModelRoutes(models: ModelReleaseService(federation: federation), rollouts: rolloutService(clock: clock), admin: admin, kiosks: kiosks)
            .register(on: router)
        PolicySearchRoutes(searches: PolicySearchService(store: store, federation: federation, searches: policySearches,
                                                         settings: RolloutSettings(configuration: configuration),
                                                         releaseKey: { keys.current.releaseKey }, now: clock),
                           admin: admin).register(on: router)
        AdminRoutes(fleet: FleetService(store: store, now: clock), tokens: TokenService(store: store, now: clock), admin: admin)
            .register(on: router)
        ComplianceRoutes(service: ComplianceService(compliance: compliance, signingKey: { keys.current.auditKey }, now: clock),
                         admin: admin, kiosks: kiosks).register(on: router)
        AuditRoutes(audit: audit, admin: admin).register(on: router)
        KeyRoutes(rotation: rotation, keys: keys, admin: admin, kiosks: kiosks).register(on: router)
        OperationalRoutes(store: store, warmup: statisticsWarmup).register(on: router)
        WebRoutes(store: store, federation: federation, compliance: compliance, sessions: webSessions(clock: clock),
                  thresholds: thresholds, rounds: rounds, audit: audit, renderer: renderer, now: clock)
            .register(on: router)
        return router
    }

    func thresholdService(clock: @escaping @Sendable () -> Date) -> ThresholdService {
        let keys = self.keys
        return ThresholdService(store: store, jobs: jobs, releaseKey: { keys.current.releaseKey },
                                guardrail: configuration.thresholdGuardrail, metrics: metrics, now: clock)
    }

    func webSessions(clock: @escaping @Sendable () -> Date) -> WebSessions {
        WebSessions(tokens: store, store: sessions, policy: WebSessionPolicy(configuration: configuration), now: clock)
    }

    /// Serves until SIGTERM/SIGINT; then stops accepting, finishes in-flight requests and returns.
    public func run() async throws {
        let logger = self.logger
        let onListening = self.onListening
        let closer = roundCloser(clock: { Date() })
        let requestTimeout = configuration.requestTimeoutSeconds
        let keys = self.keys
        let verifier = ClientCertificateVerifier(authorities: { keys.current.trustedAuthorities })
        statisticsWarmup.startReading()
        let app = Application(
            router: try router(closer: closer),
            server: try .tls(.http1(configuration: .init(
                additionalChannelHandlers: [RequestDeadline(deadline: .seconds(Int64(requestTimeout)))],
                idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))),
                             configuration: TLSChannelConfiguration(tlsConfiguration: tlsConfiguration(),
                                                                    customAsyncVerificationCallback: { verifier.verify($0) })),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "faceloop"),
            services: [PeriodicJob.nonceJanitor(store: store, window: TimeInterval(configuration.clockSkewSeconds), logger: logger),
                       RoundDeadlineWatcher(federation: federation, closer: closer, logger: logger, interval: .seconds(1)),
                       PeriodicJob.retentionSweeper(compliance: compliance, jobs: jobs, interval: .seconds(3600), logger: logger),
                       PeriodicJob.rolloutDriftMonitor(rollouts: rolloutService(clock: { Date() }),
                                                       interval: .seconds(configuration.rolloutDriftCheckSeconds), logger: logger),
                       PeriodicJob.webSessionSweeper(sessions: webSessions(clock: { Date() }), interval: .seconds(300), logger: logger),
                       PeriodicJob.statisticsWindowReader(thresholds: thresholdService(clock: { Date() }), warmup: statisticsWarmup,
                                                          interval: .seconds(3600), logger: logger),
                       PeriodicJob.statisticsWindowRefresh(store: store, interval: .seconds(10), logger: logger),
                       PeriodicJob.tlsCertificateRenewal(rotation: rotation, interval: .seconds(configuration.tlsRenewalCheckSeconds),
                                                         logger: logger),
                       MetricsListener.application(configuration: configuration, metrics: metrics, logger: logger,
                                                   onListening: onMetricsListening)],
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? 0)
            },
            logger: logger)
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            await closeStore()
            throw error
        }
        await closeStore()
    }
}

/// A job that runs every `interval` until graceful shutdown (first at start when
/// `immediately`); a failed run is logged and the next one tried on schedule.
struct PeriodicJob: Service {
    let name: String
    let interval: Duration
    let immediately: Bool
    let logger: Logger
    let body: @Sendable () async throws -> Void

    func run() async throws {
        var first = true
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if !(first && immediately) {
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
                } catch {
                    return
                }
            }
            first = false
            do {
                try await body()
            } catch {
                logger.warning("\(name) failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Forgets nonces once they are older than twice the clock window: by then a replay would
    /// be refused for its stale creation time anyway.
    static func nonceJanitor(store: any FeedbackStore, window: TimeInterval, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "nonce purge", interval: .seconds(60), immediately: false, logger: logger) {
            let removed = try await store.purgeNonces(seenBefore: Date().addingTimeInterval(-2 * window))
            if removed > 0 { logger.debug("purged nonces", metadata: ["count": "\(removed)"]) }
        }
    }

    /// Deletes outcomes whose retention has run out, at start and then every `interval`; on
    /// one node of a cluster at a time (the others skip their turn).
    static func retentionSweeper(compliance: any ComplianceStore, jobs: any ClusterJobLock, interval: Duration,
                                 logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "retention sweep", interval: interval, immediately: true, logger: logger) {
            guard let erased = try await jobs.exclusively(.retentionSweep, wait: false, { try await compliance.sweepRetention(now: Date()) })
            else { return }
            if !erased.isEmpty {
                logger.notice("retention sweep", metadata: ["subjects": "\(erased.count)",
                                                            "outcomes": "\(erased.reduce(0) { $0 + $1.outcomesErased })"])
            }
        }
    }

    /// Deletes page sessions past their idle or absolute expiry (a lookup refuses them before
    /// then anyway). Every node may run it: deleting what another node deleted changes nothing.
    static func webSessionSweeper(sessions: WebSessions, interval: Duration, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "web session sweep", interval: interval, immediately: true, logger: logger) {
            let removed = try await sessions.sweep()
            if removed > 0 { logger.debug("swept expired web sessions", metadata: ["count": "\(removed)"]) }
        }
    }

    /// Reads the usual windows of live statistics at start and hourly (`readUsualWindows`), so
    /// that drift, the page and a computation find them kept. The node is ready once the first
    /// read has returned (`StatisticsWarmup`).
    static func statisticsWindowReader(thresholds: ThresholdService, warmup: StatisticsWarmup, interval: Duration,
                                       logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "statistics window read", interval: interval, immediately: true, logger: logger) {
            defer { warmup.finishReading() }
            try await thresholds.readUsualWindows()
        }
    }

    /// Brings the kept windows up to date every `interval`, so that the changes held for them
    /// stay that long's worth of arrivals, whatever the rate.
    static func statisticsWindowRefresh(store: any FeedbackStore, interval: Duration, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "statistics window refresh", interval: interval, immediately: false, logger: logger) {
            try await store.bringStatisticsWindowsUpToDate()
        }
    }

    /// Renews this node's TLS certificate once two thirds of its life has passed (at start,
    /// then every `interval`): months before it expires, so a failing renewal is seen in the
    /// log long before kiosks are refused.
    static func tlsCertificateRenewal(rotation: KeyRotation, interval: Duration, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "TLS certificate renewal", interval: interval, immediately: true, logger: logger) {
            try await rotation.renewTLSCertificateIfDue()
        }
    }

    /// Rolls back promoted models whose realised FMR breaches their bound. Every node may run
    /// it: the store's compare-and-set lets one rollback through.
    static func rolloutDriftMonitor(rollouts: ModelRolloutService, interval: Duration, logger: Logger) -> PeriodicJob {
        PeriodicJob(name: "rollout drift check", interval: interval, immediately: false, logger: logger) {
            for version in try await rollouts.rollBackOnDrift() {
                logger.warning("model release rolled back on drift", metadata: ["version": "\(version)"])
            }
        }
    }
}
