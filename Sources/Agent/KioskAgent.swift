import AsyncHTTPClient
import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import Logging
import NIOCore
import NIOSSL
import StrictJSON

/// The kiosk agent: enrolls with the server, records outcomes into its queue and uploads
/// them in signed batches over mutual TLS.
///
/// ```swift
/// let agent = KioskAgent(files: .resolve(nil))
/// try await agent.enroll(server: url, deviceID: "kiosk-001", token: token, caFile: "ca.crt")
/// try agent.record([outcome])
/// let report = try await agent.upload()
/// ```
public struct KioskAgent: Sendable {
    public let files: AgentFiles
    public var logger: Logger
    /// How long to keep trying to open a connection; the HTTP client retries refused
    /// connections within this time before an attempt counts as failed.
    public var connectTimeout: Duration

    public init(files: AgentFiles, logger: Logger = Logger(label: "faceloop-agent"), connectTimeout: Duration = .seconds(10)) {
        self.files = files
        self.logger = logger
        self.connectTimeout = connectTimeout
    }

    // MARK: Enrollment

    /// Creates the kiosk's keys, redeems the enrollment token, and stores key, certificate
    /// and pinned CA with owner-only permissions.
    public func enroll(serverURL: String, deviceID: String, token: String, caFile: String) async throws -> EnrollmentResponse {
        guard DeviceID.isValid(deviceID) else {
            throw AgentError.invalidOutcome("device id must match ^[a-z0-9][a-z0-9-]{2,62}$")
        }
        if FileManager.default.fileExists(atPath: files.settings) {
            let settings = try loadSettings()
            throw AgentError.alreadyEnrolled(settings.deviceID)
        }
        let caPEM: String
        do {
            caPEM = try String(contentsOfFile: caFile, encoding: .utf8)
        } catch {
            throw AgentError.unreadable(caFile, "\(error.localizedDescription)")
        }
        let keys = try enrollmentKeys()
        let csr = try keys.certificateSigningRequestPEM(deviceID: deviceID)
        let proof = try EnrollmentProof.sign(deviceID: deviceID, token: token, csrPEM: csr, key: keys.signingKey)
        let request = EnrollmentRequest(deviceID: deviceID, token: token, csrPEM: csr,
                                        signingKey: keys.signingKey.publicKey.rawRepresentation.base64EncodedString(),
                                        proof: proof.base64EncodedString())
        let body = [UInt8](try WireJSON.encoder().encode(request))
        let (status, responseBody) = try await ServerTLS.withClient(try ServerTLS.clientConfiguration(caPEM: caPEM, identity: nil, connectTimeout: connectTimeout)) {
            try await ServerTLS.post(client: $0, url: serverURL + "/v1/enrollments",
                                     headers: ["content-type": "application/json"], body: body)
        }
        guard status == 201 else { throw ServerTLS.refusal(status: status, body: responseBody) }
        let response = try WireJSON.decoder().decode(EnrollmentResponse.self, from: Data(responseBody))
        // During a device-CA rotation the answer lists every CA still trusted: each pinned one
        // must be among them, and the kiosk then pins them all (the connection that brought
        // them was verified against the pinned file).
        let served = try NIOSSLCertificate.fromPEMBytes(Array(response.caCertificatePEM.utf8))
        let pinned = try NIOSSLCertificate.fromPEMBytes(Array(caPEM.utf8))
        guard !pinned.isEmpty, pinned.allSatisfy(served.contains) else {
            throw AgentError.server("the server's CA differs from the pinned CA in \(caFile)")
        }
        try files.write(Data(response.certificatePEM.utf8), to: files.certificate, mode: 0o600)
        try files.write(Data(response.caCertificatePEM.utf8), to: files.caCertificate, mode: 0o600)
        guard let releaseKey = Data(base64Encoded: response.releaseSigningKey), releaseKey.count == 32 else {
            throw AgentError.server("the enrollment answer carries no valid release-signing key")
        }
        try files.write(Data((response.releaseSigningKey + "\n").utf8), to: files.releaseSigningKey, mode: 0o600)
        let settings = AgentSettings(serverURL: serverURL, deviceID: deviceID, enrolledAt: Date())
        try files.write(try WireJSON.encoder().encode(settings), to: files.settings, mode: 0o600)
        return response
    }

    /// The kiosk's keys, made and saved before the first enrollment attempt, so that a retry
    /// after a lost answer presents the same keys and the server can recognise it.
    func enrollmentKeys() throws -> DeviceKeys {
        if let tlsText = try? String(contentsOfFile: files.tlsKey, encoding: .utf8),
           let tlsKey = try? P256.Signing.PrivateKey(pemRepresentation: tlsText) {
            return DeviceKeys(tlsKey: tlsKey, signingKey: try loadSigningKey())
        }
        let keys = DeviceKeys()
        try files.ensureDirectory()
        try files.write(Data((keys.signingKey.rawRepresentation.base64EncodedString() + "\n").utf8), to: files.signingKey, mode: 0o600)
        try files.write(Data(keys.tlsKey.pemRepresentation.utf8), to: files.tlsKey, mode: 0o600)
        return keys
    }

