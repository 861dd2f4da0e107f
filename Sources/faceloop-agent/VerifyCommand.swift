import Agent
import ArgumentParser
import FaceVerification
import FederationAPI
import Foundation

/// `faceloop-agent verify --reference A --probe B`: score, decision and timings.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Compare a probe image with a reference image or an enrolled subject."
    )

    /// What `--json` prints: the verification result plus the pipeline timings.
    struct Report: Encodable {
        var result: VerificationResult
        var referenceTimings: StageTimings?
        var probeTimings: StageTimings
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

    @Option(help: "Decision threshold (default: the pulled release's threshold for --site/--camera-model, else 0.925 for cosine similarity, 0.6 for Euclidean distance).")
    var threshold: Double?

    @OptionGroup var outcome: OutcomeRecordingOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        guard (reference == nil) != (subject == nil) else {
            throw ValidationError("Give exactly one of --reference IMAGE or --subject ID.")
        }
    }

    /// The adapter of the pulled model release, verified again before use; none before the first pull.
    var releasedAdapter: (adapter: EmbeddingAdapter, modelVersion: String)? {
        get throws {
            let release: ModelRelease?
            do {
                release = try dataDirectory.agent.storedModel()
            } catch let error as AgentError {
                throw ValidationError(error.description)
            }
            guard let release else { return nil }
            let adapter = try EmbeddingAdapter(weights: release.adapter.weights, bias: release.adapter.bias,
                                               dimension: release.adapter.dimension)
            return (adapter, release.modelVersion)
        }
    }

    func run() async throws {
        let pipeline = try models.loadPipeline()
        let model = try releasedAdapter
        let modelVersion = model?.modelVersion ?? FaceVerifier.baseModelVersion
        let released = threshold == nil && metric == .cosineSimilarity
            ? outcome.releasedThreshold(agent: dataDirectory.agent, modelVersion: modelVersion) : nil
        let verifier = FaceVerifier(metric: metric, threshold: threshold ?? released?.threshold,
                                    adapter: model?.adapter ?? .identity, modelVersion: modelVersion)

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

        let result = try verifier.verify(reference: referenceDescriptor, probe: probeFace.descriptor, probeQuality: probeFace.quality)
        if outcome.record {
            let value = try outcome.outcome(for: result, thresholdVersion: released.map { "t-\($0.releaseVersion)" } ?? "initial", at: Date())
            do {
                _ = try dataDirectory.agent.record([value])
            } catch let error as AgentError {
                throw ValidationError(error.description)
            }
        }
        if json {
            try printJSON(Report(result: result, referenceTimings: referenceTimings, probeTimings: probeAnalysis.timings))
        } else {
            print("\(result.decision.rawValue): \(result.metric.rawValue) \(result.score) (threshold \(result.threshold)"
                  + (released.map { " from release \($0.releaseVersion)" } ?? "") + ")")
            if outcome.record { print("outcome queued for upload (score, decision, label and quality only)") }
            print("probe quality: face \(probeFace.quality.faceSizePixels) px, sharpness \(probeFace.quality.sharpness), brightness \(probeFace.quality.brightness)")
            if let referenceTimings { print("reference pipeline: \(formatMilliseconds(referenceTimings.totalMilliseconds))") }
            print("probe pipeline: \(formatMilliseconds(probeAnalysis.timings.totalMilliseconds))")
        }
    }
}

extension ComparisonMetric: ExpressibleByArgument {}
