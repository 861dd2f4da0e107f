import Crypto
import Feedback
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Storage

/// `POST /v1/outcomes`: a kiosk's signed batch, accepted only after it is committed.
struct OutcomeRoutes: Sendable {
    let store: any FeedbackStore
    let policy: UploadSignaturePolicy
    let peers: PeerCertificates
    let metrics: ServerMetrics
    let maximumBodyBytes: Int
    let now: @Sendable () -> Date

    func register(on router: Router<FeedbackRequestContext>) {
        router.post("/v1/outcomes") { request, context in
            try await self.receive(request, context: context)
        }
    }

    private func reject(_ type: ProblemType, _ detail: String? = nil, errors: [JSONSchemaViolation]? = nil,
                        events: Int? = nil) -> ProblemResponse {
        metrics.batchRejected(type, events: events)
        return ProblemResponse(type, detail, errors: errors)
    }

    func receive(_ request: Request, context: FeedbackRequestContext) async throws -> Response {
        guard let fingerprint = try await peers.fingerprint(of: context.channel) else {
            throw reject(.clientCertificateRequired, "connect with the certificate issued to this kiosk at enrollment")
        }
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw reject(.unsupportedMediaType, "send the batch as application/json")
        }
        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: maximumBodyBytes)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw reject(.bodyTooLarge, "the limit is \(maximumBodyBytes) bytes; send smaller batches")
        }

        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let parts = SignedRequestParts(method: request.method.rawValue, path: request.uri.path,
                                       authority: request.head.authority ?? "", headers: headers)
        let receivedAt = now()
        let pending: UploadSignaturePolicy.PendingSignature
        do {
            pending = try policy.precheck(request: parts, body: body, now: receivedAt)
        } catch {
            throw reject(error.problem, error.detail)
        }
        guard let device = try await store.device(id: pending.keyID) else {
            throw reject(.unknownDevice, "no device is enrolled under keyid \"\(pending.keyID)\"")
        }
        guard device.status == .active else {
            throw reject(.deviceRevoked, "device \(device.deviceID) was revoked; enroll it again")
        }
        guard let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: device.signingKey) else {
            throw reject(.internalError, "the stored signing key of \(device.deviceID) is unreadable")
        }
        do {
            try policy.verify(pending, request: parts, publicKey: publicKey)
        } catch {
            throw reject(error.problem, error.detail)
        }
        guard fingerprint == device.certificateFingerprint else {
            throw reject(.clientCertificateMismatch, "the TLS client certificate is not the one issued to \(device.deviceID)")
        }

        let batch: OutcomeBatch
        switch OutcomeBatchValidator.shared.decode(body) {
        case let .success(decoded):
            batch = decoded
        case let .failure(.malformedJSON(error)):
            throw reject(.malformedJSON, error.description)
        case let .failure(.schema(violations)):
            throw reject(.schemaViolation, "\(violations.count) field(s) do not match outcome-batch.schema.json",
                         errors: violations)
        }
        guard batch.deviceID == device.deviceID else {
            throw reject(.deviceMismatch, "the batch names \(batch.deviceID) but was signed by \(device.deviceID)",
                         events: batch.outcomes.count)
        }

        let digest = ContentDigest.sha256Field(for: body)
        let receipt = BatchReceipt(batchID: UUID(), deviceID: batch.deviceID, sequence: batch.sequence,
                                   contentDigest: digest, acceptedEvents: batch.outcomes.count, storedAt: receivedAt)
        let receiptBytes = [UInt8](try WireJSON.encoder().encode(receipt))
        let incoming = IncomingBatch(batch: batch, body: body, contentDigest: digest,
                                     signatureInput: headers["signature-input"] ?? "", signature: headers["signature"] ?? "",
                                     nonce: pending.nonce, receivedAt: receivedAt, receipt: receipt, receiptBytes: receiptBytes)
        switch try await store.storeBatch(incoming) {
        case let .stored(bytes):
            metrics.batchAccepted(events: batch.outcomes.count, replay: false)
            return Self.receiptResponse(bytes, status: .accepted)
        case let .alreadyStored(bytes):
            metrics.batchAccepted(events: batch.outcomes.count, replay: true)
            return Self.receiptResponse(bytes, status: .ok)
        case .sequenceConflict:
            throw reject(.sequenceConflict, "sequence \(batch.sequence) of \(batch.deviceID) was stored with different content",
                         events: batch.outcomes.count)
        case let .duplicateEvent(eventID):
            throw reject(.duplicateEvent, "event \(eventID.uuidString.lowercased()) is already stored", events: batch.outcomes.count)
        case .nonceReplayed:
            throw reject(.nonceReplayed, "sign every request with a fresh nonce", events: batch.outcomes.count)
        }
    }

    static func receiptResponse(_ bytes: [UInt8], status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
