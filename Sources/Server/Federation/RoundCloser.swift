import Crypto
import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import Logging
import Storage

/// Ends an open round: aggregates its updates (out-of-bound ones left out, then DP-FedAvg,
/// then W averaged with its transpose), runs the evaluation gate (FNMR at the target FMR) on the held-out pairs and, only if the candidate passes, signs
/// and stores the model release — the round's new state, its outcome and the release in one
/// transaction. One closer per process, so a quorum reached by an upload and the deadline
/// watcher never aggregate the same round twice.
actor RoundCloser {
    let store: any FederationStore
    let jobs: any ClusterJobLock
    let settings: FederationSettings
    /// The release key now: a rotation takes effect at the next release.
    let releaseKey: @Sendable () -> Curve25519.Signing.PrivateKey
    let logger: Logger
    let now: @Sendable () -> Date

    /// Updates may exceed C by float rounding of the kiosk's clipping; more than that is out of bound.
    static let boundSlack = 1 + 1e-5
    /// The face module's `FaceVerifier.baseModelVersion`: the frozen backbone the adapter sits on.
    static let backbone = "dlib_face_recognition_resnet_model_v1"

    init(store: any FederationStore, jobs: any ClusterJobLock, settings: FederationSettings, releaseKey: @escaping @Sendable () -> Curve25519.Signing.PrivateKey, logger: Logger,
         now: @escaping @Sendable () -> Date) {
        self.store = store
        self.jobs = jobs
        self.settings = settings
        self.releaseKey = releaseKey
        self.logger = logger
        self.now = now
    }

    /// Closes the round if it is still open; returns it as it is afterwards. One node of a
    /// cluster aggregates at a time; the others wait, then find the round closed.
    @discardableResult
    func close(roundID: Int, why: String) async throws -> StoredRound? {
        try await jobs.afterWaiting(for: .roundAggregation) { try await self.closeOnThisNode(roundID: roundID, why: why) }
    }

    private func closeOnThisNode(roundID: Int, why: String) async throws -> StoredRound? {
        guard let round = try await store.round(id: roundID) else { return nil }
        guard round.state == .open else { return round }
        let specification = try RoundRecords.specification(of: round)
        let stored = try await store.updates(roundID: roundID)
        let decision = try await decide(round: round, specification: specification, stored: stored)
        let closed = try await store.closeRound(id: roundID, state: decision.state,
                                                outcome: [UInt8](try WireJSON.encoder().encode(decision.outcome)),
                                                at: now(), release: decision.release, verdicts: decision.verdicts(of: stored))
        if closed {
            logger.info("round closed", metadata: ["round": "\(roundID)", "state": "\(decision.state.rawValue)", "why": "\(why)",
                                                   "updates": "\(stored.count)"])
        }
        return try await store.round(id: roundID)
    }

    /// What closing a round decided: its state and outcome, the release (if any), and what
    /// happened to each update, which the store keeps once the update's body is deleted.
    struct Decision {
        var state: RoundState
        var outcome: RoundOutcome
        var release: NewModelRelease?

        func verdicts(of stored: [StoredUpdate]) -> [String: String] {
            var verdicts: [String: String] = [:]
            for update in stored { verdicts[update.deviceID] = "not aggregated: \(outcome.reason ?? "the round closed without it")" }
            for device in outcome.accepted { verdicts[device] = "aggregated" }
            for client in outcome.adjusted { verdicts[client.deviceID] = "aggregated after server clipping: \(client.reason)" }
            for client in outcome.rejected { verdicts[client.deviceID] = "left out: \(client.reason)" }
            return verdicts
        }
    }

    private func decide(round: StoredRound, specification: RoundSpecification, stored: [StoredUpdate]) async throws -> Decision {
        func failed(_ reason: String) -> Decision {
            Decision(state: .failed, outcome: RoundOutcome(accepted: [], rejected: [], adjusted: [], baseline: nil, candidate: nil,
                                                           releaseVersion: nil, reason: reason))
        }
        guard stored.count >= specification.minimumClients else {
            return failed("\(stored.count) of the \(specification.minimumClients) updates needed arrived before the deadline")
        }
        let base = try await baseAdapter(version: specification.baseVersion)
        var updates: [ClientUpdate] = [], unreadable: [ExcludedClient] = []
        for update in stored {
            // Validated when it was accepted; decoding again guards against a changed row.
            guard let decoded = try? ModelUpdateUpload.decode(update.body), decoded.update.values.count == base.parameterCount else {
                unreadable.append(ExcludedClient(deviceID: update.deviceID, reason: "the stored update no longer decodes"))
                continue
            }
            updates.append(ClientUpdate(clientID: update.deviceID, update: decoded.update))
        }
        // Out-of-bound updates are left out whole (a kiosk that does not clip is not trusted
        // to be scaled back), then DP-FedAvg sums the rest with its fixed denominator.
        let bound = specification.clippingNorm * Self.boundSlack
        let norms = try UpdateMatrix(updates: updates).rowNorms()
        var keptUpdates: [ClientUpdate] = [], rejected = unreadable
        for (update, norm) in zip(updates, norms) {
            if norm > bound {
                rejected.append(ExcludedClient(deviceID: update.clientID,
                                               reason: "update norm \(norm) exceeds the clipping norm C = \(specification.clippingNorm)"))
            } else {
                keptUpdates.append(update)
            }
        }
        guard !keptUpdates.isEmpty else {
            return Decision(state: .failed, outcome: RoundOutcome(accepted: [], rejected: rejected, adjusted: [], baseline: nil,
                                                                  candidate: nil, releaseVersion: nil, reason: "every update was out of bound"))
        }
        var strategy = DPFedAvg(clippingNorm: specification.clippingNorm, noiseMultiplier: specification.noiseMultiplier,
                                expectedClientCount: specification.expectedClients,
                                noise: DiscreteGaussianNoise(generator: SystemRandomNumberGenerator()))
        let aggregated = try strategy.aggregate(round: round.id, global: base.parameters, updates: try UpdateMatrix(updates: keptUpdates))
        // Noise is drawn for every coordinate; averaging W with its transpose is post-processing
        // (no privacy cost) and keeps the released W symmetric, as kiosks train it.
        let candidate = try base.replacingParameters(with: aggregated.parameters).symmetrized()

        let pairs: [LabelledPair]
        do {
            pairs = try settings.evaluationPairs()
        } catch {
            return Decision(state: .rejected, outcome: RoundOutcome(accepted: [], rejected: rejected, adjusted: [], baseline: nil,
                                                                    candidate: nil, releaseVersion: nil,
                                                                    reason: "the evaluation gate cannot run: \(error.description)"))
        }
        let baselineReport: EvaluationReport, candidateReport: EvaluationReport
        do {
            baselineReport = try strategy.evaluate(candidate: base, on: pairs, targetFMR: settings.gateTargetFMR)
            candidateReport = try strategy.evaluate(candidate: candidate, on: pairs, targetFMR: settings.gateTargetFMR)
        } catch let error as FederationError {
            return Decision(state: .rejected, outcome: RoundOutcome(accepted: [], rejected: rejected, adjusted: [], baseline: nil,
                                                                    candidate: nil, releaseVersion: nil,
                                                                    reason: "the evaluation gate cannot run: \(error)"))
        }
        var outcome = RoundOutcome(accepted: aggregated.accepted, rejected: rejected, adjusted: aggregated.adjusted.map(ExcludedClient.init),
                                   baseline: HeldOutEvaluation(baselineReport), candidate: HeldOutEvaluation(candidateReport),
                                   releaseVersion: nil, reason: nil)
        // Only a strictly better candidate is released: a tie changes nothing at the operating point.
        guard candidateReport.passesGate(comparedWith: baselineReport) else {
            outcome.reason = "the candidate's held-out FNMR \(candidateReport.falseNonMatchRate) at FMR \(settings.gateTargetFMR)"
                + " is not better than the base's \(baselineReport.falseNonMatchRate)"
            return Decision(state: .rejected, outcome: outcome)
        }
        let privacy: ReleasedPrivacy
        do {
            privacy = try await self.privacy(for: round, specification: specification)
        } catch let error as FederationError {
            // Not publishable without its privacy statement; the round must not stay open either.
            outcome.reason = "the privacy statement cannot be computed: \(error)"
            return Decision(state: .rejected, outcome: outcome)
        }
        let version = (try await store.modelReleases().map(\.version).max() ?? 0) + 1
        outcome.releaseVersion = version
        // A round trains the adapter only: the capture policies a search put into the base stay.
        let release = ModelRelease(version: version, baseVersion: specification.baseVersion, roundID: round.id,
                                   backbone: Self.backbone, adapter: candidate, privacy: privacy, outcome: ReleasedRoundSummary(outcome), createdAt: now(),
                                   normalisation: try await RoundRecords.normalisation(version: specification.baseVersion, store: store))
        let payload = try ModelReleaseCoding.canonicalBytes(release)
        let envelope = try SignedRelease.sign(kind: .model, version: version, payload: payload, key: releaseKey(), at: now())
        return Decision(state: .published, outcome: outcome,
                        release: NewModelRelease(version: version, payload: payload,
                                                 envelope: [UInt8](try WireJSON.encoder().encode(envelope))))
    }

    /// The adapter of a release; version 0 is the identity.
    func baseAdapter(version: Int) async throws -> Adapter {
        try await RoundRecords.adapter(version: version, store: store)
    }

    /// ε of the rounds since the previous release (every opened round spent privacy, even
    /// one that failed) and of the whole ledger.
    private func privacy(for round: StoredRound, specification: RoundSpecification) async throws -> ReleasedPrivacy {
        let ledger = try await store.privacyLedger()
        let previousRound = try await store.modelReleases().map(\.roundID).max() ?? 0
        let rounds = try await store.rounds().filter { $0.id > previousRound && $0.id <= round.id }.count
        let statement = try PrivacyStatement(clippingNorm: specification.clippingNorm, noiseMultiplier: specification.noiseMultiplier,
                                             samplingRate: specification.samplingRate, releaseRounds: rounds,
                                             ledger: RoundRecords.ledgerEntries(ledger), delta: settings.budget.delta)
        return ReleasedPrivacy(statement)
    }
}