    public func loadSettings() throws -> AgentSettings {
        guard let data = FileManager.default.contents(atPath: files.settings) else {
            throw AgentError.notEnrolled(files.directory)
        }
        do {
            return try WireJSON.decoder().decode(AgentSettings.self, from: data)
        } catch {
            throw AgentError.unreadable(files.settings, "\(error)")
        }
    }

    // MARK: Queue

    public func openQueue() throws -> UploadQueue {
        try files.ensureDirectory()
        return try UploadQueue(path: files.queue)
    }

    /// Validates outcomes against the published schema and queues them.
    public func record(_ outcomes: [JSONValue], now: Date = Date()) throws -> [MatchOutcome] {
        let accepted = try Self.validated(outcomes, as: "outcome", schema: OutcomeBatchValidator.shared.outcomeSchema,
                                          timeKey: "attempted_at", now: now, decode: MatchOutcome.init(validated:))
        try openQueue().record(accepted, at: now)
        return accepted
    }

    /// Queues outcomes built in code. They go through the JSON path above, so a value built
    /// in code meets exactly the checks (score range, patterns) of one read from a file.
    public func record(_ outcomes: [MatchOutcome], now: Date = Date()) throws -> [MatchOutcome] {
        try record(outcomes.map(\.json), now: now)
    }

    /// Validates consent events against the published schema and queues them ahead of any
    /// outcome recorded later.
    public func recordConsent(_ events: [JSONValue], now: Date = Date()) throws -> [ConsentEvent] {
        let accepted = try Self.validated(events, as: "consent event", schema: OutcomeBatchValidator.shared.consentEventSchema,
                                          timeKey: "occurred_at", now: now, decode: ConsentEvent.init(validated:))
        try openQueue().recordConsent(accepted, at: now)
        return accepted
    }

    /// Queues consent events built in code, through the same checks as `recordConsent(_:now:)`.
    public func recordConsent(_ events: [ConsentEvent], now: Date = Date()) throws -> [ConsentEvent] {
        try recordConsent(events.map(\.json), now: now)
    }

    /// Completes each value, checks it against `schema` and decodes it; the first failure
    /// refuses the whole call, so nothing of a bad input is queued.
    static func validated<Event>(_ values: [JSONValue], as what: String, schema: JSONSchema, timeKey: String, now: Date,
                                 decode: (JSONValue) throws(WireDecodingError) -> Event) throws -> [Event] {
        var accepted: [Event] = []
        for (index, value) in values.enumerated() {
            let completed = fillingDefaults(value, timeKey: timeKey, now: now)
            let violations = schema.validate(completed)
            guard violations.isEmpty else {
                throw AgentError.invalidOutcome("\(what) \(index + 1): " + violations.map(\.description).joined(separator: "; "))
            }
            do {
                accepted.append(try decode(completed))
            } catch {
                throw AgentError.invalidOutcome("\(what) \(index + 1): \(error)")
            }
        }
        return accepted
    }

    /// An event may omit its id and its time (`timeKey`); the agent assigns them when it records.
    static func fillingDefaults(_ value: JSONValue, timeKey: String, now: Date) -> JSONValue {
        guard case var .object(members) = value else { return value }
        if !members.contains(where: { $0.key == "event_id" }) {
            members.insert(("event_id", .string(TimeOrderedUUID.make(at: now).uuidString.lowercased())), at: 0)
        }
        if !members.contains(where: { $0.key == timeKey }) {
            members.append((timeKey, .string(RFC3339.format(now))))
        }
        return .object(members)
    }

    // MARK: Upload

    public struct UploadReport: Sendable, Codable, Equatable {
        public var batchesAcknowledged = 0
        public var outcomesAcknowledged = 0
        /// Events the server refused inside accepted batches, e.g. outcomes without consent.
        public var eventsRefused = 0
        public var batchesSetAside = 0
        public var retries = 0
        public var remainingBatches = 0
        /// Every consent withdrawal this upload delivered, in the order acknowledged.
        public var withdrawals: [DeliveredWithdrawal] = []
        public var error: String?
        /// Why the certificate renewal tried before this upload failed (the upload went on with
        /// the current certificate); nil when none was due or it succeeded.
        public var certificateRenewalError: String?

        enum CodingKeys: String, CodingKey {
            case batchesAcknowledged = "batches_acknowledged", outcomesAcknowledged = "outcomes_acknowledged", eventsRefused = "events_refused"
            case batchesSetAside = "batches_set_aside", retries, remainingBatches = "remaining_batches", withdrawals, error
            case certificateRenewalError = "certificate_renewal_error"
        }
    }

