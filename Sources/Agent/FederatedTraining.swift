import Compliance
import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import HTTPSignatures
import StrictJSON

/// The kiosk's side of federated rounds: poll the open round, train the adapter on labelled
/// pairs that never leave the kiosk, upload only the clipped update (signed like outcome
/// batches), and pull the signed model release, verified with the pinned release key.
extension KioskAgent {
    /// What `train` did, for the operator.
    public struct TrainingReport: Sendable, Codable, Equatable {
        public var roundID: Int
        public var baseVersion: Int
        public var pairs: Int
        /// Pairs left out because a subject in them has no model-improvement consent in force
        /// in this kiosk's ledger (never granted, withdrawn or limited), or is not named.
        public var pairsExcluded: Int
        public var lossBefore: Double
        public var lossAfter: Double
        /// ‖Δ‖ before clipping, and the bound C it was clipped to.
        public var updateNorm: Double
        public var clippingNorm: Double
        public var receipt: UpdateReceipt

        enum CodingKeys: String, CodingKey {
            case roundID = "round_id", baseVersion = "base_version", pairs, pairsExcluded = "pairs_excluded"
            case lossBefore = "loss_before", lossAfter = "loss_after"
            case updateNorm = "update_norm", clippingNorm = "clipping_norm", receipt
        }
    }

    /// The subjects among `pseudonyms` whose model-improvement consent the server holds in
    /// force now. The server knows what this kiosk does not: withdrawals recorded at other
    /// kiosks and erasure requests. Pending consent events are uploaded first, so that the
    /// server's answer includes what this kiosk recorded.
    public func serverConsentedSubjects(_ pseudonyms: Set<String>) async throws -> Set<String> {
        let flushed = try await upload()
        if let error = flushed.error { throw AgentError.server("cannot upload pending consent events first: \(error)") }
        let settings = try loadSettings()
        var covered: Set<String> = []
        // The server answers about at most 900 subjects per request (its JSON body limit).
        let sorted = pseudonyms.sorted()
        for start in stride(from: 0, to: sorted.count, by: 900) {
            let chunk = sorted[start..<min(start + 900, sorted.count)]
            let body = JSONValue.object([("purpose", .string(Purpose.modelImprovement.rawValue)),
                                         ("subject_pseudonyms", .array(chunk.map(JSONValue.string)))]).serialized()
            let (status, answer) = try await ServerTLS.withClient(try clientConfiguration()) {
                try await ServerTLS.post(client: $0, url: settings.serverURL + "/v1/kiosk/consent-status",
                                         headers: ["content-type": "application/json"], body: body)
            }
            guard status == 200 else { throw ServerTLS.refusal(status: status, body: answer) }
            guard let answered = (try? JSONValue.parse(answer))?["covered"]?.arrayValue?.compactMap(\.stringValue) else {
                throw AgentError.server("unreadable consent status")
            }
            covered.formUnion(answered)
        }
        return covered
    }

    /// The pairs local training may use at `moment`: every subject named, and each one's
    /// model-improvement consent in force in this kiosk's ledger and, when given, on the
    /// server (`serverCovered`). A withdrawal recorded anywhere removes the subject's pairs
    /// from every later round.
    public func consentedPairs(_ pairs: [LabelledPairsFile.AttributedPair], at moment: Date = Date(),
                               serverCovered: Set<String>? = nil) throws -> (usable: [LabelledPair], excluded: Int) {
        let queue = try openQueue()
        var covered: [String: Bool] = [:]
        func isCovered(_ pseudonym: String) throws -> Bool {
            if let known = covered[pseudonym] { return known }
            let records = try queue.consentRecords(pseudonym: pseudonym, purpose: Purpose.modelImprovement.rawValue)
            // Text versions are checked by the server when the events arrive; here only the decisions count.
            let answer = ConsentLedger.decision(at: moment, records: records, texts: []) == nil
                && (serverCovered?.contains(pseudonym) ?? true)
            covered[pseudonym] = answer
            return answer
        }
        var usable: [LabelledPair] = []
        for attributed in pairs {
            guard !attributed.subjects.isEmpty, try attributed.subjects.allSatisfy(isCovered) else { continue }
            usable.append(attributed.pair)
        }
        return (usable, pairs.count - usable.count)
    }

    /// The open round as the server tells this kiosk.
    public func currentRound() async throws -> CurrentRound {
        let settings = try loadSettings()
        let (status, body) = try await ServerTLS.withClient(try clientConfiguration()) {
            try await ServerTLS.get(client: $0, url: settings.serverURL + "/v1/federation/current")
        }
        guard status == 200 else { throw ServerTLS.refusal(status: status, body: body) }
        do {
            return try WireJSON.decoder().decode(CurrentRound.self, from: Data(body))
        } catch {
            throw AgentError.server("unreadable round: \(error)")
        }
    }