/// Reading rounds and releases back from their stored JSON.
enum RoundRecords {
    static func specification(of round: StoredRound) throws -> RoundSpecification {
        var specification = try WireJSON.decoder().decode(RoundSpecification.self, from: Data(round.specification))
        specification.roundID = round.id
        return specification
    }

    static func outcome(of round: StoredRound) -> RoundOutcome? {
        round.outcome.flatMap { try? WireJSON.decoder().decode(RoundOutcome.self, from: Data($0)) }
    }

    static func adapter(version: Int, store: any FederationStore) async throws -> Adapter {
        try await release(version: version, store: store)?.adapter ?? Adapter.identity()
    }

    /// The per-cohort normalisation policies of a release (none for the backbone, version 0).
    static func normalisation(version: Int, store: any FederationStore) async throws -> [CohortNormalisation] {
        try await release(version: version, store: store)?.normalisation ?? []
    }

    private static func release(version: Int, store: any FederationStore) async throws -> ModelRelease? {
        guard version > 0 else { return nil }
        guard let stored = try await store.modelRelease(version: version) else {
            throw ProblemResponse(.internalError, "model release \(version) is missing from the store")
        }
        return try ModelReleaseCoding.decode(stored.payload)
    }

    /// Consecutive rounds with the same (q, z) become one ledger entry.
    static func ledgerEntries(_ rounds: [LedgerRound]) -> [PrivacyLedgerEntry] {
        var entries: [PrivacyLedgerEntry] = []
        for round in rounds {
            if let last = entries.last, last.samplingRate == round.samplingRate, last.noiseMultiplier == round.noiseMultiplier {
                entries[entries.count - 1].rounds += 1
            } else {
                entries.append(PrivacyLedgerEntry(samplingRate: round.samplingRate, noiseMultiplier: round.noiseMultiplier, rounds: 1))
            }
        }
        return entries
    }
}
