import Compliance
import FeedbackWire
import Foundation
import StrictJSON

/// The store's records read from rows, once for both back ends. A row whose enumerated value
/// this version does not know reads as nil where the record can be skipped, and as the most
/// cautious value (a revoked device, a cancelled round) where it cannot.
enum StoreRows {
    static func deviceRecord(_ row: some StoreRow) throws -> DeviceRecord {
        DeviceRecord(deviceID: try row.text("device_id"), status: DeviceSummary.Status(rawValue: try row.text("status")) ?? .revoked,
                     signingKey: Data(try row.bytes("signing_key")), certificateFingerprint: try row.text("certificate_fingerprint"),
                     certificateNotAfter: try row.date("certificate_not_after"), sites: Set(StoredList.decode(try row.text("sites"))))
    }

    /// Each device's sites, from `StoreSQL.allDeviceSites`.
    static func deviceSites(_ rows: [some StoreRow]) throws -> [String: [String]] {
        var sites: [String: [String]] = [:]
        for row in rows { sites[try row.text("device_id"), default: []].append(try row.text("site")) }
        return sites
    }

    /// Refused events per device and reason, from `StoreSQL.refusedEventCounts`.
    static func refusedEventCounts(_ rows: [some StoreRow]) throws -> [String: [String: Int]] {
        var counts: [String: [String: Int]] = [:]
        for row in rows {
            counts[try row.text("device_id"), default: [:]][try row.text("reason")] = try row.integer("events")
        }
        return counts
    }

    static func deviceSummary(_ row: some StoreRow, refusedEvents: [String: [String: Int]], sites: [String: [String]]) throws -> DeviceSummary {
        let deviceID = try row.text("device_id")
        return DeviceSummary(deviceID: deviceID, status: DeviceSummary.Status(rawValue: try row.text("status")) ?? .revoked,
                             enrolledAt: try row.date("enrolled_at"), revokedAt: try row.optionalDate("revoked_at"),
                             certificateSerial: try row.text("certificate_serial"),
                             certificateNotAfter: try row.date("certificate_not_after"),
                             lastUploadAt: try row.optionalDate("last_upload_at"), batches: try row.integer("batches"),
                             events: try row.integer("events"), reportedBacklog: try row.optionalInteger("reported_backlog"),
                             backlogReportedAt: try row.optionalDate("backlog_reported_at"),
                             refusedEvents: refusedEvents[deviceID] ?? [:], sites: sites[deviceID] ?? [])
    }

    static func apiTokenSummary(_ row: some StoreRow) throws -> APITokenSummary {
        APITokenSummary(id: String(try row.text("token_sha256").prefix(16)), role: try row.text("role"), label: try row.text("label"),
                        createdAt: try row.date("created_at"), revokedAt: try row.optionalDate("revoked_at"))
    }

    static func outcomeStats(total: Int, batches: Int, byDevice: [some StoreRow], byCohort: [some StoreRow],
                             byLabel: [some StoreRow]) throws -> OutcomeStats {
        var labels: [String: Int] = [:]
        for row in byLabel { labels[try row.text("label")] = try row.integer("n") }
        return OutcomeStats(
            totalEvents: total, totalBatches: batches,
            byDevice: try byDevice.map { OutcomeStats.DeviceCount(deviceID: try $0.text("device_id"), events: try $0.integer("n")) },
            byCohort: try byCohort.map {
                OutcomeStats.CohortCount(site: try $0.text("site"), cameraModel: try $0.text("camera_model"), events: try $0.integer("n"))
            },
            byLabel: .init(genuine: labels["genuine"] ?? 0, impostor: labels["impostor"] ?? 0, unknown: labels["unknown"] ?? 0))
    }

    static func thresholdRelease(_ row: some StoreRow) throws -> StoredThresholdRelease {
        StoredThresholdRelease(
            version: try row.integer("version"), state: ReleaseState(rawValue: try row.text("state")) ?? .computed,
            payload: try row.bytes("payload"), refused: try row.bytes("refused"), largestChange: try row.optionalReal("largest_change"),
            requiredApprovals: try row.integer("required_approvals"), approvals: StoredList.decode(try row.text("approvals")),
            computedAt: try row.date("computed_at"), computedBy: try row.text("computed_by"),
            computedByToken: try row.optionalText("computed_by_token"), publishedAt: try row.optionalDate("published_at"),
            envelope: try row.optionalBytes("envelope"))
    }

    // MARK: Federation

    static func round(_ row: some StoreRow) throws -> StoredRound {
        StoredRound(id: try row.integer("round_id"), state: RoundState(rawValue: try row.text("state")) ?? .cancelled,
                    opening: NewRound(baseVersion: try row.integer("base_version"), samplingRate: try row.real("sampling_rate"),
                                      noiseMultiplier: try row.real("noise_multiplier"), deadline: try row.date("deadline"),
                                      specification: try row.bytes("specification"), openedAt: try row.date("opened_at"),
                                      openedBy: try row.text("opened_by")),
                    closedAt: try row.optionalDate("closed_at"), outcome: try row.optionalBytes("outcome"),
                    updateCount: try row.integer("update_count"))
    }

