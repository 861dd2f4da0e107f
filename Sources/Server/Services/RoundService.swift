import Federation
import FederationAPI
import FeedbackWire
import Foundation
import Logging
import Storage

/// Federated rounds: opened by engineers within the privacy budget, polled by kiosks, fed
/// with their signed updates, and closed by the shared ``RoundCloser`` as soon as the quorum
/// is in (or by an engineer, or at the deadline).
struct RoundService: Sendable {
    let store: any FeedbackStore
    let federation: any FederationStore
    let closer: RoundCloser
    let settings: FederationSettings
    let now: @Sendable () -> Date

    /// The round whose id is `text`, as the path names it.
    func round(_ text: String) async throws -> StoredRound {
        guard let id = Int(text), let round = try await federation.round(id: id) else {
            throw ProblemResponse(.notFound, "no round \(text)")
        }
        return round
    }

    /// Opens a round if its parameters are sound, its privacy fits the budget, and no other round is open.
    func open(_ request: OpenRoundRequest, by caller: String) async throws -> RoundView {
        let (strategy, training) = try validated(request)
        // Checked again in the opening transaction; here it spares the accounting below.
        if let open = try await federation.openRound() {
            throw ProblemResponse(.roundOpen, "round \(open.id) is still open; close it first")
        }
        let ledger = try await federation.privacyLedger()
        try admit(request, after: RoundRecords.ledgerEntries(ledger))

        let active = try await store.deviceSummaries().filter { $0.status == .active }.map(\.deviceID).sorted()
        guard !active.isEmpty else { throw ProblemResponse(.insufficientData, "no kiosk is enrolled and active") }
        var generator = SystemRandomNumberGenerator()
        let context = RoundContext(roundNumber: ledger.count + 1, eligibleClients: active, samplingRate: request.samplingRate,
                                   localTraining: training.configuration(seed: 0), clippingNorm: request.clippingNorm)
        let plan = DPFedAvg(clippingNorm: request.clippingNorm, noiseMultiplier: request.noiseMultiplier,
                            expectedClientCount: request.samplingRate * Double(active.count),
                            noise: DiscreteGaussianNoise(generator: generator)).configureRound(context, using: &generator)
        let baseVersion = try await federation.modelReleases().map(\.version).max() ?? 0
        let openedAt = now()
        let deadline = openedAt.addingTimeInterval(TimeInterval(request.deadlineSeconds))
        let specification = RoundSpecification(
            roundID: context.roundNumber, baseVersion: baseVersion, strategy: strategy, clippingNorm: request.clippingNorm,
            noiseMultiplier: request.noiseMultiplier, samplingRate: request.samplingRate,
            expectedClients: request.samplingRate * Double(active.count), minimumClients: request.minimumClients,
            deadline: deadline, selectedDevices: plan.selectedClients, localTraining: training,
            // 53 bits, so that every JSON reader gets the exact seed.
            trainingSeed: plan.localTraining.seed & ((1 << 53) - 1))
        let new = NewRound(baseVersion: baseVersion, samplingRate: request.samplingRate, noiseMultiplier: request.noiseMultiplier,
                           deadline: deadline, specification: [UInt8](try WireJSON.encoder().encode(specification)),
                           openedAt: openedAt, openedBy: caller)
        switch try await federation.openRound(new, ledgerLength: ledger.count) {
        case let .opened(round): return try await view(round)
        case let .anotherRoundOpen(id): throw ProblemResponse(.roundOpen, "round \(id) is still open; close it first")
        case .ledgerChanged: throw ProblemResponse(.roundOpen, "another round was opened meanwhile")
        }
    }

