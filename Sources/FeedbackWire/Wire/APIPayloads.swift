import Foundation
import StrictJSON

/// What the server answers once a batch is durably committed. A retry of the same batch
/// gets this same receipt back.
public struct BatchReceipt: Sendable, Codable, Equatable {
    public static let protocolName = "faceloop.receipt.v1"

    /// An event of the batch that the server did not store, and why.
    public struct RefusedEvent: Sendable, Codable, Equatable {
        public var eventID: UUID
        public var reason: String
        public var detail: String

        public init(eventID: UUID, reason: String, detail: String) {
            self.eventID = eventID
            self.reason = reason
            self.detail = detail
        }

        enum CodingKeys: String, CodingKey { case eventID = "event_id", reason, detail }
    }

    public var protocolName: String
    public var batchID: UUID
    public var deviceID: String
    public var sequence: Int64
    public var contentDigest: String
    /// Outcomes stored.
    public var acceptedEvents: Int
    /// Consent events recorded (including those listed as refused, which are kept for review
    /// but never put in force).
    public var consentEvents: Int
    public var refusedEvents: [RefusedEvent]
    /// Entries of stored outcomes' `shadow_scores` that were not stored because the subject
    /// had no model-improvement consent in force on the server at the attempt. 0 in receipts
    /// written before shadow scores were checked, which lack the field.
    public var shadowScoresDropped: Int
    public var storedAt: Date

    public init(batchID: UUID, deviceID: String, sequence: Int64, contentDigest: String, acceptedEvents: Int,
                consentEvents: Int = 0, refusedEvents: [RefusedEvent] = [], shadowScoresDropped: Int = 0, storedAt: Date) {
        self.protocolName = BatchReceipt.protocolName
        self.batchID = batchID
        self.deviceID = deviceID
        self.sequence = sequence
        self.contentDigest = contentDigest
        self.acceptedEvents = acceptedEvents
        self.consentEvents = consentEvents
        self.refusedEvents = refusedEvents
        self.shadowScoresDropped = shadowScoresDropped
        self.storedAt = storedAt
    }

    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol", batchID = "batch_id", deviceID = "device_id", sequence
        case contentDigest = "content_digest", acceptedEvents = "accepted_events", consentEvents = "consent_events"
        case refusedEvents = "refused_events", shadowScoresDropped = "shadow_scores_dropped", storedAt = "stored_at"
    }

    /// The receipt as `WireJSON.encoder()` writes it (keys sorted, the batch id in capitals,
    /// the time in RFC 3339), built directly: the encoder cost the server about 25 µs for each
    /// batch it stored.
    public func encoded() -> [UInt8] {
        JSONValue.object([
            ("accepted_events", .number(Double(acceptedEvents))),
            ("batch_id", .string(batchID.uuidString)),
            ("consent_events", .number(Double(consentEvents))),
            ("content_digest", .string(contentDigest)),
            ("device_id", .string(deviceID)),
            ("protocol", .string(protocolName)),
            ("refused_events", .array(refusedEvents.map { refused in
                .object([("detail", .string(refused.detail)), ("event_id", .string(refused.eventID.uuidString)),
                         ("reason", .string(refused.reason))])
            })),
            ("sequence", .number(Double(sequence))),
            ("shadow_scores_dropped", .number(Double(shadowScoresDropped))),
            ("stored_at", .string(RFC3339.format(storedAt))),
        ]).serialized()
    }

    /// A stored batch is answered with its original receipt bytes, so receipts from before
    /// `shadow_scores_dropped` still reach agents: absent reads as 0.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        protocolName = try container.decode(String.self, forKey: .protocolName)
        batchID = try container.decode(UUID.self, forKey: .batchID)
        deviceID = try container.decode(String.self, forKey: .deviceID)
        sequence = try container.decode(Int64.self, forKey: .sequence)
        contentDigest = try container.decode(String.self, forKey: .contentDigest)
        acceptedEvents = try container.decode(Int.self, forKey: .acceptedEvents)
        consentEvents = try container.decode(Int.self, forKey: .consentEvents)
        refusedEvents = try container.decode([RefusedEvent].self, forKey: .refusedEvents)
        shadowScoresDropped = try container.decodeIfPresent(Int.self, forKey: .shadowScoresDropped) ?? 0
        storedAt = try container.decode(Date.self, forKey: .storedAt)
    }
}

/// Admin → server: create a one-time enrollment token for a device id and the registered
/// sites the kiosk will serve; the device is bound to them when it redeems the token.
public struct EnrollmentTokenRequest: Sendable, Codable, Equatable {
    public var deviceID: String
    public var sites: [String]
    public var ttlSeconds: Int?

    public init(deviceID: String, sites: [String], ttlSeconds: Int? = nil) {
        self.deviceID = deviceID
        self.sites = sites
        self.ttlSeconds = ttlSeconds
    }

    enum CodingKeys: String, CodingKey { case deviceID = "device_id", sites, ttlSeconds = "ttl_seconds" }
}

public struct EnrollmentToken: Sendable, Codable, Equatable {
    public var deviceID: String
    /// The sites the device will be bound to, sorted.
    public var sites: [String]
    public var token: String
    public var expiresAt: Date

    public init(deviceID: String, sites: [String], token: String, expiresAt: Date) {
        self.deviceID = deviceID
        self.sites = sites
        self.token = token
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey { case deviceID = "device_id", sites, token, expiresAt = "expires_at" }
}

/// Admin → server: bind an enrolled kiosk to other sites (`POST /v1/admin/devices/{id}/move`);
/// the list replaces the sites it had.
public struct DeviceMoveRequest: Sendable, Codable, Equatable {
    public var sites: [String]

