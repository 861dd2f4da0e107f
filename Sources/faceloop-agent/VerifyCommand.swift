import Agent
import ArgumentParser
import FaceVerification
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation

/// `faceloop-agent verify --reference A --probe B`: score, decision and timings.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Compare a probe image with a reference image or an enrolled subject."
    )

    /// What `--json` prints: the verification result, the shadow model's score of the same
    /// descriptors when one is assigned, the shadow candidates scored (or why none was), the
    /// normalisation steps applied to the probe, and the pipeline timings.
    struct Report: Encodable {
        var result: VerificationResult
        var shadow: ShadowResult?
        var shadowCandidates: ShadowCandidateReport
        var probeNormalisation: [String]
        var referenceTimings: StageTimings?
        var probeTimings: StageTimings
    }

    struct ShadowResult: Encodable {
        var modelVersion: String
        var score: Double
    }

    @OptionGroup var models: ModelOptions
    @OptionGroup var dataDirectory: DataDirectoryOption

    @Option(help: "Reference image (JPEG).")
    var reference: String?

    @Option(help: "Enrolled subject to compare with, instead of --reference.")
    var subject: String?

    @Option(help: "Probe image (JPEG), e.g. the kiosk's capture.")
    var probe: String

    @Option(help: "Score metric: cosine-similarity or euclidean-distance.")
    var metric: ComparisonMetric = .cosineSimilarity

    @Option(help: "Decision threshold (default: the active model's threshold for --site/--camera-model, else for the synced cohort, from the kept threshold release; else 0.925 for cosine similarity, 0.6 for Euclidean distance).")
    var threshold: Double?

    @Option(name: .customLong("shadow-budget-ms"), help: ArgumentHelp(
        "Milliseconds this verification may spend scoring the assigned shadow candidates, for an enrolled --subject whose --subject-pseudonym has model-improvement consent in force (0: none).",
        valueName: "ms"))
    var shadowBudgetMilliseconds: Double = 150

    @OptionGroup var outcome: OutcomeRecordingOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        guard (reference == nil) != (subject == nil) else {
            throw ValidationError("Give exactly one of --reference IMAGE or --subject ID.")
        }
        guard shadowBudgetMilliseconds.isFinite, shadowBudgetMilliseconds >= 0 else {
            throw ValidationError("--shadow-budget-ms must be a number of milliseconds, 0 or more.")
        }
    }

    func run() async throws {
        var pipeline = try models.loadPipeline()
        let agent = dataDirectory.agent
        let inUse = try ModelsInUse(agent: agent, site: outcome.site, cameraModel: outcome.cameraModel)
        // Only the live probe is normalised: the policy answers the capture conditions of this
        // kiosk's cohort, while a template was enrolled once, under attended conditions.
        pipeline.normalization = inUse.normalisation
        let released = threshold == nil && metric == .cosineSimilarity
            ? inUse.threshold(agent: agent, site: outcome.site, cameraModel: outcome.cameraModel) : nil
        if threshold == nil, metric == .cosineSimilarity, released == nil, inUse.active.version > 0 {
            FileHandle.standardError.write(Data("faceloop-agent: no threshold for \(inUse.active.name) for this cohort; using the default \(metric.defaultThreshold)\n".utf8))
        }
        let verifier = FaceVerifier(metric: metric, threshold: threshold ?? released?.threshold,
                                    adapter: inUse.adapter, modelVersion: inUse.active.modelVersion)
        // The shadow model decides nothing; its threshold is irrelevant.
        let shadowVerifier = inUse.shadow.map { FaceVerifier(metric: metric, adapter: $0.adapter, modelVersion: $0.model.modelVersion) }

        // Decoded once: every shadow candidate starts from the same frame.
        let probeBytes = try readImageFile(probe)
        var probeTimings = StageTimings()
        let (probeImage, decodeMilliseconds) = try Self.timed { try pipeline.decoder.decode(probeBytes) }
        probeTimings.decodeMilliseconds = decodeMilliseconds
        let probeAnalysis = try pipeline.analyze(image: probeImage, timings: probeTimings)
        guard let probeFace = probeAnalysis.primaryFace else {
            throw ValidationError("\(probe): \(FaceVerificationError.noFaceFound)")
        }

        let referenceDescriptor: [Float]
        var referenceTimings: StageTimings?
        if let subject {
            referenceDescriptor = try dataDirectory.openTemplateStore().template(for: subject).descriptor
        } else if let reference {
            // The reference stands in for a template, and templates are not normalised.
            var referencePipeline = pipeline
            referencePipeline.normalization = .identity
            let analysis = try referencePipeline.analyze(jpeg: try readImageFile(reference))
            guard let face = analysis.primaryFace else {
                throw ValidationError("\(reference): \(FaceVerificationError.noFaceFound)")
            }
            referenceDescriptor = face.descriptor
            referenceTimings = analysis.timings
        } else {
            throw ValidationError("Give --reference IMAGE or --subject ID.")
        }

        // The backbone's descriptors are computed once; each model applies its adapter to them.
        let result = try verifier.verify(reference: referenceDescriptor, probe: probeFace.descriptor, probeQuality: probeFace.quality)
        let shadow = try shadowVerifier.map {
            let scored = try $0.verify(reference: referenceDescriptor, probe: probeFace.descriptor, probeQuality: nil)
            return ShadowResult(modelVersion: scored.modelVersion, score: scored.score)
        }
        let candidates = try scoreShadowCandidates(agent: agent, inUse: inUse, pipeline: pipeline, probe: probeImage,
                                                   template: subject == nil ? nil : referenceDescriptor,
                                                   firstEstimate: probeAnalysis.timings.totalMilliseconds - probeAnalysis.timings.decodeMilliseconds)
        if outcome.record {
            let value = try outcome.outcome(for: result, thresholdVersion: released.map { "t-\($0.releaseVersion)" } ?? "initial", at: Date(),
                                            shadow: shadow.map { MatchOutcome.ShadowScore(modelVersion: $0.modelVersion, cosineSimilarity: $0.score) },
                                            shadowScores: candidates.shadowScores)
            do {
                _ = try agent.record([value])
            } catch let error as AgentError {
                throw ValidationError(error.description)
            }
        }
        if json {
            try printJSON(Report(result: result, shadow: shadow, shadowCandidates: candidates, probeNormalisation: inUse.normalisation.policy.stepNames,
                                 referenceTimings: referenceTimings, probeTimings: probeAnalysis.timings))
        } else {
            print("\(result.decision.rawValue): \(result.metric.rawValue) \(result.score) (threshold \(result.threshold)"
                  + (released.map { " from threshold release \($0.releaseVersion)" } ?? "") + ") with \(inUse.active.name)")
            if let shadow, let model = inUse.shadow?.model { print("shadow: \(model.name) scores \(shadow.score), deciding nothing") }
            if !inUse.normalisation.isIdentity {
                print("probe normalisation: " + inUse.normalisation.policy.stepNames.joined(separator: " → "))
            }
            if candidates.assigned > 0 {
                if let skipped = candidates.skipped {
                    print("shadow candidates: none scored (\(skipped))")
                } else {
                    print("shadow candidates: \(candidates.scored.count) of \(candidates.assigned) scored in "
                          + "\(formatMilliseconds(candidates.millisecondsSpent)) (budget \(formatMilliseconds(candidates.budgetMilliseconds)))")
                }
            }
            if outcome.record { print("outcome queued for upload (score, decision, label and quality only)") }
            print("probe quality: face \(probeFace.quality.faceSizePixels) px, sharpness \(probeFace.quality.sharpness), brightness \(probeFace.quality.brightness)")
            if let referenceTimings { print("reference pipeline: \(formatMilliseconds(referenceTimings.totalMilliseconds))") }
            print("probe pipeline: \(formatMilliseconds(probeAnalysis.timings.totalMilliseconds))")
        }
    }

    /// `body`'s value and its wall-clock milliseconds.
    private static func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let clock = ContinuousClock()
        let started = clock.now
        let value = try body()
        let elapsed = clock.now - started
        return (value, Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }

    /// The shadow candidates' scores of this probe: each candidate release's policy applied
    /// to the decoded probe, the pipeline run again, and the descriptor compared with the
    /// enrolled template after that release's adapter. Only an enrolled subject's attempt is
    /// scored (a --reference image is not a template), and `KioskAgent.scoreShadowCandidates`
    /// runs nothing without the subject's model-improvement consent.
    private func scoreShadowCandidates(agent: KioskAgent, inUse: ModelsInUse, pipeline: FacePipeline, probe: RGBImage, template: [Float]?,
                                       firstEstimate: Double) throws -> ShadowCandidateReport {
        guard let template, metric == .cosineSimilarity, let cohort = inUse.cohort else {
            let reason = template == nil ? "only an enrolled --subject is scored by candidates"
                : metric != .cosineSimilarity ? "candidates are scored by cosine similarity only" : "no cohort (give --site and --camera-model, or sync)"
            let assigned = inUse.applied?.shadowCandidates.count ?? 0
            return .skipped(assigned == 0 ? "no shadow candidates are assigned" : reason, assigned: assigned, budget: shadowBudgetMilliseconds)
        }
        do {
            return try agent.scoreShadowCandidates(
                subjectPseudonym: outcome.subjectPseudonym, cameraModel: cohort.cameraModel, site: cohort.site,
                budgetMilliseconds: shadowBudgetMilliseconds, firstEstimateMilliseconds: firstEstimate, at: Date()
            ) { candidate in
                try Self.timed { () throws -> Double? in
                    var candidatePipeline = pipeline
                    candidatePipeline.normalization = try CaptureNormalization(policy: candidate.policy)
                    // A candidate that loses the face the deciding model found would fail this
                    // attempt: it scores the lowest cosine, so the ranking counts the failure
                    // instead of dropping the attempt and flattering the candidate.
                    guard let face = try candidatePipeline.analyze(image: probe).primaryFace else { return -1 }
                    let verifier = FaceVerifier(metric: .cosineSimilarity, adapter: EmbeddingAdapter(candidate.adapter),
                                                modelVersion: candidate.model.modelVersion)
                    return try verifier.verify(reference: template, probe: face.descriptor, probeQuality: nil).score
                }
            }
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
    }
}

extension ComparisonMetric: ExpressibleByArgument {}
