import Foundation

/// Work that one node of a cluster does at a time: two nodes computing the same threshold
/// release or aggregating the same round would race for the same version numbers.
public enum ClusterJob: String, Sendable, CaseIterable {
    case thresholdComputation = "threshold-computation"
    case roundAggregation = "round-aggregation"
    case retentionSweep = "retention-sweep"
    case auditCheckpoint = "audit-checkpoint"
}

public enum ClusterJobError: Error, CustomStringConvertible {
    case busy(ClusterJob, waited: Duration)

    public var description: String {
        switch self {
        case let .busy(job, waited): "another node has been running the \(job.rawValue) job for longer than \(waited)"
        }
    }
}

/// Leader election per job. With SQLite there is one node, so a lock in the process is
/// enough; with PostgreSQL it is a session advisory lock, which the database releases when
/// the connection of a node that died closes.
public protocol ClusterJobLock: Sendable {
    /// Runs `body` while this node alone runs `job`. When another node runs it: returns nil
    /// at once if `wait` is false (periodic jobs skip a turn), otherwise waits for it, up to
    /// `ClusterJobPolicy.longestWait`, then throws ``ClusterJobError/busy(_:waited:)``.
    func exclusively<Value: Sendable>(_ job: ClusterJob, wait: Bool, _ body: @Sendable () async throws -> Value) async throws -> Value?
}

extension ClusterJobLock {
    /// Waits until no other node runs `job` (up to `ClusterJobPolicy.longestWait`), then runs
    /// `body`: for jobs someone asked for and waits on.
    public func afterWaiting<Value: Sendable>(for job: ClusterJob, _ body: @Sendable () async throws -> Value) async throws -> Value {
        guard let value = try await exclusively(job, wait: true, body) else {
            throw ClusterJobError.busy(job, waited: ClusterJobPolicy.longestWait)
        }
        return value
    }
}

public enum ClusterJobPolicy {
    public static let longestWait: Duration = .seconds(120)
    static let retryInterval: Duration = .milliseconds(50)
}

/// The jobs running in this process.
actor LocalJobLock {
    private var running: Set<ClusterJob> = []

    func acquire(_ job: ClusterJob, wait: Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let start = clock.now
        while running.contains(job) {
            guard wait else { return false }
            guard clock.now - start < ClusterJobPolicy.longestWait else { throw ClusterJobError.busy(job, waited: ClusterJobPolicy.longestWait) }
            try await Task.sleep(for: ClusterJobPolicy.retryInterval)
        }
        running.insert(job)
        return true
    }

    func release(_ job: ClusterJob) {
        running.remove(job)
    }

    func exclusively<Value: Sendable>(_ job: ClusterJob, wait: Bool, _ body: @Sendable () async throws -> Value) async throws -> Value? {
        guard try await acquire(job, wait: wait) else { return nil }
        do {
            let value = try await body()
            release(job)
            return value
        } catch {
            release(job)
            throw error
        }
    }
}

/// Everything a server node needs from its store.
public typealias ServerStore = FeedbackStore & FederationStore & ComplianceStore & WebSessionStore & ServerKeyStore & ClusterJobLock
    & PolicySearchStore
