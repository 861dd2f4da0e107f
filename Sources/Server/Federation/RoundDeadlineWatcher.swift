import Foundation
import Logging
import ServiceLifecycle
import Storage

/// Closes the open round once its deadline has passed: it aggregates what arrived (if the
/// quorum did) and later uploads are refused as late. Also closes, after a restart, a round
/// whose deadline passed while the server was down.
struct RoundDeadlineWatcher: Service {
    let federation: any FederationStore
    let closer: RoundCloser
    let logger: Logger
    let interval: Duration

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                if let round = try await federation.openRound(), round.deadline <= Date() {
                    try await closer.close(roundID: round.id, why: "deadline")
                }
            } catch {
                logger.warning("closing a round at its deadline failed", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
        }
    }
}
