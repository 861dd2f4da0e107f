import Agent
import ArgumentParser
import FaceVerification
import FeedbackWire
import Foundation

/// What `verify --record` needs besides the verification itself: the adjudicated label, the
/// cohort and the subject's pseudonym and consent. Only these and the score go into the
/// queue — never the images or the descriptors.
struct OutcomeRecordingOptions: ParsableArguments {
    @Flag(help: "Record the outcome into the upload queue (needs --site, --camera-model, --subject-pseudonym, --consent-ref).")
    var record = false
    @Option(help: "Adjudicated label.") var label: MatchOutcome.Label = .unknown
    @Option(name: .customLong("label-source"), help: "Who adjudicated the label.") var labelSource: MatchOutcome.LabelSource = .none
    @Option(help: "This kiosk's site; with --camera-model also selects the cohort's threshold (default: the cohort of the last `models sync`).") var site: String?
    @Option(name: .customLong("camera-model")) var cameraModel: String?
    @Option(name: .customLong("tag")) var tags: [String] = []
    @Option(name: .customLong("subject-pseudonym"), help: "HMAC-SHA256 pseudonym of the subject, 64 hex digits.") var subjectPseudonym: String?
    @Option(name: .customLong("consent-ref")) var consentRef: String?
    @Option(help: "Liveness score in [0, 1], if the kiosk has one.") var liveness: Double?

    /// The outcome of `result`, with the shadow model's score of the same attempt when one was
    /// scored, and the shadow candidates' scores (present only under model-improvement consent).
    func outcome(for result: VerificationResult, thresholdVersion: String, at time: Date,
                 shadow: MatchOutcome.ShadowScore? = nil, shadowScores: [MatchOutcome.ShadowScore] = []) throws -> MatchOutcome {
        guard result.metric == .cosineSimilarity else {
            throw ValidationError("only cosine-similarity outcomes can be recorded (the protocol's score is a similarity in [-1, 1])")
        }
        guard let site, let cameraModel, let subjectPseudonym, let consentRef else {
            throw ValidationError("--record needs --site, --camera-model, --subject-pseudonym and --consent-ref")
        }
        let quality = result.probeQuality ?? CaptureQuality(faceSizePixels: 0, sharpness: 0, brightness: 0)
        return MatchOutcome(
            eventID: TimeOrderedUUID.make(at: time), attemptedAt: time, modelVersion: result.modelVersion, thresholdVersion: thresholdVersion,
            cohort: .init(site: site, cameraModel: cameraModel, tags: tags), score: min(1, max(-1, result.score)),
            decision: result.decision == .match ? .accept : .reject, label: label, labelSource: labelSource,
            quality: .init(faceSizePx: quality.faceSizePixels, sharpness: quality.sharpness, brightness: quality.brightness),
            livenessScore: liveness, subject: .init(pseudonym: subjectPseudonym, consentRef: consentRef), shadow: shadow,
            shadowScores: shadowScores)
    }
}

// The wire enums as option values: ArgumentParser lists their cases in --help and refuses
// anything else before the command runs.
extension MatchOutcome.Decision: ExpressibleByArgument {}
extension MatchOutcome.Label: ExpressibleByArgument {}
extension MatchOutcome.LabelSource: ExpressibleByArgument {}
extension ConsentEvent.Kind: ExpressibleByArgument {}
extension ConsentEvent.Method: ExpressibleByArgument {}
