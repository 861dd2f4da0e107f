import Foundation
import Synchronization

/// Whether this process has read its usual windows of live statistics since it started
/// serving. Until it has, `/readyz` answers 503: on a store of a hundred million outcomes the
/// start-up read takes a second or two, and a computation, drift check or page that came in
/// meanwhile read its own window's rows beside it and took twice as long. A read that fails
/// or runs past `longest` makes the node ready anyway; it then reads windows on demand, as
/// before.
///
/// A server that is only routed (tests that never call `run()`) is ready from the start.
final class StatisticsWarmup: Sendable {
    private enum State {
        case notServing
        case reading(since: ContinuousClock.Instant)
        case read
    }

    /// The longest the start-up read holds readiness back.
    let longest: Duration
    private let state = Mutex(State.notServing)

    init(longest: Duration = .seconds(60)) {
        self.longest = longest
    }

    /// Called as the server starts serving, before the start-up read.
    func startReading() {
        state.withLock { state in
            if case .notServing = state { state = .reading(since: .now) }
        }
    }

    /// Called when the start-up read has returned, whether it read the windows or failed.
    func finishReading() {
        state.withLock { $0 = .read }
    }

    /// nil when ready; otherwise how long the read has been running.
    func pending(at now: ContinuousClock.Instant = .now) -> Duration? {
        state.withLock { state in
            guard case let .reading(since) = state, now - since < longest else { return nil }
            return now - since
        }
    }
}