    /// Downloads, verifies and keeps the newest model release, for training. What `verify`
    /// decides with is set by `syncModels` only. Nothing is kept unless it verifies.
    public func pullModel() async throws -> ModelRelease {
        let settings = try loadSettings()
        let (status, body) = try await ServerTLS.withClient(try clientConfiguration()) {
            let (status, body) = try await ServerTLS.get(client: $0, url: settings.serverURL + "/v1/models/current")
            if status == 200 { try await learnReleaseKey(for: body, client: $0, settings: settings) }
            return (status, body)
        }
        guard status == 200 else { throw ServerTLS.refusal(status: status, body: body) }
        let release = try verifiedModel(body)
        try files.write(Data(body), to: files.model, mode: 0o600)
        return release
    }

    /// The newest release pulled for training, verified again (a file changed on disk is
    /// refused); nil when none was pulled yet.
    public func storedModel() throws -> ModelRelease? {
        guard let data = FileManager.default.contents(atPath: files.model) else { return nil }
        return try verifiedModel([UInt8](data))
    }

    /// Trains on `pairs` (their genuine pairs, against the public `impostors`) from the round's
    /// base model and uploads the clipped update.
    public func train(on pairs: [LabelledPair], impostors: PublicImpostorSet, excluded: Int = 0) async throws -> TrainingReport {
        let round = try await currentRound()
        guard round.selected else {
            throw AgentError.server("this kiosk was not sampled into round \(round.roundID); nothing to do until the next round")
        }
        let base = try await baseAdapter(version: round.baseVersion)
        let training = try LocalTraining(configuration: round.localTraining.configuration(seed: round.trainingSeed))
            .train(from: base, on: pairs, impostors: impostors)
        let update = try ModelUpdate(local: training.adapter, global: base, exampleCount: pairs.count)
        let clipped = try update.clipped(toNorm: round.clippingNorm)
        let receipt = try await upload(clipped, roundID: round.roundID, baseVersion: round.baseVersion)
        return TrainingReport(roundID: round.roundID, baseVersion: round.baseVersion, pairs: pairs.count, pairsExcluded: excluded,
                              lossBefore: training.lossBefore, lossAfter: training.lossAfter, updateNorm: update.norm,
                              clippingNorm: round.clippingNorm, receipt: receipt)
    }

    /// The adapter of release `version` (0: identity): kept, or downloaded by version and kept,
    /// so a round may train from a release other than the newest (e.g. during a rollout).
    func baseAdapter(version: Int) async throws -> Adapter {
        guard version > 0 else { return Adapter.identity() }
        if let kept = try keptModelRelease(version: version) { return kept.adapter }
        if let pulled = try storedModel(), pulled.version == version { return pulled.adapter }
        let settings = try loadSettings()
        return try await ServerTLS.withClient(try clientConfiguration()) {
            try await fetchModelRelease(version: version, client: $0, settings: settings).adapter
        }
    }

    /// The update that completes a round's quorum is answered once the server has aggregated
    /// the round and run its evaluation gate (`RoundService.receiveUpdate`), which took more
    /// than the default minute of a debug build on a loaded machine.
    static let quorumAnswerTimeout: Duration = .seconds(600)

    /// One signed POST of the update; a retry of the same bytes gets the original receipt.
    func upload(_ update: ModelUpdate, roundID: Int, baseVersion: Int) async throws -> UpdateReceipt {
        let settings = try loadSettings()
        let body = try ModelUpdateUpload(deviceID: settings.deviceID, roundID: roundID, baseVersion: baseVersion, update: update).encoded()
        let path = "/v1/federation/rounds/\(roundID)/updates"
        let headers = try UploadSignaturePolicy.signUpload(method: "POST", path: path, authority: "", body: body,
                                                           keyID: settings.deviceID, key: try loadSigningKey(), now: Date())
        let (status, answer) = try await ServerTLS.withClient(try clientConfiguration(readTimeout: Self.quorumAnswerTimeout)) {
            try await ServerTLS.post(client: $0, url: settings.serverURL + path, headers: headers, body: body, timeout: Self.quorumAnswerTimeout)
        }
        guard status == 200 || status == 202 else { throw ServerTLS.refusal(status: status, body: answer) }
        let receipt: UpdateReceipt
        do {
            receipt = try WireJSON.decoder().decode(UpdateReceipt.self, from: Data(answer))
        } catch {
            throw AgentError.server("unreadable receipt: \(error)")
        }
        guard receipt.roundID == roundID, receipt.deviceID == settings.deviceID,
              receipt.contentDigest == ContentDigest.sha256Field(for: body) else {
            throw AgentError.server("the receipt does not name the update that was sent")
        }
        return receipt
    }

    func verifiedModel(_ bytes: [UInt8]) throws -> ModelRelease {
        try verifiedEnvelope(bytes) { envelope, key in
            do throws(ModelReleaseCoding.Refusal) {
                return try ModelReleaseCoding.verify(envelope, publicKey: key)
            } catch {
                throw AgentError.releaseRefused(error.description)
            }
        }
    }
}