    static func ledgerRound(_ row: some StoreRow) throws -> LedgerRound {
        LedgerRound(samplingRate: try row.real("sampling_rate"), noiseMultiplier: try row.real("noise_multiplier"))
    }

    static func update(_ row: some StoreRow) throws -> StoredUpdate {
        StoredUpdate(deviceID: try row.text("device_id"), body: try row.bytes("body"), receivedAt: try row.date("received_at"),
                     verdict: try row.optionalText("verdict"))
    }

    static func modelRelease(_ row: some StoreRow) throws -> StoredModelRelease {
        // A policy search's candidates have no round (NULL).
        StoredModelRelease(version: try row.integer("version"), roundID: try row.optionalInteger("round_id") ?? 0,
                           payload: try row.bytes("payload"), envelope: try row.bytes("envelope"), publishedAt: try row.date("published_at"))
    }

    // MARK: Compliance

    static func jurisdiction(_ row: some StoreRow) throws -> JurisdictionRecord {
        JurisdictionRecord(name: try row.text("name"), dataRegion: try row.text("data_region"),
                           biometricLaw: try row.optionalText("biometric_law"), requestDays: try row.integer("request_days"),
                           pseudonymKey: try row.bytes("pseudonym_key"), keyVersion: try row.integer("key_version"))
    }

    static func site(_ row: some StoreRow) throws -> SiteRecord {
        SiteRecord(site: try row.text("site"), jurisdiction: try row.text("jurisdiction"), publicPlace: try row.flag("public_place"))
    }

    static func retentionRule(_ row: some StoreRow) throws -> RetentionRule? {
        guard let purpose = Purpose(rawValue: try row.text("purpose")) else { return nil }
        return RetentionRule(jurisdiction: try row.text("jurisdiction"), purpose: purpose, days: try row.integer("days"))
    }

    static func consentText(_ row: some StoreRow) throws -> ConsentText? {
        guard let purpose = Purpose(rawValue: try row.text("purpose")) else { return nil }
        return ConsentText(purpose: purpose, version: try row.text("version"), language: try row.text("language"),
                           sha256: try row.text("sha256"), effectiveAt: try row.date("effective_at"), material: try row.flag("material"))
    }

    static func consentEvent(_ row: some StoreRow) throws -> StoredConsentEvent? {
        guard let eventID = UUID(uuidString: try row.text("event_id")), let kind = ConsentEvent.Kind(rawValue: try row.text("kind")),
              let method = ConsentEvent.Method(rawValue: try row.text("method")) else { return nil }
        let event = ConsentEvent(eventID: eventID, occurredAt: try row.date("occurred_at"), pseudonym: try row.text("subject_pseudonym"),
                                 purpose: try row.text("purpose"), kind: kind, method: method, site: try row.text("site"),
                                 textVersion: try row.text("text_version"), textSHA256: try row.text("text_sha256"),
                                 keyVersion: try row.optionalInteger("key_version") ?? 1)
        return StoredConsentEvent(event: event, deviceID: try row.text("device_id"), receivedAt: try row.date("received_at"),
                                  refusal: try row.optionalText("refusal"))
    }

    /// A consent event in force, from `StoreSQL.consentRecords`.
    static func consentRecord(_ row: some StoreRow) throws -> (pseudonym: String, record: ConsentRecord)? {
        guard let kind = ConsentRecord.Kind(rawValue: try row.text("kind")) else { return nil }
        return (try row.text("subject_pseudonym"),
                ConsentRecord(kind: kind, occurredAt: try row.date("occurred_at"), textVersion: try row.text("text_version"),
                              arrival: Int64(try row.integer("arrival"))))
    }

    /// An erasure the subject asked for, from `StoreSQL.requestedErasures`: it stops processing
    /// as a withdrawal would, until the subject grants again.
    static func requestedErasure(_ row: some StoreRow) throws -> (pseudonym: String, record: ConsentRecord) {
        (try row.text("subject_pseudonym"),
         ConsentRecord(kind: .withdraw, occurredAt: try row.date("requested_at"), textVersion: "", arrival: .max))
    }

    static func erasure(_ row: some StoreRow) throws -> ErasureRecord? {
        guard let purpose = Purpose(rawValue: try row.text("purpose")), let cause = ErasureRecord.Cause(rawValue: try row.text("cause")) else {
            return nil
        }
        return ErasureRecord(erasureID: try row.text("erasure_id"), pseudonym: try row.text("subject_pseudonym"), purpose: purpose,
                             cause: cause, trigger: try row.optionalText("trigger_ref"), requestedAt: try row.date("requested_at"),
                             erasedAt: try row.date("erased_at"), outcomesErased: try row.integer("outcomes_erased"),
                             batchesRedacted: try row.integer("batches_redacted"), locations: StoredList.decode(try row.text("locations")))
    }

