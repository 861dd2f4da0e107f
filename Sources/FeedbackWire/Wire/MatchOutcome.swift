import Foundation

/// What happened at a kiosk when a face was compared with an enrolled template, and what
/// was later learned about it. It carries a score and context, never the image or the
/// embedding. Its JSON has one writer, ``json`` (and ``encoded()``): every producer builds
/// this value rather than spelling the keys again.
public struct MatchOutcome: Sendable, Equatable {
    public enum Decision: String, Sendable, Codable, CaseIterable { case accept, reject }
    public enum Label: String, Sendable, Codable, CaseIterable { case genuine, impostor, unknown }
    public enum LabelSource: String, Sendable, Codable, CaseIterable {
        case fallbackIDCheck = "fallback_id_check", `operator`, userDispute = "user_dispute", none
    }

    public struct Cohort: Sendable, Equatable, Hashable {
        public var site: String
        public var cameraModel: String
        public var tags: [String]

        public init(site: String, cameraModel: String, tags: [String] = []) {
            self.site = site
            self.cameraModel = cameraModel
            self.tags = tags
        }
    }

    public struct CaptureQuality: Sendable, Equatable {
        public var faceSizePx: Int
        public var sharpness: Double
        public var brightness: Double

        public init(faceSizePx: Int, sharpness: Double, brightness: Double) {
            self.faceSizePx = faceSizePx
            self.sharpness = sharpness
            self.brightness = brightness
        }
    }

    public struct SubjectReference: Sendable, Equatable {
        /// HMAC-SHA256 of the normalised subject id, lowercase hex.
        public var pseudonym: String
        public var consentRef: String
        /// The version of the jurisdiction key the pseudonym was made with; 1, and absent from
        /// the JSON, for kiosks that predate key rotation.
        public var keyVersion: Int

        public init(pseudonym: String, consentRef: String, keyVersion: Int = 1) {
            self.pseudonym = pseudonym
            self.consentRef = consentRef
            self.keyVersion = keyVersion
        }
    }

    /// The same attempt scored in shadow by a candidate model release, which decides nothing
    /// at the kiosk: a number, never a descriptor. Its model version differs from the
    /// outcome's own.
    public struct ShadowScore: Sendable, Equatable {
        public var modelVersion: String
        public var score: Double

        public init(modelVersion: String, score: Double) {
            self.modelVersion = modelVersion
            self.score = score
        }
    }

    public var eventID: UUID
    public var attemptedAt: Date
    public var modelVersion: String
    public var thresholdVersion: String
    public var cohort: Cohort
    public var score: Double
    public var decision: Decision
    public var label: Label
    public var labelSource: LabelSource
    public var quality: CaptureQuality
    public var livenessScore: Double?
    public var subject: SubjectReference
    public var shadow: ShadowScore?
    /// The same attempt scored by the candidate releases of a policy search, each of which ran
    /// the pipeline on the probe under its own capture-normalisation policy: at most
    /// ``maxShadowScores``, under distinct model versions, none the outcome's own nor
    /// `shadow`'s. Empty (and absent from the JSON) when none was scored.
    public var shadowScores: [ShadowScore]

    /// The most `shadow_scores` one outcome carries, as in the schema.
    public static let maxShadowScores = 16

    public init(eventID: UUID, attemptedAt: Date, modelVersion: String, thresholdVersion: String, cohort: Cohort,
                score: Double, decision: Decision, label: Label, labelSource: LabelSource,
                quality: CaptureQuality, livenessScore: Double? = nil, subject: SubjectReference, shadow: ShadowScore? = nil,
                shadowScores: [ShadowScore] = []) {
        self.eventID = eventID
        self.attemptedAt = attemptedAt
        self.modelVersion = modelVersion
        self.thresholdVersion = thresholdVersion
        self.cohort = cohort
        self.score = score
        self.decision = decision
        self.label = label
        self.labelSource = labelSource
        self.quality = quality
        self.livenessScore = livenessScore
        self.subject = subject
        self.shadow = shadow
        self.shadowScores = shadowScores
    }
}

/// One signed upload: a device's consent events and outcomes sealed under a sequence
/// number. The server applies the consent events first, so an outcome may rely on a consent
/// recorded just before it in the same batch.
public struct OutcomeBatch: Sendable, Equatable {
    public static let protocolName = "faceloop.outcomes.v1"

    public var deviceID: String
    public var sequence: Int64
    public var createdAt: Date
    public var outcomes: [MatchOutcome]
    public var consentEvents: [ConsentEvent]
    /// Outcomes recorded on the kiosk but in neither this batch nor an earlier one when it was
    /// sealed: what waits behind it. Nil from agents that do not report it.
    public var queueBacklog: Int?

    public init(deviceID: String, sequence: Int64, createdAt: Date, outcomes: [MatchOutcome], consentEvents: [ConsentEvent] = [],
                queueBacklog: Int? = nil) {
        self.deviceID = deviceID
        self.sequence = sequence
        self.createdAt = createdAt
        self.outcomes = outcomes
        self.consentEvents = consentEvents
        self.queueBacklog = queueBacklog
    }

    /// The first event dated after `latest`, as a JSON pointer and its time. A future-dated
    /// outcome would outlive a retention rule counted from its attempt, and a future-dated
    /// consent would cover attempts the subject never agreed to.
    public func firstEvent(datedAfter latest: Date) -> (pointer: String, date: Date)? {
        if let index = consentEvents.firstIndex(where: { $0.occurredAt > latest }) {
            return ("/consent_events/\(index)/occurred_at", consentEvents[index].occurredAt)
        }
        if let index = outcomes.firstIndex(where: { $0.attemptedAt > latest }) {
            return ("/outcomes/\(index)/attempted_at", outcomes[index].attemptedAt)
        }
        return nil
    }

    /// Every site the batch names, in its consent events and its outcomes' cohorts.
    public var sites: Set<String> {
        Set(consentEvents.map(\.site)).union(outcomes.map(\.cohort.site))
    }

    /// The first event naming a site outside `sites`, as a JSON pointer and the site: a kiosk's
    /// batch may name only the sites it is enrolled for.
    public func firstSite(outside sites: Set<String>) -> (pointer: String, site: String)? {
        if let index = consentEvents.firstIndex(where: { !sites.contains($0.site) }) {
            return ("/consent_events/\(index)/site", consentEvents[index].site)
        }
        if let index = outcomes.firstIndex(where: { !sites.contains($0.cohort.site) }) {
            return ("/outcomes/\(index)/cohort/site", outcomes[index].cohort.site)
        }
        return nil
    }
}

/// Device identifiers: `^[a-z0-9][a-z0-9-]{2,62}$`, as in the schemas. They appear in
/// certificate names, signature key ids and URLs, so the alphabet is kept small.
public enum DeviceID {
    public static func isValid(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        for (index, byte) in bytes.enumerated() {
            let alphanumeric = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            guard alphanumeric || (index > 0 && byte == UInt8(ascii: "-")) else { return false }
        }
        return true
    }
}
