import AuditLog
import Compliance
import FeedbackWire
import Foundation
import StrictJSON

/// What one write changes: statements to run in order and the audit entries that record
/// them, committed in one transaction. Built once here; each back end only runs it.
struct StoreChange: Sendable {
    var statements: [StoreStatement]
    var audit: [PendingAuditEntry]

    init(_ statements: [StoreStatement], audit: [PendingAuditEntry] = []) {
        self.statements = statements
        self.audit = audit
    }
}

/// Why a store transaction ends early with an answer rather than an error: it rolls back
/// (the nonce it recorded with it) and the answer goes to the caller.
enum StoreAbort: Error {
    case batch(BatchStoreResult)
    case update(UpdateStoreResult)
}

/// An audit entry before it has its index, which the back end assigns at append time; checked
/// and written, but for the index, where it is made.
struct PendingAuditEntry: Sendable {
    private let entry: UnnumberedAuditEntry

    init(_ kind: AuditEntry.Kind, actor: String, details: JSONValue, at time: Date) throws {
        guard case let .object(members) = details else { throw ComplianceStoreError.auditDetailsNotAnObject }
        entry = try UnnumberedAuditEntry(time: time, kind: kind, actor: actor, details: members)
    }

    func entryBytes(index: Int) throws -> [UInt8] {
        try entry.entryBytes(index: index)
    }
}

// MARK: Devices, tokens, reference data

extension StoreChange {
    /// `sites` are the token's (`StoreSQL.enrollmentTokenSites`, nil for a token issued before
    /// kiosks were bound to sites: the device starts bound to none).
    static func enroll(_ device: NewDevice, token sha256: String, sites: String?, at time: Date, sql: StoreSQL) throws -> StoreChange {
        let sites = sites.map(StoredList.decode) ?? []
        return StoreChange([sql.redeemEnrollmentToken(sha256: sha256, at: time), sql.insertDevice(device, enrolledAt: time),
                            sql.insertDeviceCertificate(NewDeviceCertificate(device), deviceID: device.deviceID, issuedAt: time)]
                           + sql.bindDevice(device.deviceID, to: sites),
                           audit: [try PendingAuditEntry(.deviceEnrolled, actor: "device:\(device.deviceID)",
                                                         details: StoreAuditDetails.deviceEnrolled(device, sites: sites), at: time)])
    }

    static func addAPIToken(sha256: String, role: String, label: String, at time: Date, actor: String, sql: StoreSQL) throws -> StoreChange {
        StoreChange([sql.insertAPIToken(sha256: sha256, role: role, label: label, at: time)],
                    audit: [try PendingAuditEntry(.roleGranted, actor: actor,
                                                  details: StoreAuditDetails.token(id: String(sha256.prefix(16)), role: role, label: label),
                                                  at: time)])
    }

    static func revokeAPIToken(id: String, role: String, label: String, at time: Date, actor: String, sql: StoreSQL) throws -> StoreChange {
        // Its web sessions end in the same commit.
        StoreChange([sql.revokeAPIToken(id: id, at: time), sql.deleteWebSessions(tokenID: id)],
                    audit: [try PendingAuditEntry(.roleRevoked, actor: actor,
                                                  details: StoreAuditDetails.token(id: id, role: role, label: label), at: time)])
    }

    static func upsertJurisdiction(_ jurisdiction: JurisdictionRecord, actor: String, at time: Date, sql: StoreSQL) throws -> StoreChange {
        StoreChange([sql.upsertJurisdiction(jurisdiction),
                     sql.insertFirstJurisdictionKey(jurisdiction: jurisdiction.name, key: jurisdiction.pseudonymKey, at: time)]
                    + sql.insertDefaultRetention(jurisdiction: jurisdiction.name),
                    audit: [try PendingAuditEntry(.jurisdictionChanged, actor: actor,
                                                  details: StoreAuditDetails.jurisdiction(jurisdiction), at: time)])
    }

    static func upsertSite(_ site: SiteRecord, actor: String, at time: Date, sql: StoreSQL) throws -> StoreChange {
        StoreChange([sql.upsertSite(site)],
                    audit: [try PendingAuditEntry(.siteChanged, actor: actor, details: StoreAuditDetails.site(site), at: time)])
    }

    static func setRetention(_ rule: RetentionRule, actor: String, at time: Date, sql: StoreSQL) throws -> StoreChange {
        StoreChange([sql.upsertRetention(rule)],
                    audit: [try PendingAuditEntry(.retentionChanged, actor: actor, details: StoreAuditDetails.retention(rule), at: time)])
    }

    static func addSubjectRequest(_ request: SubjectRequestRecord, actor: String, sql: StoreSQL) throws -> StoreChange {
        StoreChange([sql.insertSubjectRequest(request)],
                    audit: [try PendingAuditEntry(.subjectRequest, actor: actor, details: StoreAuditDetails.subjectRequest(request),
                                                  at: request.receivedAt)])
    }

