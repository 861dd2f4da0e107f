import Compliance
import FeedbackWire
import Foundation
import StrictJSON

/// What compliance officers review, and what consent enforcement reads: jurisdictions and
/// their pseudonymisation keys, sites, retention rules, consent texts and events, erasures,
/// data-subject requests and the audit log. Each method is one transaction, durable when it
/// returns; every change that the audit log covers is appended to it in that transaction.
public protocol ComplianceStore: Sendable {
    func upsertJurisdiction(_ jurisdiction: JurisdictionRecord, actor: String, at time: Date) async throws
    func jurisdictions() async throws -> [JurisdictionRecord]
    func upsertSite(_ site: SiteRecord, actor: String, at time: Date) async throws -> Bool
    /// One version of a jurisdiction's key; nil when it has no such version.
    func jurisdictionKey(jurisdiction: String, version: Int) async throws -> JurisdictionKey?
    /// Adds the jurisdiction's next key version and its `pseudonym_key_rotated` audit entry in
    /// one transaction; nil, and nothing changed, when there is no such jurisdiction.
    func rotatePseudonymKey(jurisdiction: String, key: [UInt8], actor: String, at time: Date) async throws -> JurisdictionKey?
    /// Rewrites every stored occurrence of each pair's old pseudonym in the jurisdiction (consent
    /// events and outcomes of its sites under `fromVersion`, erasures, subject requests) to the
    /// new one under `toVersion`, and appends one `pseudonyms_rekeyed` entry; one transaction.
    /// The audit log is not rewritten.
    func rekeyPseudonyms(_ rekey: PseudonymRekeyRequest, deviceID: String, at time: Date) async throws -> PseudonymRekeyResult
    func sites() async throws -> [SiteRecord]
    /// The jurisdiction a site belongs to (`default` for sites nobody registered).
    func jurisdiction(ofSite site: String) async throws -> JurisdictionRecord?
    func setRetention(_ rule: RetentionRule, actor: String, at time: Date) async throws -> Bool
    func retentionRules() async throws -> [RetentionRule]
    /// False when that purpose, version and language exists already.
    func addConsentText(_ text: ConsentText, actor: String, at time: Date) async throws -> Bool
    func consentTexts() async throws -> [ConsentText]

    func consentEvents(_ filter: ConsentEventFilter) async throws -> [StoredConsentEvent]
    func erasures() async throws -> [ErasureRecord]
    func erasure(id: String) async throws -> ErasureRecord?
    /// Erases what is held about a subject for the purposes (outcomes, and the raw batches
    /// that carried them), records the erasure and appends it to the audit log.
    func eraseSubject(pseudonym: String, purposes: [Purpose], cause: ErasureRecord.Cause, trigger: String?,
                      requestedAt: Date, actor: String, at time: Date) async throws -> [ErasureRecord]
    /// Deletes outcomes past their retention; one erasure record per subject and purpose.
    func sweepRetention(now: Date) async throws -> [ErasureRecord]
    /// Outcomes whose retention has run out but that are still stored.
    func overdueRetention(now: Date) async throws -> [OverdueRetention]

    /// Every withdrawal with the time it took to block processing, and any outcome of that
    /// subject and purpose attempted after the withdrawal that is still stored (must be none).
    func withdrawalReport() async throws -> [WithdrawalReportRow]
    /// Per material text change: subjects whose consent predates it, and how many consented again.
    func reconsentCoverage() async throws -> [ReconsentCoverage]

    /// The server's decision for each subject's consent to `purpose` at `moment`: nil when it is
    /// in force, else why not. Kiosks ask before training, so that a withdrawal recorded at
    /// another kiosk, or an erasure request, keeps a subject's pairs out everywhere. Only
    /// subjects with a consent event at one of the asking kiosk's sites (the sites it is bound
    /// to) are answered; every other subject gets `no-consent`, as an
    /// unknown one would, so the answer tells a kiosk nothing about people elsewhere.
    func consentDecisions(pseudonyms: [String], purpose: Purpose, at moment: Date,
                          askedBy deviceID: String) async throws -> [String: ConsentRefusal?]