    public init(sites: [String]) { self.sites = sites }
}

/// Kiosk → server: redeem a token with a CSR and the upload-signing public key.
public struct EnrollmentRequest: Sendable, Codable, Equatable {
    public var deviceID: String
    public var token: String
    public var csrPEM: String
    /// Raw 32-byte Ed25519 public key, base64.
    public var signingKey: String
    /// ``EnrollmentProof`` signature, base64.
    public var proof: String

    public init(deviceID: String, token: String, csrPEM: String, signingKey: String, proof: String) {
        self.deviceID = deviceID
        self.token = token
        self.csrPEM = csrPEM
        self.signingKey = signingKey
        self.proof = proof
    }

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id", token, csrPEM = "csr_pem", signingKey = "signing_key", proof
    }
}

public struct EnrollmentResponse: Sendable, Codable, Equatable {
    public var deviceID: String
    public var certificatePEM: String
    public var caCertificatePEM: String
    public var certificateNotAfter: Date
    /// The server's Ed25519 release key (raw, base64), which the agent pins to verify releases.
    public var releaseSigningKey: String

    public init(deviceID: String, certificatePEM: String, caCertificatePEM: String, certificateNotAfter: Date,
                releaseSigningKey: String) {
        self.deviceID = deviceID
        self.certificatePEM = certificatePEM
        self.caCertificatePEM = caCertificatePEM
        self.certificateNotAfter = certificateNotAfter
        self.releaseSigningKey = releaseSigningKey
    }

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id", certificatePEM = "certificate_pem", caCertificatePEM = "ca_certificate_pem"
        case certificateNotAfter = "certificate_not_after", releaseSigningKey = "release_signing_key"
    }
}

public struct DeviceSummary: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case active, revoked }

    public var deviceID: String
    public var status: Status
    public var enrolledAt: Date
    public var revokedAt: Date?
    public var certificateSerial: String
    public var certificateNotAfter: Date
    public var lastUploadAt: Date?
    public var batches: Int
    public var events: Int
    /// The queue backlog the kiosk reported in the batch it sealed last (`queue_backlog`).
    public var reportedBacklog: Int?
    /// When that batch was sealed.
    public var backlogReportedAt: Date?
    /// Events of this kiosk's accepted batches that were not stored, by the reason in their receipts.
    public var refusedEvents: [String: Int]
    /// The sites the kiosk is bound to, sorted; empty for a kiosk that is bound to none (it is
    /// refused everything that names a site until an admin moves it).
    public var sites: [String]

    public init(deviceID: String, status: Status, enrolledAt: Date, revokedAt: Date?, certificateSerial: String,
                certificateNotAfter: Date, lastUploadAt: Date?, batches: Int, events: Int, reportedBacklog: Int? = nil,
                backlogReportedAt: Date? = nil, refusedEvents: [String: Int] = [:], sites: [String] = []) {
        self.deviceID = deviceID
        self.sites = sites
        self.status = status
        self.enrolledAt = enrolledAt
        self.revokedAt = revokedAt
        self.certificateSerial = certificateSerial
        self.certificateNotAfter = certificateNotAfter
        self.lastUploadAt = lastUploadAt
        self.batches = batches
        self.events = events
        self.reportedBacklog = reportedBacklog
        self.backlogReportedAt = backlogReportedAt
        self.refusedEvents = refusedEvents
    }

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id", status, enrolledAt = "enrolled_at", revokedAt = "revoked_at"
        case certificateSerial = "certificate_serial", certificateNotAfter = "certificate_not_after"
        case lastUploadAt = "last_upload_at", batches, events, reportedBacklog = "reported_backlog"
        case backlogReportedAt = "backlog_reported_at", refusedEvents = "refused_events", sites
    }
}

public struct DeviceList: Sendable, Codable, Equatable {
    public var devices: [DeviceSummary]
    public init(devices: [DeviceSummary]) { self.devices = devices }
}

/// Counts of stored outcomes, for `faceloop outcomes stats`.
public struct OutcomeStats: Sendable, Codable, Equatable {
    public struct DeviceCount: Sendable, Codable, Equatable {
        public var deviceID: String
        public var events: Int
        public init(deviceID: String, events: Int) { self.deviceID = deviceID; self.events = events }
        enum CodingKeys: String, CodingKey { case deviceID = "device_id", events }
    }

    public struct CohortCount: Sendable, Codable, Equatable {
        public var site: String
        public var cameraModel: String
        public var events: Int
        public init(site: String, cameraModel: String, events: Int) {
            self.site = site
            self.cameraModel = cameraModel
            self.events = events
        }
        enum CodingKeys: String, CodingKey { case site, cameraModel = "camera_model", events }
    }

    public struct LabelCounts: Sendable, Codable, Equatable {
        public var genuine: Int
        public var impostor: Int
        public var unknown: Int
        public init(genuine: Int, impostor: Int, unknown: Int) {
            self.genuine = genuine
            self.impostor = impostor
            self.unknown = unknown
        }
    }

    public var totalEvents: Int
    public var totalBatches: Int
    public var byDevice: [DeviceCount]
    public var byCohort: [CohortCount]
    public var byLabel: LabelCounts

    public init(totalEvents: Int, totalBatches: Int, byDevice: [DeviceCount], byCohort: [CohortCount], byLabel: LabelCounts) {
        self.totalEvents = totalEvents
        self.totalBatches = totalBatches
        self.byDevice = byDevice
        self.byCohort = byCohort
        self.byLabel = byLabel
    }

    enum CodingKeys: String, CodingKey {
        case totalEvents = "total_events", totalBatches = "total_batches", byDevice = "by_device"
        case byCohort = "by_cohort", byLabel = "by_label"
    }
}
