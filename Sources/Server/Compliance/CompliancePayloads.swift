import Compliance
import FeedbackWire
import Foundation
import Storage
import StrictJSON

struct JurisdictionRequest: Codable, Sendable {
    var name: String
    var dataRegion: String
    var biometricLaw: String?
    var requestDays: Int?

    enum CodingKeys: String, CodingKey { case name, dataRegion = "data_region", biometricLaw = "biometric_law", requestDays = "request_days" }
}

/// A jurisdiction as shown to people: never its pseudonymisation key.
struct JurisdictionView: Codable, Sendable {
    var name: String
    var dataRegion: String
    var biometricLaw: String?
    var requestDays: Int

    init(_ record: JurisdictionRecord) {
        (name, dataRegion, biometricLaw, requestDays) = (record.name, record.dataRegion, record.biometricLaw, record.requestDays)
    }

    enum CodingKeys: String, CodingKey { case name, dataRegion = "data_region", biometricLaw = "biometric_law", requestDays = "request_days" }
}

struct ConsentTextRequest: Codable, Sendable {
    var purpose: Purpose
    var version: String
    var language: String
    /// The exact text; the server stores only its SHA-256.
    var text: String
    var effectiveAt: Date
    var material: Bool

    enum CodingKeys: String, CodingKey { case purpose, version, language, text, effectiveAt = "effective_at", material }
}

struct PseudonymRequest: Codable, Sendable {
    var jurisdiction: String
    var subjectID: String

    enum CodingKeys: String, CodingKey { case jurisdiction, subjectID = "subject_id" }
}

struct SubjectRequestRequest: Codable, Sendable {
    var subjectPseudonym: String
    var kind: SubjectRequestRecord.Kind
    var jurisdiction: String?

    enum CodingKeys: String, CodingKey { case subjectPseudonym = "subject_pseudonym", kind, jurisdiction }
}

extension ProcessingRecord {
    var json: JSONValue {
        .object([
            ("title", .string("Record of processing activities (GDPR art. 30(1))")),
            ("purposes", .array(Purpose.allCases.map { purpose in
                let about = ProcessingRecord.description(of: purpose)
                return .object([
                    ("purpose", .string(purpose.rawValue)),
                    ("description", .string(about.description)),
                    ("legal_basis", .string("explicit consent (GDPR art. 6(1)(a), 9(2)(a); PIPL art. 13(1), 29)")),
                    ("data_subjects", .string("people verified at a kiosk who consented to this purpose")),
                    ("categories_of_data", .array(about.data.map(JSONValue.string))),
                    ("held_on", .string(about.location)),
                    ("recipients", .string("none outside the operator; engineers see aggregates and pseudonyms only")),
                    ("retention", .array(retention.filter { $0.purpose == purpose }.map {
                        .object([("jurisdiction", .string($0.jurisdiction)), ("days", .number(Double($0.days)))])
                    })),
                    ("consent_texts", .array(texts.filter { $0.purpose == purpose }.map {
                        .object([("version", .string($0.version)), ("language", .string($0.language)), ("sha256", .string($0.sha256)),
                                 ("effective_at", .string(RFC3339.format($0.effectiveAt))), ("material", .bool($0.material))])
                    })),
                ])
            })),
            ("jurisdictions", .array(jurisdictions.map {
                .object([("name", .string($0.name)), ("data_region", .string($0.dataRegion)),
                         ("biometric_law", $0.biometricLaw.map(JSONValue.string) ?? .null),
                         ("request_days", .number(Double($0.requestDays)))])
            })),
            ("security_measures", .array([
                "mutual TLS and Ed25519-signed uploads (RFC 9421) from enrolled kiosks",
                "pseudonymisation with a per-jurisdiction HMAC-SHA256 key; raw ids are never stored",
                "no image or face descriptor leaves the kiosk; the upload schemas cannot carry one",
                "erasure within one second of a withdrawal, with signed receipts",
                "a Merkle-tree audit log with signed checkpoints, verifiable offline",
            ].map(JSONValue.string))),
        ])
    }
}

/// Kiosk → server: which of these subjects' consent to a purpose is in force now?
struct ConsentStatusRequest: Codable, Sendable {
    var purpose: Purpose
    var subjectPseudonyms: [String]

    enum CodingKeys: String, CodingKey { case purpose, subjectPseudonyms = "subject_pseudonyms" }
}

extension StoredConsentEvent {
    /// The event as the kiosk sent it, with where and when it arrived and why it was refused.
    var json: JSONValue {
        guard case var .object(members) = event.json else { return .null }
        members.append(("device_id", .string(deviceID)))
        members.append(("received_at", .string(RFC3339.format(receivedAt))))
        members.append(("refusal", refusal.map(JSONValue.string) ?? .null))
        return .object(members)
    }
}

extension SubjectExport {
    /// Everything stored about one subject, as the subject's access request is answered.
    var json: JSONValue {
        .object([
            ("subject_pseudonym", .string(pseudonym)),
            ("consent_events", .array(consentEvents.map(\.json))),
            ("outcomes", .array(outcomes)),
            ("erasures", (try? JSONValue(encoding: erasures)) ?? .array([])),
            ("requests", (try? JSONValue(encoding: requests)) ?? .array([])),
        ])
    }
}

extension JSONValue {
    /// The value as the wire encoder writes it, for answers assembled from Codable parts.
    init(encoding value: some Encodable) throws {
        self = try JSONValue.parse([UInt8](try WireJSON.encoder().encode(value)))
    }
}
