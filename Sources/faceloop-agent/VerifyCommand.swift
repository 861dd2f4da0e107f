import Agent
import ArgumentParser
import FaceVerification
import FederationAPI
import FeedbackWire
import Foundation

/// `faceloop-agent verify --reference A --probe B`: score, decision and timings.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Compare a probe image with a reference image or an enrolled subject."
    )

    /// What `--json` prints: the verification result, the shadow model's score of the same
    /// descriptors when one is assigned, and the pipeline timings.
    struct Report: Encodable {
        var result: VerificationResult
        var shadow: ShadowResult?
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

    @OptionGroup var outcome: OutcomeRecordingOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        guard (reference == nil) != (subject == nil) else {
            throw ValidationError("Give exactly one of --reference IMAGE or --subject ID.")
        }
    }

    func run() async throws {
        let pipeline = try models.loadPipeline()
        let agent = dataDirectory.agent
        let inUse = try ModelsInUse(agent: agent)
        let released = threshold == nil && metric == .cosineSimilarity
            ? inUse.threshold(agent: agent, site: outcome.site, cameraModel: outcome.cameraModel) : nil
        if threshold == nil, metric == .cosineSimilarity, released == nil, inUse.active.version > 0 {
            FileHandle.standardError.write(Data("faceloop-agent: no threshold for \(inUse.active.name) for this cohort; using the default \(metric.defaultThreshold)\n".utf8))
        }
        let verifier = FaceVerifier(metric: metric, threshold: threshold ?? released?.threshold,
                                    adapter: inUse.adapter, modelVersion: inUse.active.modelVersion)
        // The shadow model decides nothing; its threshold is irrelevant.
        let shadowVerifier = inUse.shadow.map { FaceVerifier(metric: metric, adapter: $0.adapter, modelVersion: $0.model.modelVersion) }

        let probeAnalysis = try pipeline.analyze(jpeg: try readImageFile(probe))
        guard let probeFace = probeAnalysis.primaryFace else {
            throw ValidationError("\(probe): \(FaceVerificationError.noFaceFound)")
        }

        let referenceDescriptor: [Float]
        var referenceTimings: StageTimings?
        if let subject {
            referenceDescriptor = try dataDirectory.openTemplateStore().template(for: subject).descriptor
        } else if let reference {
            let analysis = try pipeline.analyze(jpeg: try readImageFile(reference))
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
        if outcome.record {
            let value = try outcome.outcome(for: result, thresholdVersion: released.map { "t-\($0.releaseVersion)" } ?? "initial", at: Date(),
                                            shadow: shadow.map { MatchOutcome.ShadowScore(modelVersion: $0.modelVersion, cosineSimilarity: $0.score) })
            do {
                _ = try agent.record([value])
            } catch let error as AgentError {
                throw ValidationError(error.description)
            }
        }
        if json {
            try printJSON(Report(result: result, shadow: shadow, referenceTimings: referenceTimings, probeTimings: probeAnalysis.timings))
        } else {
            print("\(result.decision.rawValue): \(result.metric.rawValue) \(result.score) (threshold \(result.threshold)"
                  + (released.map { " from threshold release \($0.releaseVersion)" } ?? "") + ") with \(inUse.active.name)")
            if let shadow, let model = inUse.shadow?.model { print("shadow: \(model.name) scores \(shadow.score), deciding nothing") }
            if outcome.record { print("outcome queued for upload (score, decision, label and quality only)") }
            print("probe quality: face \(probeFace.quality.faceSizePixels) px, sharpness \(probeFace.quality.sharpness), brightness \(probeFace.quality.brightness)")
            if let referenceTimings { print("reference pipeline: \(formatMilliseconds(referenceTimings.totalMilliseconds))") }
            print("probe pipeline: \(formatMilliseconds(probeAnalysis.timings.totalMilliseconds))")
        }
    }
}

extension ComparisonMetric: ExpressibleByArgument {}