    /// From `StoreSQL.overdueOutcomes`: nil when nothing of the jurisdiction is overdue.
    static func overdueRetention(_ row: some StoreRow, jurisdiction: String) throws -> OverdueRetention? {
        guard let oldest = try row.optionalDate("oldest"), try row.integer("n") > 0 else { return nil }
        return OverdueRetention(jurisdiction: jurisdiction, purpose: .outcomeStorage, outcomes: try row.integer("n"), oldestAttemptAt: oldest)
    }

    static func withdrawal(_ row: some StoreRow) throws -> WithdrawalReportRow? {
        guard let purpose = Purpose(rawValue: try row.text("purpose")) else { return nil }
        let received = try row.real("received_at")
        let blocked = try row.optionalReal("blocked_at")
        return WithdrawalReportRow(eventID: try row.text("event_id"), pseudonym: try row.text("subject_pseudonym"), purpose: purpose,
                                   withdrawnAt: try row.date("occurred_at"), receivedAt: Date(timeIntervalSince1970: received),
                                   erasedAt: try row.optionalReal("erased_at").map(Date.init(timeIntervalSince1970:)),
                                   blockedAt: blocked.map(Date.init(timeIntervalSince1970:)),
                                   timeToBlockMilliseconds: blocked.map { max(0, ($0 - received) * 1000) },
                                   processedAfterWithdrawal: try row.integer("processed"))
    }

    /// A material text version (`StoreSQL.materialTextVersions`) with its counts (`StoreSQL.reconsentCounts`).
    static func reconsentCoverage(_ version: some StoreRow, counts: (some StoreRow)?) throws -> ReconsentCoverage? {
        guard let purpose = Purpose(rawValue: try version.text("purpose")) else { return nil }
        return ReconsentCoverage(purpose: purpose, textVersion: try version.text("version"), effectiveAt: try version.date("effective_at"),
                                 subjectsNeedingReconsent: try counts?.integer("needing") ?? 0,
                                 subjectsReconsented: try counts?.integer("done") ?? 0)
    }

    /// A stored outcome as a subject's access request shows it.
    static func exportedOutcome(_ row: some StoreRow) throws -> JSONValue {
        .object([
            ("event_id", .string(try row.text("event_id"))), ("device_id", .string(try row.text("device_id"))),
            ("attempted_at", .string(RFC3339.format(try row.date("attempted_at")))),
            ("model_version", .string(try row.text("model_version"))), ("threshold_version", .string(try row.text("threshold_version"))),
            ("site", .string(try row.text("site"))), ("camera_model", .string(try row.text("camera_model"))),
            ("tags", (try? JSONValue.parse(try row.text("tags"))) ?? .array([])),
            ("score", .number(try row.real("score"))), ("decision", .string(try row.text("decision"))),
            ("label", .string(try row.text("label"))), ("label_source", .string(try row.text("label_source"))),
            ("face_size_px", .number(Double(try row.integer("face_size_px")))),
            ("sharpness", .number(try row.real("sharpness"))), ("brightness", .number(try row.real("brightness"))),
            ("liveness_score", try row.optionalReal("liveness_score").map(JSONValue.number) ?? .null),
            ("consent_ref", .string(try row.text("consent_ref"))),
            ("shadow_model_version", try row.optionalText("shadow_model_version").map(JSONValue.string) ?? .null),
            ("shadow_score", try row.optionalReal("shadow_score").map(JSONValue.number) ?? .null),
            ("shadow_scores", .array(try ShadowScoresColumn.decode(try row.optionalText("shadow_scores")).map {
                .object([("model_version", .string($0.modelVersion)), ("score", .number($0.score))])
            })),
        ])
    }

    static func subjectRequest(_ row: some StoreRow) throws -> SubjectRequestRecord? {
        guard let kind = SubjectRequestRecord.Kind(rawValue: try row.text("kind")) else { return nil }
        return SubjectRequestRecord(requestID: try row.text("request_id"), pseudonym: try row.text("subject_pseudonym"), kind: kind,
                                    jurisdiction: try row.text("jurisdiction"), receivedAt: try row.date("received_at"),
                                    dueAt: try row.date("due_at"), completedAt: try row.optionalDate("completed_at"))
    }

    static func auditCheckpoint(_ row: some StoreRow) throws -> StoredAuditCheckpoint {
        StoredAuditCheckpoint(treeSize: try row.integer("tree_size"), checkpoint: try row.bytes("checkpoint"))
    }
}