    /// What closing an open round does besides its own row: verdicts kept, raw update bodies
    /// dropped, and the model release published with it, if any.
    static func closeRound(id: Int, at time: Date, release: NewModelRelease?, verdicts: [String: String], sql: StoreSQL) throws -> StoreChange {
        var change = StoreChange(verdicts.map { sql.setUpdateVerdict($0.value, roundID: id, deviceID: $0.key) }
                                 + [sql.dropUpdateBodies(roundID: id)])
        if let release {
            change.statements.append(sql.insertModelRelease(release, roundID: id, at: time))
            change.audit.append(try PendingAuditEntry(.releasePublished, actor: "system:round-closer",
                                                      details: StoreAuditDetails.modelPublication(version: release.version, roundID: id,
                                                                                                  envelope: release.envelope),
                                                      at: time))
        }
        return change
    }
}

// MARK: Workflows

/// Why a token cannot enroll a device, from what the store holds: nil when it can.
enum EnrollmentCheck {
    struct Token {
        var deviceID: String
        var expiresAt: Date
        var redeemed: Bool

        init(_ row: some StoreRow) throws {
            deviceID = try row.text("device_id")
            expiresAt = try row.date("expires_at")
            redeemed = try row.optionalReal("redeemed_at") != nil
        }
    }

    /// `activeDevice` is the device's row from `StoreSQL.activeDeviceKeys`. A redeemed token
    /// presented again by the device it enrolled, with the same signing key, is a retry whose
    /// answer was lost: it gets the certificate issued then.
    static func refusal(token: Token?, deviceID: String, signingKey: Data, now: Date, activeDevice: (some StoreRow)?,
                        deviceExists: Bool) throws -> EnrollmentRedemption? {
        guard let token, token.deviceID == deviceID else { return .invalidToken }
        if token.redeemed {
            guard let activeDevice, try activeDevice.bytes("signing_key") == [UInt8](signingKey) else { return .invalidToken }
            return .alreadyEnrolled(certificateDER: Data(try activeDevice.bytes("certificate_der")))
        }
        guard token.expiresAt > now else { return .invalidToken }
        return deviceExists ? .deviceExists : nil
    }
}

/// The threshold-release state machine (computed → approved → published → superseded or
/// rolled back) as the stores apply it inside their transactions.
enum ReleaseWorkflow {
    /// Records the token's approval (`StoredThresholdRelease.approve(byToken:)`); nil when it
    /// does not count, and the release stays as it is.
    static func approve(_ release: inout StoredThresholdRelease, byToken token: String, actor: String, at time: Date,
                        sql: StoreSQL) throws -> StoreChange? {
        guard release.approve(byToken: token) else { return nil }
        return StoreChange([sql.recordApprovals(release)],
                           audit: [try PendingAuditEntry(.releaseApproved, actor: actor,
                                                         details: StoreAuditDetails.thresholdApproval(version: release.version,
                                                                                                      state: release.state),
                                                         at: time)])
    }

    /// The published release (if any) retires as `retiring`, and `version` is published; nil
    /// when `version` is not in one of the states `from` (`state` is its stored state, nil if
    /// there is no such release).
    static func publish(version: Int, state: String?, from: Set<ReleaseState>, envelope: [UInt8], at time: Date,
                        retiring: ReleaseState, actor: String, sql: StoreSQL) throws -> StoreChange? {
        guard let state, let current = ReleaseState(rawValue: state), from.contains(current) else { return nil }
        return StoreChange([sql.retirePublishedRelease(as: retiring),
                            sql.publishThresholdRelease(version: version, envelope: envelope, at: time)],
                           audit: [try PendingAuditEntry(.releasePublished, actor: actor,
                                                         details: StoreAuditDetails.thresholdPublication(version: version, retiring: retiring,
                                                                                                         envelope: envelope),
                                                         at: time)])
    }
}

/// Opening a federated round: one open round at a time, and only against the privacy ledger
/// the caller accounted for.
enum RoundOpeningCheck {
    /// nil when the round may open; it then gets the id after `lastRoundID`.
    static func refusal(openRoundID: Int?, roundCount: Int?, ledgerLength: Int) -> RoundOpening? {
        if let openRoundID { return .anotherRoundOpen(openRoundID) }
        return roundCount == ledgerLength ? nil : .ledgerChanged
    }

    static func opened(_ round: NewRound, lastRoundID: Int?) -> StoredRound {
        StoredRound(id: (lastRoundID ?? 0) + 1, state: .open, opening: round, closedAt: nil, outcome: nil, updateCount: 0)
    }
}

/// What becomes of an uploaded model update, from what the store holds.
enum UpdateIntake {
    /// The kiosk's update stored for the round before (`StoreSQL.update`), if any: a retry
    /// of the same bytes gets its receipt, even after the round closed.
    static func resend(of update: IncomingUpdate, stored: (some StoreRow)?) throws -> UpdateStoreResult? {
        guard let stored, try stored.text("content_digest") == update.contentDigest else { return nil }
        return .alreadyStored(receipt: try stored.bytes("receipt"))
    }

