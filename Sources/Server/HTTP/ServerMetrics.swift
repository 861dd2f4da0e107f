import CoreMetrics
import Metrics
import FeedbackWire
import Hummingbird
import Prometheus

/// The server's Prometheus metrics: batches and events by result, and request latency.
/// The factory is injected so that several servers in one test process keep separate
/// registries.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    /// The series every accepted upload counts in, looked up once (a lookup hashes the label
    /// and dimensions under the registry's lock).
    private let acceptedBatches: CoreMetrics.Counter
    private let replayedBatches: CoreMetrics.Counter
    private let acceptedEvents: CoreMetrics.Counter

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5),
        ]
        self.factory = factory
        acceptedBatches = Counter(label: "faceloop_batches_total", dimensions: [("result", "accepted")], factory: factory)
        replayedBatches = Counter(label: "faceloop_batches_total", dimensions: [("result", "replayed")], factory: factory)
        acceptedEvents = Counter(label: "faceloop_events_total", dimensions: [("result", "accepted")], factory: factory)
    }

    func batchAccepted(events: Int, replay: Bool) {
        (replay ? replayedBatches : acceptedBatches).increment()
        if !replay { acceptedEvents.increment(by: events) }
    }

    /// An event of an accepted batch that was not stored (no consent for its purpose, …).
    func eventRefused(reason: String) {
        Counter(label: "faceloop_events_total", dimensions: [("result", "refused"), ("reason", reason)], factory: factory).increment()
    }

    func batchRejected(_ reason: ProblemType, events: Int?) {
        Counter(label: "faceloop_batches_total", dimensions: [("result", "rejected"), ("reason", reason.slug)], factory: factory).increment()
        if let events {
            Counter(label: "faceloop_events_total", dimensions: [("result", "rejected"), ("reason", reason.slug)], factory: factory)
                .increment(by: events)
        }
    }

    func requestFinished(method: String, route: String, status: Int, nanoseconds: Int64) {
        Timer(label: "faceloop_http_request_duration_seconds",
              dimensions: [("method", method), ("route", route), ("status", String(status))], factory: factory)
            .recordNanoseconds(nanoseconds)
    }

    public func render() -> [UInt8] { registry.emitToBuffer() }
}

/// Times every request and labels it with the matched route (not the raw path, which would
/// make one series per device id).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        let route = context.endpointPath ?? "unmatched"
        metrics.requestFinished(method: request.method.rawValue, route: route, status: response.status.code, nanoseconds: nanoseconds)
        return response
    }
}

extension ServerMetrics {
    /// Routes the process-wide swift-metrics API into this registry, so that metrics emitted
    /// by libraries appear on `/metrics` too. Call once, from the executable.
    public func bootstrapGlobally() {
        MetricsSystem.bootstrap(factory)
    }
}

extension ServerMetrics {
    /// Number of drift flags raised for a cohort at the last drift check (0 = stable).
    func thresholdDrift(cohort: String, flags: Int) {
        Gauge(label: "faceloop_threshold_drift_flags", dimensions: [("cohort", cohort)], factory: factory).record(flags)
    }
}
