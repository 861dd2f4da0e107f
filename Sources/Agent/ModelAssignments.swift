import AsyncHTTPClient
import Calibration
import FederationAPI
import FeedbackWire
import Foundation

/// A model together with the threshold it decides with. A kiosk switches to a model only
/// together with a published threshold for that model and its cohort: scores of different
/// models are not comparable, so a threshold calibrated for one says nothing about another.
public struct ActiveModel: Sendable, Codable, Equatable {
    public var model: AssignedModel
    /// The cohort's entry for this model in a verified threshold release; nil only for the
    /// backbone while no threshold has been published for it.
    public var threshold: KioskAgent.AppliedThreshold?

    public init(model: AssignedModel, threshold: KioskAgent.AppliedThreshold?) {
        self.model = model
        self.threshold = threshold
    }
}

/// What `models sync` applied: the model that decides, the model scored in shadow, the
/// candidate releases scored in shadow under their own normalisation policies, the server's
/// assignment and why the kiosk did what it did. Kept in `model-state.json`.
public struct AppliedModels: Sendable, Codable, Equatable {
    public var active: ActiveModel
    /// Scored beside the active model on the same descriptors; it decides nothing.
    public var shadow: AssignedModel?
    /// The assignment's shadow candidates that an outcome can carry a score for: neither the
    /// deciding model nor `shadow`, each once. Empty in states kept before candidates existed.
    public var shadowCandidates: [AssignedModel]
    public var assignment: ModelAssignment
    /// False while the kiosk stays on another model than the assigned one for want of a threshold.
    public var followsAssignment: Bool
    public var reason: String
    public var decidedAt: Date

    public init(active: ActiveModel, shadow: AssignedModel?, shadowCandidates: [AssignedModel] = [], assignment: ModelAssignment,
                followsAssignment: Bool, reason: String, decidedAt: Date) {
        self.active = active
        self.shadow = shadow
        self.shadowCandidates = shadowCandidates
        self.assignment = assignment
        self.followsAssignment = followsAssignment
        self.reason = reason
        self.decidedAt = decidedAt
    }

    enum CodingKeys: String, CodingKey {
        case active, shadow, shadowCandidates = "shadow_candidates", assignment, followsAssignment = "follows_assignment", reason
        case decidedAt = "decided_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        active = try container.decode(ActiveModel.self, forKey: .active)
        shadow = try container.decodeIfPresent(AssignedModel.self, forKey: .shadow)
        shadowCandidates = try container.decodeIfPresent([AssignedModel].self, forKey: .shadowCandidates) ?? []
        assignment = try container.decode(ModelAssignment.self, forKey: .assignment)
        followsAssignment = try container.decode(Bool.self, forKey: .followsAssignment)
        reason = try container.decode(String.self, forKey: .reason)
        decidedAt = try container.decode(Date.self, forKey: .decidedAt)
    }

    /// The kiosk's decision, from the server's assignment, the verified threshold release
    /// (nil when none has been published) and the model in use now. The assigned model
    /// decides only if the release holds a threshold for it and the assignment's cohort;
    /// otherwise the current model stays, with the reason. The shadow model is scored
    /// whenever assigned, unless it is the model that decides (a model is not compared with
    /// itself, and the outcome's wire form refuses that).
    public static func decide(assignment: ModelAssignment, thresholds: ThresholdRelease?, current: ActiveModel,
                              at moment: Date) -> AppliedModels {
        let cohort = "\(assignment.cameraModel) at \(assignment.site)"
        func threshold(for model: AssignedModel) -> KioskAgent.AppliedThreshold? {
            let key = CohortKey(modelVersion: model.modelVersion, cameraModel: assignment.cameraModel, cohort: assignment.site)
            guard let thresholds, let entry = thresholds.entry(for: key) else { return nil }
            return KioskAgent.AppliedThreshold(releaseVersion: thresholds.version, cohort: key, threshold: entry.threshold,
                                               targetFMR: entry.targetFMR, fallbackLevel: entry.fallbackLevel)
        }
        func described(_ threshold: KioskAgent.AppliedThreshold) -> String {
            "threshold \(threshold.threshold) of threshold release \(threshold.releaseVersion)"
        }
        /// The current model keeps a fresher threshold when the release has one, else the one
        /// it was applied with, if that was for this cohort.
        func kept(_ current: ActiveModel) -> ActiveModel {
            let key = CohortKey(modelVersion: current.model.modelVersion, cameraModel: assignment.cameraModel, cohort: assignment.site)
            return ActiveModel(model: current.model,
                               threshold: threshold(for: current.model) ?? current.threshold.flatMap { $0.cohort == key ? $0 : nil })
        }

        let active: ActiveModel
        let follows: Bool
        var reason: String
        let decide = assignment.decide
        if decide == current.model {
            active = kept(current)
            follows = true
            reason = "\(decide.name) decides, as assigned"
                + (active.threshold.map { ", with \(described($0))" } ?? "; no threshold is published for it for \(cohort)")
        } else if let published = threshold(for: decide) {
            active = ActiveModel(model: decide, threshold: published)
            follows = true
            let step = assignment.rolloutStage == .rolledBack ? "rolled back" : "switched"
            reason = "\(step) from \(current.model.name) to \(decide.name) for \(cohort), with \(described(published))"
        } else {
            active = kept(current)
            follows = false
            let release = thresholds.map { "threshold release \($0.version)" } ?? "any threshold release (none is published yet)"
            reason = "\(decide.name) has no published threshold for \(cohort) in \(release); staying on \(current.model.name)"
        }
        var shadow = assignment.shadow
        if let candidate = shadow {
            if candidate == active.model {
                shadow = nil
                reason += "; the shadow model is the one that decides, so nothing is scored in shadow"
            } else {
                reason += "; \(candidate.name) is scored in shadow"
            }
        }
        // Each candidate's score counts under its model version: one equal to the deciding
        // model's or the shadow's would count an attempt twice (the wire refuses it), and a
        // release without a version (the backbone) names no policy.
        var seen = Set([active.model.modelVersion] + (shadow.map { [$0.modelVersion] } ?? []))
        let candidates = assignment.shadowCandidates
            .filter { $0.version > 0 && seen.insert($0.modelVersion).inserted }
            .prefix(MatchOutcome.maxShadowScores)
        if !candidates.isEmpty {
            reason += "; \(candidates.count) candidate release(s) scored in shadow within the budget, with model-improvement consent"
        }
        return AppliedModels(active: active, shadow: shadow, shadowCandidates: Array(candidates), assignment: assignment,
                             followsAssignment: follows, reason: reason + " (server: \(assignment.reason))", decidedAt: moment)
    }
}

