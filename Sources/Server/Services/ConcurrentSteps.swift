import Foundation
import Synchronization

/// Runs independent, pure steps (one per cohort, one per pool) on every core: threshold
/// computation, drift and the calibration page each do thousands of them per request. Each
/// result lands at its step's index, so the output is the same whichever worker ran which step.
enum ConcurrentSteps {
    /// `step(0) … step(count - 1)`, in index order, computed by up to one worker per core, each
    /// taking the next step not yet taken (steps differ in cost by orders of magnitude).
    static func map<Result: Sendable>(_ count: Int, _ step: @escaping @Sendable (Int) -> Result) async -> [Result] {
        let workers = min(count, max(1, ProcessInfo.processInfo.activeProcessorCount))
        guard workers > 1 else { return (0..<count).map(step) }
        let next = NextStep()
        return await withTaskGroup(of: [(Int, Result)].self) { group in
            for _ in 0..<workers {
                group.addTask {
                    var done: [(Int, Result)] = []
                    while true {
                        let index = next.take()
                        guard index < count else { return done }
                        done.append((index, step(index)))
                    }
                }
            }
            var all: [(Int, Result)] = []
            all.reserveCapacity(count)
            for await done in group { all.append(contentsOf: done) }
            return all.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}

/// The index of the next step not yet taken, shared by the workers.
private final class NextStep: Sendable {
    private let counter = Atomic<Int>(0)

    func take() -> Int { counter.wrappingAdd(1, ordering: .relaxed).oldValue }
}