    func subjectExport(pseudonym: String) async throws -> SubjectExport
    func addSubjectRequest(_ request: SubjectRequestRecord, actor: String) async throws
    /// Marks the request answered, keeping only the SHA-256 of the answer given.
    func completeSubjectRequest(id: String, at time: Date, resultSHA256: String) async throws -> SubjectRequestRecord?
    func subjectRequests() async throws -> [SubjectRequestRecord]

    /// Appends an entry for something decided outside the store's own transactions (a role
    /// change, a release approval).
    func appendAudit(kind: String, actor: String, details: JSONValue, at time: Date) async throws
    func auditTreeSize() async throws -> Int
    /// Entry bytes `[from, to)`, in order.
    func auditEntries(from: Int, to: Int) async throws -> [[UInt8]]
    func auditLeafHashes(count: Int) async throws -> [[UInt8]]
    func addAuditCheckpoint(treeSize: Int, checkpoint: [UInt8]) async throws
    func auditCheckpoints() async throws -> [StoredAuditCheckpoint]
}

public enum ComplianceStoreError: Error, CustomStringConvertible {
    case unknownAuditKind(String)
    case auditDetailsNotAnObject

    public var description: String {
        switch self {
        case let .unknownAuditKind(kind): "\(kind) is not a kind of audit entry"
        case .auditDetailsNotAnObject: "the details of an audit entry must be a JSON object"
        }
    }
}

public struct JurisdictionRecord: Sendable, Equatable {
    public static let defaultName = "default"

    public var name: String
    public var dataRegion: String
    /// `bipa` where the Illinois Biometric Information Privacy Act applies.
    public var biometricLaw: String?
    /// Days within which a data-subject request must be answered (GDPR art. 12(3): one month).
    public var requestDays: Int
    /// The current key (the highest version); a new jurisdiction's becomes its version 1.
    public var pseudonymKey: [UInt8]
    public var keyVersion: Int

    public init(name: String, dataRegion: String, biometricLaw: String?, requestDays: Int, pseudonymKey: [UInt8], keyVersion: Int = 1) {
        self.name = name
        self.dataRegion = dataRegion
        self.biometricLaw = biometricLaw
        self.requestDays = requestDays
        self.pseudonymKey = pseudonymKey
        self.keyVersion = keyVersion
    }
}

public struct SiteRecord: Sendable, Equatable, Codable {
    public var site: String
    public var jurisdiction: String
    public var publicPlace: Bool

    public init(site: String, jurisdiction: String, publicPlace: Bool) {
        self.site = site
        self.jurisdiction = jurisdiction
        self.publicPlace = publicPlace
    }

    enum CodingKeys: String, CodingKey { case site, jurisdiction, publicPlace = "public_place" }
}

public struct ConsentEventFilter: Sendable, Equatable {
    public var pseudonym: String?
    public var site: String?
    public var purpose: Purpose?
    public var from: Date?
    public var to: Date?
    public var limit: Int

    public init(pseudonym: String? = nil, site: String? = nil, purpose: Purpose? = nil, from: Date? = nil, to: Date? = nil,
                limit: Int = 1000) {
        self.pseudonym = pseudonym
        self.site = site
        self.purpose = purpose
        self.from = from
        self.to = to
        self.limit = limit
    }
}

public struct StoredConsentEvent: Sendable, Equatable {
    public var event: ConsentEvent
    public var deviceID: String
    public var receivedAt: Date
    /// Why the server did not record it as in force (unknown text, text hash mismatch), if so.
    public var refusal: String?
}

/// What was erased, where, how many and when: the content of a signed erasure receipt.
public struct ErasureRecord: Sendable, Equatable, Codable {
    public enum Cause: String, Sendable, Codable { case withdrawal, request, retention }

    public var erasureID: String
    public var pseudonym: String
    public var purpose: Purpose
    public var cause: Cause
    /// The consent event or subject request that caused it.
    public var trigger: String?
    public var requestedAt: Date
    public var erasedAt: Date
    /// Outcomes deleted; for model improvement, the outcomes whose `shadow_scores` were
    /// cleared (the outcomes themselves stay).
    public var outcomesErased: Int
    public var batchesRedacted: Int
    /// Where: the stores the erasure covered.
    public var locations: [String]