    /// A withdrawal an upload delivered, on the kiosk's clock: how long the kiosk held it
    /// before sending, and how long the attempt that was acknowledged took. The server sends a
    /// receipt only after the commit that recorded the withdrawal and ran its erasure, so
    /// `receiptAt` is after that commit; the server's own time of it is the withdrawal's
    /// `blocked_at` (`faceloop compliance withdrawals`).
    public struct DeliveredWithdrawal: Sendable, Codable, Equatable {
        public var eventID: String
        public var sequence: Int64
        /// When `consent withdraw` (or `consent --stdin`) recorded it in the kiosk's queue.
        public var recordedAt: Date
        /// When the kiosk started sending the request that was acknowledged (signed, about to
        /// be written to the connection). A retry of a request whose answer was lost is
        /// acknowledged with the stored receipt, so then the commit came before this.
        public var sentAt: Date
        /// When that request's receipt had arrived.
        public var receiptAt: Date
        /// Attempts this upload made for the batch, the acknowledged one included.
        public var attempts: Int
        /// `sentAt − recordedAt`: the time the withdrawal waited on the kiosk (offline, or
        /// behind other batches, or between retries).
        public var queueDelayMilliseconds: Double
        /// `receiptAt − sentAt`.
        public var roundTripMilliseconds: Double

        enum CodingKeys: String, CodingKey {
            case eventID = "event_id", sequence, recordedAt = "recorded_at", sentAt = "sent_at", receiptAt = "receipt_at", attempts
            case queueDelayMilliseconds = "queue_delay_ms", roundTripMilliseconds = "round_trip_ms"
        }
    }

    public struct RetryPolicy: Sendable {
        public var maximumAttempts: Int
        public var initialDelay: Duration
        public var maximumDelay: Duration

        public init(maximumAttempts: Int = 8, initialDelay: Duration = .milliseconds(250), maximumDelay: Duration = .seconds(30)) {
            self.maximumAttempts = maximumAttempts
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
        }

        /// Exponential backoff with full jitter: uniform in [0, min(max, initial·2^attempt)].
        func delay(afterAttempt attempt: Int) -> Duration {
            let cap = min(maximumDelay, initialDelay * Int(1 << min(attempt, 20)))
            let ms = Double(cap.components.seconds) * 1000 + Double(cap.components.attoseconds) / 1e15
            return .milliseconds(Int(Double.random(in: 0...max(ms, 1))))
        }
    }

    /// Seals what is pending and uploads every sealed batch, oldest first. A batch is deleted
    /// only when its receipt names this device, its sequence and its digest. The certificate
    /// is renewed first when it is due (`renewCertificateIfDue`).
    /// `sealingPending: false` sends only what is sealed already (a re-keying does, before it
    /// rewrites what is pending).
    public func upload(batchSize: Int = 100, retry: RetryPolicy = RetryPolicy(), sealingPending: Bool = true) async throws -> UploadReport {
        let settings = try loadSettings()
        let queue = try openQueue()
        if sealingPending { try queue.seal(deviceID: settings.deviceID, batchSize: batchSize, at: Date()) }
        let signingKey = try loadSigningKey()
        let logger = self.logger
        var renewalError: String?
        if case let .failed(reason) = await renewCertificateIfDue() { renewalError = reason }
        return try await ServerTLS.withClient(try clientConfiguration()) { client in
            let uploader = BatchUploader(client: client, serverURL: settings.serverURL, deviceID: settings.deviceID,
                                         signingKey: signingKey, retry: retry, logger: logger)
            var report = UploadReport()
            report.certificateRenewalError = renewalError
            while true {
                let batches = try queue.sealedBatches(limit: 100)
                if batches.isEmpty { break }
                for batch in batches {
                    switch await uploader.send(batch, queue: queue, report: &report) {
                    case .acknowledged, .setAside: continue
                    case let .stop(reason):
                        report.error = reason
                        report.remainingBatches = try queue.status().sealedBatches
                        return report
                    }
                }
            }
            report.remainingBatches = try queue.status().sealedBatches
            return report
        }
    }

    func loadSigningKey() throws -> Curve25519.Signing.PrivateKey {
        guard let text = try? String(contentsOfFile: files.signingKey, encoding: .utf8),
              let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw AgentError.unreadable(files.signingKey, "missing or not base64")
        }
        return try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
    }

    /// The pinned CA and the kiosk's key and certificate, after completing any renewal whose
    /// answer is on disk (so the two always belong together).
    func clientConfiguration(readTimeout: Duration = ServerTLS.requestTimeout) throws -> HTTPClient.Configuration {
        try finishPendingRenewal()
        func read(_ path: String) throws -> String {
            do {
                return try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw AgentError.unreadable(path, error.localizedDescription)
            }
        }
        return try ServerTLS.clientConfiguration(caPEM: try read(files.caCertificate),
                                                 identity: (try read(files.certificate), try read(files.tlsKey)),
                                                 connectTimeout: connectTimeout, readTimeout: readTimeout)
    }
}
