import Compliance
import Crypto
import FeedbackWire
import Foundation
import StrictJSON

/// What the audit log records about each change, the same from either back end, so a log
/// copied from SQLite to PostgreSQL reads (and hashes) alike.
enum StoreAuditDetails {
    static func deviceEnrolled(_ device: NewDevice, sites: [String]) -> JSONValue {
        .object([
            ("device_id", .string(device.deviceID)), ("certificate_serial", .string(device.certificateSerial)),
            ("certificate_fingerprint", .string(device.certificateFingerprint)), ("sites", .array(sites.map(JSONValue.string))),
        ])
    }

    static func deviceMoved(_ deviceID: String, from: [String], to sites: [String]) -> JSONValue {
        .object([
            ("device_id", .string(deviceID)), ("from_sites", .array(from.map(JSONValue.string))),
            ("to_sites", .array(sites.map(JSONValue.string))),
        ])
    }

    static func token(id: String, role: String, label: String) -> JSONValue {
        .object([("token_id", .string(id)), ("role", .string(role)), ("label", .string(label))])
    }

    static func thresholdApproval(version: Int, state: ReleaseState) -> JSONValue {
        .object([("release", .string("thresholds")), ("version", .number(Double(version))), ("state", .string(state.rawValue))])
    }

    static func thresholdPublication(version: Int, retiring: ReleaseState, envelope: [UInt8]) -> JSONValue {
        .object([
            ("release", .string("thresholds")), ("version", .number(Double(version))), ("state_retired", .string(retiring.rawValue)),
            ("envelope_sha256", .string(SHA256.hash(data: envelope).lowercaseHex)),
        ])
    }

    static func modelPublication(version: Int, roundID: Int, envelope: [UInt8]) -> JSONValue {
        .object([
            ("release", .string("model")), ("version", .number(Double(version))), ("round_id", .number(Double(roundID))),
            ("envelope_sha256", .string(SHA256.hash(data: envelope).lowercaseHex)),
        ])
    }

    /// A model rollout's step: the states it moved between, what it now covers, how many
    /// approvals it holds, and why (a rollback's or a refusal's reason).
    static func modelRollout(from: RolloutState, to rollout: StoredModelRollout) -> JSONValue {
        .object([
            ("release", .string("model")), ("version", .number(Double(rollout.version))),
            ("from_state", .string(from.rawValue)), ("to_state", .string(rollout.state.rawValue)),
            ("cohorts", ModelRolloutColumns.cohortsJSON(rollout.cohorts)),
            ("canary_devices", .array(rollout.canaryDevices.map(JSONValue.string))),
            ("canary_percent", rollout.canaryPercent.map(JSONValue.number) ?? .null),
            ("approvals", .number(Double(rollout.approvals.count))),
            ("comparison_sha256", .string(SHA256.hash(data: rollout.comparison).lowercaseHex)),
            ("reason", rollout.reason.map(JSONValue.string) ?? .null),
        ])
    }

    static func jurisdiction(_ jurisdiction: JurisdictionRecord) -> JSONValue {
        .object([
            ("jurisdiction", .string(jurisdiction.name)), ("data_region", .string(jurisdiction.dataRegion)),
            ("biometric_law", jurisdiction.biometricLaw.map(JSONValue.string) ?? .null),
            ("request_days", .number(Double(jurisdiction.requestDays))),
        ])
    }

    static func site(_ site: SiteRecord) -> JSONValue {
        .object([("site", .string(site.site)), ("jurisdiction", .string(site.jurisdiction)), ("public_place", .bool(site.publicPlace))])
    }

    static func retention(_ rule: RetentionRule) -> JSONValue {
        .object([
            ("jurisdiction", .string(rule.jurisdiction)), ("purpose", .string(rule.purpose.rawValue)), ("days", .number(Double(rule.days))),
        ])
    }

    static func consentText(_ text: ConsentText) -> JSONValue {
        .object([
            ("purpose", .string(text.purpose.rawValue)), ("version", .string(text.version)), ("language", .string(text.language)),
            ("sha256", .string(text.sha256)), ("effective_at", .string(RFC3339.format(text.effectiveAt))), ("material", .bool(text.material)),
        ])
    }

    static func consentEvent(_ event: ConsentEvent, eventID: String, deviceID: String, refusal: String?) -> JSONValue {
        var details: [(key: String, value: JSONValue)] = [
            ("event_id", .string(eventID)), ("subject_pseudonym", .string(event.pseudonym)), ("purpose", .string(event.purpose)),
            ("kind", .string(event.kind.rawValue)), ("method", .string(event.method.rawValue)), ("site", .string(event.site)),
            ("device_id", .string(deviceID)), ("occurred_at", .string(RFC3339.format(event.occurredAt))),
            ("text_version", .string(event.textVersion)), ("text_sha256", .string(event.textSHA256)),
        ]
        if let refusal { details.append(("refused", .string(refusal))) }
        return .object(details)
    }

    /// Why a consent event is not put in force, if it is not. A withdrawal is honoured
    /// whatever text it cites: taking consent back needs no text.
    static func consentRefusal(_ event: ConsentEvent, registeredHashes hashes: [String]) -> BatchReceipt.RefusedEvent? {
        if event.kind == .withdraw { return nil }
        if hashes.isEmpty {
            return .init(eventID: event.eventID, reason: "unknown-consent-text",
                         detail: "no consent text \(event.textVersion) is registered for \(event.purpose)")
        }
        if !hashes.contains(event.textSHA256) {
            return .init(eventID: event.eventID, reason: "consent-text-mismatch",
                         detail: "the SHA-256 of the text shown differs from every registered language of \(event.textVersion)")
        }
        return nil
    }

    static func erasure(_ record: ErasureRecord) -> JSONValue {
        .object([
            ("erasure_id", .string(record.erasureID)), ("subject_pseudonym", .string(record.pseudonym)),
            ("purpose", .string(record.purpose.rawValue)), ("cause", .string(record.cause.rawValue)),
            ("trigger", record.trigger.map(JSONValue.string) ?? .null),
            ("outcomes_erased", .number(Double(record.outcomesErased))), ("batches_redacted", .number(Double(record.batchesRedacted))),
        ])
    }

    static func retentionSweep(_ records: [ErasureRecord]) -> JSONValue {
        .object([
            ("subjects", .number(Double(records.count))),
            ("outcomes_erased", .number(Double(records.reduce(0) { $0 + $1.outcomesErased }))),
        ])
    }

    static func subjectRequest(_ request: SubjectRequestRecord) -> JSONValue {
        .object([
            ("request_id", .string(request.requestID)), ("subject_pseudonym", .string(request.pseudonym)),
            ("kind", .string(request.kind.rawValue)), ("jurisdiction", .string(request.jurisdiction)),
            ("due_at", .string(RFC3339.format(request.dueAt))),
        ])
    }

    /// Where an erasure of `purpose` reaches on the server. Nothing of the other purposes is
    /// held there: training pairs stay on the kiosk, whose own ledger keeps a withdrawn
    /// subject's pairs out of training.
    static func erasureLocations(_ purpose: Purpose) -> [String] {
        switch purpose {
        case .outcomeStorage: ["server:outcomes", "server:batch-bodies"]
        case .modelImprovement: ["server:outcome-shadow-scores", "server:batch-bodies"]
        default: []
        }
    }
}