    enum CodingKeys: String, CodingKey {
        case erasureID = "erasure_id", pseudonym = "subject_pseudonym", purpose, cause, trigger
        case requestedAt = "requested_at", erasedAt = "erased_at", outcomesErased = "outcomes_erased"
        case batchesRedacted = "batches_redacted", locations
    }
}

public struct OverdueRetention: Sendable, Equatable, Codable {
    public var jurisdiction: String
    public var purpose: Purpose
    public var outcomes: Int
    public var oldestAttemptAt: Date

    enum CodingKeys: String, CodingKey { case jurisdiction, purpose, outcomes, oldestAttemptAt = "oldest_attempt_at" }
}

/// Everything held about one pseudonym (GDPR art. 15), as plain values.
public struct SubjectExport: Sendable, Equatable {
    public var pseudonym: String
    public var consentEvents: [StoredConsentEvent]
    public var outcomes: [JSONValue]
    public var erasures: [ErasureRecord]
    public var requests: [SubjectRequestRecord]
}

public struct SubjectRequestRecord: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case access, erasure }

    public var requestID: String
    public var pseudonym: String
    public var kind: Kind
    public var jurisdiction: String
    public var receivedAt: Date
    public var dueAt: Date
    public var completedAt: Date?

    public init(requestID: String, pseudonym: String, kind: Kind, jurisdiction: String, receivedAt: Date, dueAt: Date,
                completedAt: Date?) {
        self.requestID = requestID
        self.pseudonym = pseudonym
        self.kind = kind
        self.jurisdiction = jurisdiction
        self.receivedAt = receivedAt
        self.dueAt = dueAt
        self.completedAt = completedAt
    }

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id", pseudonym = "subject_pseudonym", kind, jurisdiction
        case receivedAt = "received_at", dueAt = "due_at", completedAt = "completed_at"
    }
}

public struct StoredAuditCheckpoint: Sendable, Equatable {
    public var treeSize: Int
    public var checkpoint: [UInt8]
}

public struct WithdrawalReportRow: Sendable, Equatable, Codable {
    public var eventID: String
    public var pseudonym: String
    public var purpose: Purpose
    /// When the subject withdrew, on the kiosk's clock.
    public var withdrawnAt: Date
    /// When the server had read the body of the upload that carried it, before checking its
    /// signature.
    public var receivedAt: Date
    /// The erasure's own time, read inside the transaction before its statements run (nil
    /// when the withdrawal erased nothing, e.g. of another purpose).
    public var erasedAt: Date?
    /// When the transaction that recorded the withdrawal and ran its erasure had committed
    /// (on SQLite, also the write-ahead log that held the erased pages truncated); nil for a
    /// withdrawal stored before the server kept this, or if the server stopped between the
    /// commit and this stamp (then the kiosk got no receipt either, and retries).
    public var blockedAt: Date?
    /// From `receivedAt` to `blockedAt`, in milliseconds.
    public var timeToBlockMilliseconds: Double?
    public var processedAfterWithdrawal: Int

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id", pseudonym = "subject_pseudonym", purpose, withdrawnAt = "withdrawn_at"
        case receivedAt = "received_at", erasedAt = "erased_at", blockedAt = "blocked_at", timeToBlockMilliseconds = "time_to_block_ms"
        case processedAfterWithdrawal = "processed_after_withdrawal"
    }
}

public struct ReconsentCoverage: Sendable, Equatable, Codable {
    public var purpose: Purpose
    public var textVersion: String
    public var effectiveAt: Date
    public var subjectsNeedingReconsent: Int
    public var subjectsReconsented: Int

    enum CodingKeys: String, CodingKey {
        case purpose, textVersion = "text_version", effectiveAt = "effective_at"
        case subjectsNeedingReconsent = "subjects_needing_reconsent", subjectsReconsented = "subjects_reconsented"
    }
}