extension AssignedModel {
    /// How an operator reads it: "release 4 (…:adapter-4)" or "the backbone (…)".
    public var name: String {
        version == 0 ? "the backbone (\(modelVersion))" : "release \(version) (\(modelVersion))"
    }
}

extension MatchOutcome.ShadowScore {
    /// A cosine similarity as the wire carries it: clamped to [-1, 1] like the outcome's own
    /// score, since rounding can carry a cosine of two unit vectors just past 1.
    public init(modelVersion: String, cosineSimilarity: Double) {
        self.init(modelVersion: modelVersion, score: min(1, max(-1, cosineSimilarity)))
    }
}

/// The kiosk's side of a staged model rollout: ask the server which model decides and which
/// is scored in shadow, keep the verified releases and the threshold release, and apply the
/// assignment only where a threshold is published.
extension KioskAgent {
    /// Fetches the assignment for this kiosk's cohort, the current threshold release and the
    /// envelopes of the assigned releases, shadow candidates included (each verified with the pinned key and kept by
    /// version), decides with `AppliedModels.decide` and keeps the result. Nothing is applied
    /// unless everything it needs verified. `backbone` is the face pipeline's model version
    /// without an adapter: the model in use before any sync.
    public func syncModels(site: String, cameraModel: String, backbone: String, now: Date = Date()) async throws -> AppliedModels {
        let settings = try loadSettings()
        _ = await renewCertificateIfDue(now: now)
        let current = try appliedModels()?.active ?? ActiveModel(model: AssignedModel(version: 0, modelVersion: backbone), threshold: nil)
        let (assignment, thresholds) = try await ServerTLS.withClient(try clientConfiguration()) { client in
            let assignment = try await fetchAssignment(client: client, settings: settings, site: site, cameraModel: cameraModel)
            let thresholds = try await fetchThresholds(client: client, settings: settings)
            // Candidate releases are kept and verified like any release: their policies are
            // applied to probes only from a verified envelope.
            for model in [assignment.decide, assignment.shadow].compactMap({ $0 }) + assignment.shadowCandidates where model.version > 0 {
                _ = try await keptOrFetchedRelease(for: model, client: client, settings: settings)
            }
            return (assignment, thresholds)
        }
        let applied = try WireJSON.encoder().encode(AppliedModels.decide(assignment: assignment, thresholds: thresholds, current: current, at: now))
        try files.write(applied, to: files.modelState, mode: 0o600)
        // What is kept, at the precision of its stored times.
        return try WireJSON.decoder().decode(AppliedModels.self, from: applied)
    }

    /// The state the last sync kept; nil before the first, which means the backbone decides.
    public func appliedModels() throws -> AppliedModels? {
        guard let data = FileManager.default.contents(atPath: files.modelState) else { return nil }
        do {
            return try WireJSON.decoder().decode(AppliedModels.self, from: data)
        } catch {
            throw AgentError.unreadable(files.modelState, "\(error)")
        }
    }

