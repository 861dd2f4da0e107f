import Agent
import ArgumentParser
import Calibration
import FaceVerification
import Feedback
import Foundation

/// What `verify --record` needs besides the verification itself: the adjudicated label, the
/// cohort and the subject's pseudonym and consent. Only these and the score go into the
/// queue — never the images or the descriptors.
struct OutcomeRecordingOptions: ParsableArguments {
    @Flag(help: "Record the outcome into the upload queue (needs --site, --camera-model, --subject-pseudonym, --consent-ref).")
    var record = false
    @Option(help: "Adjudicated label: genuine, impostor or unknown.") var label = "unknown"
    @Option(name: .customLong("label-source"), help: "fallback_id_check, operator, user_dispute or none.") var labelSource = "none"
    @Option(help: "This kiosk's site; with --camera-model also selects the cohort's threshold from the pulled release.") var site: String?
    @Option(name: .customLong("camera-model")) var cameraModel: String?
    @Option(name: .customLong("tag")) var tags: [String] = []
    @Option(name: .customLong("subject-pseudonym"), help: "HMAC-SHA256 pseudonym of the subject, 64 hex digits.") var subjectPseudonym: String?
    @Option(name: .customLong("consent-ref")) var consentRef: String?
    @Option(help: "Liveness score in [0, 1], if the kiosk has one.") var liveness: Double?

    /// Thresholds are per model version: scores of an adapted model are not comparable with
    /// the backbone's, so a threshold is only taken for the version in use.
    func cohortKey(modelVersion: String) -> CohortKey? {
        guard let site, let cameraModel else { return nil }
        return CohortKey(modelVersion: modelVersion, cameraModel: cameraModel, cohort: site)
    }

    /// The threshold of this kiosk's cohort from the pulled, verified release, if there is one.
    func releasedThreshold(agent: KioskAgent, modelVersion: String = FaceVerifier.baseModelVersion) -> KioskAgent.AppliedThreshold? {
        guard let cohortKey = cohortKey(modelVersion: modelVersion), let release = try? agent.storedThresholds() else { return nil }
        return try? agent.applicableThreshold(in: release, cohort: cohortKey)
    }

    func outcome(for result: VerificationResult, thresholdVersion: String, at time: Date) throws -> JSONValue {
        guard result.metric == .cosineSimilarity else {
            throw ValidationError("only cosine-similarity outcomes can be recorded (the protocol's score is a similarity in [-1, 1])")
        }
        guard let site, let cameraModel, let subjectPseudonym, let consentRef else {
            throw ValidationError("--record needs --site, --camera-model, --subject-pseudonym and --consent-ref")
        }
        var cohort: [(key: String, value: JSONValue)] = [("site", .string(site)), ("camera_model", .string(cameraModel))]
        if !tags.isEmpty { cohort.append(("tags", .array(tags.map(JSONValue.string)))) }
        let quality = result.probeQuality ?? CaptureQuality(faceSizePixels: 0, sharpness: 0, brightness: 0)
        var members: [(key: String, value: JSONValue)] = [
            ("attempted_at", .string(RFC3339.format(time))),
            ("model_version", .string(result.modelVersion)),
            ("threshold_version", .string(thresholdVersion)),
            ("cohort", .object(cohort)),
            ("score", .number(min(1, max(-1, result.score)))),
            ("decision", .string(result.decision == .match ? "accept" : "reject")),
            ("label", .string(label)),
            ("label_source", .string(labelSource)),
            ("quality", .object([("face_size_px", .number(Double(quality.faceSizePixels))),
                                 ("sharpness", .number(quality.sharpness)), ("brightness", .number(quality.brightness))])),
            ("subject", .object([("pseudonym", .string(subjectPseudonym)), ("consent_ref", .string(consentRef))])),
        ]
        if let liveness { members.append(("liveness_score", .number(liveness))) }
        return .object(members)
    }
}
