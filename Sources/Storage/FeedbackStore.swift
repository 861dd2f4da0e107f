import FeedbackWire
import Foundation

/// Everything the server keeps, behind one protocol so that SQLite (one node) and
/// PostgreSQL (several nodes) can both carry it. Each method is one transaction: it either
/// happens whole or not at all, and it has happened durably when it returns.
public protocol FeedbackStore: Sendable {
    // MARK: Devices and enrollment
    /// Throws `SiteBindingError.unknownSites` when a site the token names is not registered.
    func addEnrollmentToken(_ token: StoredEnrollmentToken) async throws
    /// Redeems a token and registers the device in the same transaction. Presenting a redeemed
    /// token again with the same device id and signing key is a retry and gets the original
    /// certificate back.
    func redeemEnrollmentToken(sha256: String, device: NewDevice, now: Date) async throws -> EnrollmentRedemption
    /// What redeeming the token would answer, changing nothing: nil when it would enroll the
    /// device. Checked before the CA signs anything, so that no certificate is ever made for
    /// a request without a valid token.
    func previewEnrollment(sha256: String, deviceID: String, signingKey: Data, now: Date) async throws -> EnrollmentRedemption?
    func device(id: String) async throws -> DeviceRecord?
    func device(withCertificateFingerprint fingerprint: String) async throws -> DeviceRecord?
    func deviceSummaries() async throws -> [DeviceSummary]
    /// Returns false when no such device exists.
    func revokeDevice(id: String, at time: Date, actor: String) async throws -> Bool
    /// Binds the device to `sites` instead of the sites it had, and appends a `device_moved`
    /// audit entry by `actor`, in one transaction. Returns the sites it had (sorted), nil when
    /// no such device exists; throws `SiteBindingError.unknownSites` naming any site not
    /// registered, changing nothing.
    func moveDevice(id: String, to sites: [String], at time: Date, actor: String) async throws -> [String]?
    /// Records a certificate issued to an active device at its request, in one transaction:
    /// the request's nonce, the certificate beside the others (each keeps working until it
    /// expires), the devices row's certificate columns set to it, and a
    /// `device_certificate_renewed` audit entry. Throws ``DeviceCertificateRenewalError``,
    /// changing nothing, when the device is unknown or revoked or the presented certificate
    /// is not one of its own.
    func renewDeviceCertificate(_ renewal: DeviceCertificateRenewal) async throws -> DeviceCertificateRenewalResult
    /// Every certificate issued to the device, oldest first.
    func deviceCertificates(deviceID: String) async throws -> [StoredDeviceCertificate]

    // MARK: API tokens
    func addAPIToken(sha256: String, role: String, label: String, at time: Date, actor: String) async throws
    /// A token that exists and has not been revoked.
    func apiToken(sha256: String) async throws -> APITokenRecord?
    func apiTokens() async throws -> [APITokenSummary]
    /// Revokes the token whose SHA-256 starts with `id`; false when there is none.
    func revokeAPIToken(id: String, at time: Date, actor: String) async throws -> Bool

    // MARK: Outcomes
    /// Stores a batch in one transaction. When it carries a withdrawal, the store then
    /// truncates SQLite's log and stamps the withdrawal's `blocked_at` in a second write, once
    /// the first has committed; it returns after both.
    func storeBatch(_ batch: IncomingBatch) async throws -> BatchStoreResult
    func outcomeStats() async throws -> OutcomeStats
    /// Forgets nonces seen before `time`; they can no longer be replayed inside the clock window.
    func purgeNonces(seenBefore time: Date) async throws -> Int
    /// Proves the store answers (readiness).
    func ping() async throws

    // MARK: Threshold releases
    /// Outcomes attempted in `[from, to)`, either bound optional; with `scoredInShadowOnly`,
    /// only those another model also scored (`shadow` or `shadow_scores`).
    func calibrationOutcomes(from: Date?, to: Date?, scoredInShadowOnly: Bool) async throws -> [CalibrationOutcome]
    /// The live score statistics of the UTC days `firstDay...lastDay` (day indices, either bound
    /// optional), merged per cohort (ScoreStatisticsRebuild.swift).
    func scoreStatistics(firstDay: Int?, lastDay: Int?) async throws -> LiveStatistics
    /// Whether windows read are kept in memory and brought up to date (both back ends; not the
    /// rebuilding reference), so that reading the usual ones ahead of the first request pays.
    var keepsStatisticsWindows: Bool { get }
    /// Applies to the windows kept what was written since they were read, freeing the changes
    /// held for them (SQLite) or pruning the change log (PostgreSQL).
    func bringStatisticsWindowsUpToDate() async throws
    /// Returns false when the version already exists (a concurrent computation won).
    func addThresholdRelease(_ release: StoredThresholdRelease) async throws -> Bool
    func thresholdReleases() async throws -> [StoredThresholdRelease]
    func thresholdRelease(version: Int) async throws -> StoredThresholdRelease?
    /// Adds an approver (once) to a computed release and marks it approved once it has the
    /// approvals it needs. Returns the release as it is afterwards, nil if there is none.
    func approveThresholdRelease(version: Int, approverToken: String, actor: String) async throws -> StoredThresholdRelease?
    /// In one transaction: the currently published release becomes `retiring`, and `version`
    /// (which must be in one of `from`) becomes published with its signed envelope.
    /// Returns false when `version` was not in one of those states.
    func publishThresholdRelease(version: Int, from: Set<ReleaseState>, envelope: [UInt8], at time: Date,
                                 retiring: ReleaseState, actor: String) async throws -> Bool
}