    /// The kept release of `model`, verified again (a file changed on disk is refused); nil
    /// for the backbone, which has no adapter.
    public func keptRelease(for model: AssignedModel) throws -> ModelRelease? {
        guard model.version > 0 else { return nil }
        guard let release = try keptModelRelease(version: model.version) else {
            throw AgentError.unreadable(files.modelRelease(version: model.version),
                                        "\(model.name) is not kept; run `faceloop-agent models sync`")
        }
        guard release.modelVersion == model.modelVersion else {
            throw AgentError.releaseRefused("the kept release \(model.version) is \(release.modelVersion), not \(model.modelVersion)")
        }
        return release
    }

    /// The verified release kept under `version`, or nil when none is kept.
    func keptModelRelease(version: Int) throws -> ModelRelease? {
        guard let data = FileManager.default.contents(atPath: files.modelRelease(version: version)) else { return nil }
        let release = try verifiedModel([UInt8](data))
        guard release.version == version else {
            throw AgentError.releaseRefused("\(files.modelRelease(version: version)) holds release \(release.version)")
        }
        return release
    }

    /// Downloads release `version` through `GET /v1/models/releases/{version}/envelope`,
    /// verifies it and keeps it by version.
    func fetchModelRelease(version: Int, client: HTTPClient, settings: AgentSettings) async throws -> ModelRelease {
        let (status, body) = try await ServerTLS.get(client: client, url: settings.serverURL + "/v1/models/releases/\(version)/envelope")
        guard status == 200 else { throw ServerTLS.refusal(status: status, body: body) }
        try await learnReleaseKey(for: body, client: client, settings: settings)
        let release = try verifiedModel(body)
        guard release.version == version else {
            throw AgentError.releaseRefused("asked for model release \(version), the server sent \(release.version)")
        }
        try files.ensureModelReleasesDirectory()
        try files.write(Data(body), to: files.modelRelease(version: version), mode: 0o600)
        return release
    }

    private func keptOrFetchedRelease(for model: AssignedModel, client: HTTPClient, settings: AgentSettings) async throws -> ModelRelease {
        let kept: ModelRelease?
        do {
            kept = try keptModelRelease(version: model.version)
        } catch {
            // A damaged or altered copy is replaced by a verified download, not used.
            logger.warning("kept model release \(model.version) refused, downloading it again: \(error)")
            kept = nil
        }
        let release: ModelRelease
        if let kept {
            release = kept
        } else {
            release = try await fetchModelRelease(version: model.version, client: client, settings: settings)
        }
        guard release.modelVersion == model.modelVersion else {
            throw AgentError.server("the assignment names \(model.modelVersion) as release \(model.version), which is \(release.modelVersion)")
        }
        return release
    }

    private func fetchAssignment(client: HTTPClient, settings: AgentSettings, site: String, cameraModel: String) async throws -> ModelAssignment {
        let query = "site=\(Self.queryValue(site))&camera_model=\(Self.queryValue(cameraModel))"
        let (status, body) = try await ServerTLS.get(client: client, url: settings.serverURL + "/v1/kiosk/model-assignment?" + query)
        guard status == 200 else { throw ServerTLS.refusal(status: status, body: body) }
        let assignment: ModelAssignment
        do {
            assignment = try WireJSON.decoder().decode(ModelAssignment.self, from: Data(body))
        } catch {
            throw AgentError.server("unreadable model assignment: \(error)")
        }
        guard assignment.deviceID == settings.deviceID, assignment.site == site, assignment.cameraModel == cameraModel else {
            throw AgentError.server("the assignment is for \(assignment.deviceID), \(assignment.cameraModel) at \(assignment.site), "
                                    + "not \(settings.deviceID), \(cameraModel) at \(site)")
        }
        guard assignment.decide.version >= 0, (assignment.shadow?.version ?? 0) >= 0, assignment.shadowCandidates.allSatisfy({ $0.version >= 0 }) else {
            throw AgentError.server("the assignment names a negative release version")
        }
        return assignment
    }

    /// The current threshold release, verified and kept; with none published on the server,
    /// the kept one if any.
    private func fetchThresholds(client: HTTPClient, settings: AgentSettings) async throws -> ThresholdRelease? {
        let (status, body) = try await ServerTLS.get(client: client, url: settings.serverURL + "/v1/thresholds/current")
        if status == 404 {
            return FileManager.default.fileExists(atPath: files.thresholds) ? try storedThresholds() : nil
        }
        guard status == 200 else { throw ServerTLS.refusal(status: status, body: body) }
        try await learnReleaseKey(for: body, client: client, settings: settings)
        let release = try verifiedRelease(body)
        try files.write(Data(body), to: files.thresholds, mode: 0o600)
        return release
    }

    static func queryValue(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }
}