    /// Why the update is refused (`round` from `StoreSQL.roundAcceptingUpdates`); nil when it
    /// is to be stored. `storedOther` tells whether the kiosk stored other bytes for the round.
    static func refusal(of update: IncomingUpdate, round: (some StoreRow)?, storedOther: Bool) throws -> UpdateStoreResult? {
        guard let round else { return .noSuchRound }
        let state = RoundState(rawValue: try round.text("state")) ?? .cancelled
        guard state == .open else { return .roundClosed(state) }
        let deadline = try round.date("deadline")
        guard update.receivedAt <= deadline else { return .late(deadline: deadline) }
        return storedOther ? .conflict : nil
    }
}

/// One erasure of what is held about a subject for a purpose, before it runs.
struct SubjectErasure: Sendable {
    var pseudonym: String
    var purpose: Purpose
    var cause: ErasureRecord.Cause
    /// The consent event or subject request that caused it.
    var trigger: String?
    var requestedAt: Date
    var actor: String
    var time: Date
    /// Retention erases only what is held since before this, and only in `jurisdiction`.
    var heldBefore: Date?
    var jurisdiction: String?

    /// The statements whose changed rows it counts, batches redacted then outcomes deleted;
    /// none for the purposes whose data stays on the kiosk or is part of an outcome.
    func statements(_ sql: StoreSQL) -> (redactBatches: StoreStatement, deleteOutcomes: StoreStatement)? {
        purpose == .outcomeStorage ? (sql.redactBatches(of: self), sql.deleteOutcomes(of: self)) : nil
    }

    /// The one model-improvement data the server holds is outcomes' `shadow_scores` (policy
    /// candidates' scores, stored under that consent): the erasure clears them, with the
    /// batch bodies that carried them, and leaves the outcomes, which rest on outcome storage.
    var clearsShadowScores: Bool { purpose == .modelImprovement }

    /// The record kept and its audit entry, once the counts are known.
    func completion(batchesRedacted: Int, outcomesErased: Int, sql: StoreSQL) throws -> (record: ErasureRecord, change: StoreChange) {
        let (record, audit) = try completion(batchesRedacted: batchesRedacted, outcomesErased: outcomesErased)
        return (record, StoreChange([sql.insertErasure(record)], audit: [audit]))
    }

    /// The record and its audit entry, to be written with others (`StoreSQL.insertErasures`).
    func completion(batchesRedacted: Int, outcomesErased: Int) throws -> (record: ErasureRecord, audit: PendingAuditEntry) {
        let record = ErasureRecord(erasureID: UUID().uuidString.lowercased(), pseudonym: pseudonym, purpose: purpose, cause: cause,
                                   trigger: trigger, requestedAt: requestedAt, erasedAt: time, outcomesErased: outcomesErased,
                                   batchesRedacted: batchesRedacted, locations: StoreAuditDetails.erasureLocations(purpose))
        return (record, try PendingAuditEntry(.erasure, actor: actor, details: StoreAuditDetails.erasure(record), at: time))
    }
}

/// One jurisdiction's retention of outcomes at a given moment (`StoreSQL.retentionOfOutcomes`).
struct RetentionCutoff: Equatable {
    var jurisdiction: String
    /// Outcomes held since before this are due for deletion.
    var cutoff: Date
    /// BIPA: everything about a subject whose last interaction is older than this goes.
    var idleBefore: Date?

    init(_ row: some StoreRow, now: Date) throws {
        let law = try row.optionalText("biometric_law")
        jurisdiction = try row.text("name")
        cutoff = RetentionSchedule.deletionCutoff(now: now, retentionDays: try row.integer("days"), biometricLaw: law)
        idleBefore = RetentionSchedule.lastInteractionLimit(biometricLaw: law).map { now.addingTimeInterval(-$0) }
    }

    /// The erasures a sweep at `now` runs for this jurisdiction, in pseudonym order: the
    /// outcomes past the cutoff of each subject in `due`, and all of each subject in `idle`.
    func erasures(due: [String], idle: [String], now: Date) -> [SubjectErasure] {
        var heldBefore = Dictionary(due.map { ($0, cutoff) }, uniquingKeysWith: { first, _ in first })
        for pseudonym in idle { heldBefore[pseudonym] = .distantFuture }
        return heldBefore.sorted { $0.key < $1.key }.map { pseudonym, before in erasure(of: pseudonym, heldBefore: before, now: now) }
    }

    /// The erasure of the subject's outcomes held since before `heldBefore` (the cutoff unless said).
    func erasure(of pseudonym: String, heldBefore: Date? = nil, now: Date) -> SubjectErasure {
        SubjectErasure(pseudonym: pseudonym, purpose: .outcomeStorage, cause: .retention, trigger: "retention:\(jurisdiction)",
                       requestedAt: now, actor: "system:retention-sweeper", time: now, heldBefore: heldBefore ?? cutoff,
                       jurisdiction: jurisdiction)
    }

    /// The sweep's own audit entry, when it erased anything.
    static func sweepAudit(_ records: [ErasureRecord], at now: Date) throws -> [PendingAuditEntry] {
        records.isEmpty ? [] : [try PendingAuditEntry(.retentionSweep, actor: "system:retention-sweeper",
                                                      details: StoreAuditDetails.retentionSweep(records), at: now)]
    }
}