    /// The request's strategy and local training, once every parameter is within its range.
    private func validated(_ request: OpenRoundRequest) throws -> (strategy: String, training: LocalTrainingSettings) {
        let strategy = request.strategy ?? "dp-fedavg"
        guard strategy == "dp-fedavg" else {
            throw ProblemResponse(.invalidRequest, "strategy \(strategy) is unknown; rounds run dp-fedavg (out-of-bound updates are left out)")
        }
        guard request.clippingNorm.isFinite, request.clippingNorm > 0 else {
            throw ProblemResponse(.invalidRequest, "clipping_norm must be positive")
        }
        guard request.noiseMultiplier.isFinite, request.noiseMultiplier > 0 else {
            throw ProblemResponse(.invalidRequest, "noise_multiplier must be positive: a round without noise has no privacy guarantee")
        }
        guard request.samplingRate > 0, request.samplingRate <= 1 else {
            throw ProblemResponse(.invalidRequest, "sampling_rate must be within (0, 1]")
        }
        guard (1...10_000).contains(request.minimumClients) else {
            throw ProblemResponse(.invalidRequest, "minimum_clients must be within 1…10000")
        }
        guard (10...(30 * 86_400)).contains(request.deadlineSeconds) else {
            throw ProblemResponse(.invalidRequest, "deadline_seconds must be within 10…2592000")
        }
        let training = request.localTraining ?? LocalTrainingSettings()
        if let problem = training.problem { throw ProblemResponse(.invalidRequest, "local_training: \(problem)") }
        do {
            _ = try settings.evaluationPairs()
        } catch {
            throw ProblemResponse(.invalidRequest, "no round can pass the evaluation gate: \(error.description)")
        }
        return (strategy, training)
    }

    /// Refuses a round whose privacy the budget cannot afford after `spent`, or cannot state.
    private func admit(_ request: OpenRoundRequest, after spent: [PrivacyLedgerEntry]) throws {
        let planned = PrivacyLedgerEntry(samplingRate: request.samplingRate, noiseMultiplier: request.noiseMultiplier, rounds: 1)
        if case let .refused(reason, _) = try settings.budget.admit(nextRound: planned, after: spent) {
            throw ProblemResponse(.privacyBudgetExhausted, reason)
        }
        // The release will state ε under both accountants; parameters one of them cannot
        // account for (PLD's grid limit at very small z) are refused now, not after the round.
        do {
            _ = try PrivacyStatement(clippingNorm: request.clippingNorm, noiseMultiplier: request.noiseMultiplier,
                                     samplingRate: request.samplingRate, releaseRounds: 1, ledger: spent + [planned],
                                     delta: settings.budget.delta)
        } catch {
            throw ProblemResponse(.invalidRequest, "the privacy of this round cannot be stated: \(error)")
        }
    }

    /// Closes an open round now, whatever its quorum.
    func close(_ round: StoredRound) async throws -> RoundView {
        guard round.state == .open else {
            throw ProblemResponse(.roundClosed, "round \(round.id) is already \(round.state.rawValue)")
        }
        guard let closed = try await closer.close(roundID: round.id, why: "closed by an engineer") else {
            throw ProblemResponse(.notFound, "no round \(round.id)")
        }
        return try await view(closed)
    }

    func list() async throws -> RoundList {
        let ledger = RoundRecords.ledgerEntries(try await federation.privacyLedger())
        let budget = settings.budget
        let spent = try settings.budget.epsilonSpent(ledger)
        var views: [RoundView] = []
        for round in try await federation.rounds() { views.append(try await view(round)) }
        return RoundList(rounds: views, epsilonSpent: spent, epsilonBudget: budget.epsilon, delta: budget.delta,
                         accountant: budget.accountant.rawValue)
    }

    func view(_ round: StoredRound) async throws -> RoundView {
        RoundView(state: round.state.rawValue, round: try RoundRecords.specification(of: round), updatesReceived: round.updateCount,
                  openedAt: round.openedAt, openedBy: round.openedBy, closedAt: round.closedAt, outcome: RoundRecords.outcome(of: round))
    }

    /// The open round as `device` needs it: whether it was selected, and how to train.
    func current(for device: DeviceRecord) async throws -> CurrentRound {
        guard let round = try await federation.openRound() else {
            throw ProblemResponse(.notFound, "no round is open")
        }
        let specification = try RoundRecords.specification(of: round)
        let received = try await federation.updates(roundID: round.id).contains { $0.deviceID == device.deviceID }
        return CurrentRound(roundID: round.id, baseVersion: specification.baseVersion,
                            selected: specification.selectedDevices.contains(device.deviceID),
                            clippingNorm: specification.clippingNorm, deadline: specification.deadline,
                            localTraining: specification.localTraining, trainingSeed: specification.trainingSeed,
                            updateReceived: received)
    }
}