public struct StoredEnrollmentToken: Sendable, Equatable {
    public var sha256: String
    public var deviceID: String
    public var createdAt: Date
    public var expiresAt: Date
    /// The registered sites the device is bound to when it redeems the token.
    public var sites: [String]

    public init(sha256: String, deviceID: String, createdAt: Date, expiresAt: Date, sites: [String] = []) {
        self.sha256 = sha256
        self.deviceID = deviceID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.sites = sites
    }
}

public struct NewDevice: Sendable, Equatable {
    public var deviceID: String
    public var signingKey: Data
    public var certificateDER: Data
    public var certificateFingerprint: String
    public var certificateSerial: String
    public var certificateNotAfter: Date

    public init(deviceID: String, signingKey: Data, certificateDER: Data, certificateFingerprint: String,
                certificateSerial: String, certificateNotAfter: Date) {
        self.deviceID = deviceID
        self.signingKey = signingKey
        self.certificateDER = certificateDER
        self.certificateFingerprint = certificateFingerprint
        self.certificateSerial = certificateSerial
        self.certificateNotAfter = certificateNotAfter
    }
}

public enum EnrollmentRedemption: Sendable, Equatable {
    case enrolled
    /// The same device redeemed this token before with the same signing key: a retry whose
    /// answer was lost. Carries the certificate issued then.
    case alreadyEnrolled(certificateDER: Data)
    /// Unknown, already redeemed, expired, or issued for another device id.
    case invalidToken
    case deviceExists
}

public struct DeviceRecord: Sendable, Equatable {
    public var deviceID: String
    public var status: DeviceSummary.Status
    public var signingKey: Data
    public var certificateFingerprint: String
    public var certificateNotAfter: Date
    /// The sites the kiosk is enrolled for; empty when it is bound to none.
    public var sites: Set<String>
}

/// What every signed upload (a batch, a model update) is stored with: the raw signed body,
/// so that it can be verified again later, and the nonce that makes a replay recognisable.
public struct SignedUpload: Sendable, Equatable {
    public var body: [UInt8]
    public var contentDigest: String
    public var signatureInput: String
    public var signature: String
    public var nonce: String
    public var receivedAt: Date
}

/// An upload as the store takes it; the fields of its signed envelope read straight through
/// (`incoming.nonce`).
@dynamicMemberLookup
public protocol IncomingUpload: Sendable {
    var upload: SignedUpload { get set }
}

extension IncomingUpload {
    public subscript<Value>(dynamicMember field: WritableKeyPath<SignedUpload, Value>) -> Value {
        get { upload[keyPath: field] }
        set { upload[keyPath: field] = newValue }
    }
}

/// A verified upload, ready to be committed with its raw signed body so that it can be
/// re-verified later (the body is dropped when any of its events is refused or erased).
public struct IncomingBatch: IncomingUpload {
    public var batch: OutcomeBatch
    public var upload: SignedUpload
    /// The id the receipt gives the batch if it is new.
    public var batchID: UUID

    public init(batch: OutcomeBatch, body: [UInt8], contentDigest: String, signatureInput: String, signature: String,
                nonce: String, receivedAt: Date, batchID: UUID = TimeOrderedUUID.make()) {
        self.batch = batch
        upload = SignedUpload(body: body, contentDigest: contentDigest, signatureInput: signatureInput, signature: signature,
                              nonce: nonce, receivedAt: receivedAt)
        self.batchID = batchID
    }
}

public enum BatchStoreResult: Sendable, Equatable {
    /// Committed now (consent events applied, outcomes without consent left out and listed);
    /// the bytes are the receipt to send.
    case stored(receipt: [UInt8])
    /// The same device, sequence and content were stored before: the original receipt.
    case alreadyStored(receipt: [UInt8])
    case sequenceConflict
    case duplicateEvent(UUID)
    case nonceReplayed
}

extension FeedbackStore {
    /// Every outcome attempted in `[from, to)`, either bound optional.
    public func calibrationOutcomes(from: Date?, to: Date?) async throws -> [CalibrationOutcome] {
        try await calibrationOutcomes(from: from, to: to, scoredInShadowOnly: false)
    }
}
